"""The Private mode tab: a link to the page (web/) that runs the webcam pipeline in the visitor's browser, served by
the app at /private/ once `make web` has prepared it."""

from __future__ import annotations

import gradio as gr

from serve import private_mode
from serve.settings import PRIVATE_MODE_PATH, WEB_DIR

PRIVATE_MODE_NOTE = f"""\
**<a href=".{PRIVATE_MODE_PATH}/" target="_blank">Open private mode</a>**: the webcam analysis running entirely in
your browser. Face detection (YuNet) and the expression model run on your device with ONNX Runtime Web; camera
frames are never sent to this server, and once loaded the page keeps working offline. It is the same pipeline as the
Webcam tab (same model, detector settings, alignment, crops and TTA; smoothed probabilities), with a Grad-CAM strip
for models that end in global average pooling (the live model).
"""
PRIVATE_MODE_MISSING = """\
**Private mode is not available on this server**: its page has not been prepared (`make web`, or
`python -m web.prepare`, on the server). The Webcam tab analyses frames on this server instead.
"""


def tab() -> None:
    ready = private_mode.is_prepared(WEB_DIR)  # checked when the page is built
    gr.Markdown(PRIVATE_MODE_NOTE if ready else PRIVATE_MODE_MISSING, elem_id="private-mode")


def routes() -> list:
    return private_mode.routes(WEB_DIR, PRIVATE_MODE_PATH)
