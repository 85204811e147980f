"""What every tab shares: the loaded models (one EngineCache, replaced by app.main with the command-line
settings), the model card and the messages shown to the visitor."""

from __future__ import annotations

import html

import gradio as gr

from fer.errors import FerError
from fer.explain import DEFAULT_METHOD
from fer.model.sources import bundled_models
from serve.engine import Engine, EngineCache

ENGINES = EngineCache()  # app.main() replaces it with one holding the command-line settings


def get_engine(source: str | None = None) -> Engine:
    """The cached Engine for a model source (blank: the default), loaded on first use; FerError if it cannot be."""
    return ENGINES.get(source)


def default_model_source() -> str:
    """--model, else the FER_MODEL environment variable, else the bundled default model."""
    return ENGINES.default_source()


def default_explanation_method() -> str:
    """The default model's own default method (chosen by its card's faithfulness table), read from its config."""
    from fer.model.config import CONFIG_FILE, ModelConfig
    from fer.model.sources import resolve_source

    try:
        return ModelConfig.load(resolve_source(default_model_source()) / CONFIG_FILE).explanation_method
    except FerError:
        return DEFAULT_METHOD


def model_choices() -> list[str]:
    choices, default = bundled_models(), default_model_source()
    return choices if default in choices else [default, *choices]


def engine_or_warn(source: str | None) -> Engine | None:
    """get_engine(), or None after telling the visitor why the model cannot be loaded."""
    try:
        return get_engine(source)
    except FerError as error:
        warn(f"Cannot load the model: {error}")
        return None


def model_card(source: str | None) -> str:
    """Markdown with the model's labels, input size, detector and card figures (accuracy and split)."""
    try:
        return get_engine(source).card()
    except FerError as error:
        warn(f"Cannot load the model: {error}")
        return f"**Model not loaded:** {html.escape(str(error))}"


def warn(message: str) -> None:
    gr.Warning(html.escape(message, quote=False))  # the page renders messages as HTML


def info(message: str) -> None:
    gr.Info(html.escape(message, quote=False))
