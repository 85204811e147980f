"""Gradio adapters for the app: handlers that return outputs by name, readable upload errors, a local launch."""

from __future__ import annotations

import functools
import html
import os
from pathlib import Path
from typing import Any, Callable

import gradio as gr
from PIL import Image, UnidentifiedImageError


def keyed(handler: Callable[..., dict[str, Any]], components: dict[str, Any]) -> Callable[..., dict]:
    """Adapt a handler that returns {output name: value} to Gradio's {component: value}.

    The handler stays testable without a page, and its outputs are named rather than positional.
    """
    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        return {components[name]: value for name, value in handler(*args, **kwargs).items()}
    return wrapper


def readable_upload_errors(component: gr.Image) -> gr.Image:
    """Make an image input answer unreadable uploads with a clear message instead of a bare "Error".

    gr.Image opens uploads with PIL before any handler runs; wrapping this instance's preprocess (not a
    subclass, which makes Gradio write a .pyi stub next to the subclass's module) keeps it local.
    """
    preprocess = component.preprocess

    def checked_preprocess(payload):
        try:
            return preprocess(payload)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
            name = Path(payload.orig_name).name if payload is not None and payload.orig_name else "This file"
            reason = "it is too large" if isinstance(error, Image.DecompressionBombError) else "it is not an image"
            # The page renders messages as HTML, and the file name is the visitor's.
            raise gr.Error(html.escape(f"{name} cannot be read as a photo: {reason}. Try a JPEG or PNG file.",
                                       quote=False)) from None

    component.preprocess = checked_preprocess
    return component


def bypass_proxy_for_localhost() -> None:
    """Gradio checks its own URL after launch; behind an HTTP proxy that check must not go through it."""
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        os.environ[name] = ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])
