"""The model folder (model.keras + config.json): the only way models are written and read."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras

from fer.config import CONFIG_FILE, MODEL_FILE, ModelConfig
from fer.errors import ModelSourceError

__all__ = ["CONFIG_FILE", "MODEL_FILE", "save_model_folder", "load_model_folder", "check_model_matches_config"]


def save_model_folder(model: keras.Model, config: ModelConfig, folder: str | Path) -> Path:
    """Write `model.keras` (weights and graph, no optimizer) and `config.json` into `folder`."""
    folder = Path(folder)
    check_model_matches_config(model, config, folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Write to temporary names then rename, so a crash never leaves a half-written model folder.
    model_tmp, config_tmp = folder / (MODEL_FILE + ".tmp.keras"), folder / (CONFIG_FILE + ".tmp")
    _without_optimizer(model).save(model_tmp)
    config.save(config_tmp)
    os.replace(model_tmp, folder / MODEL_FILE)
    os.replace(config_tmp, folder / CONFIG_FILE)
    return folder


def _without_optimizer(model: keras.Model) -> keras.Model:
    """A weight-sharing-free copy with no optimizer: Keras 3 stores a compiled model's optimizer state
    (momentum: as large as the weights) in .keras files and ignores include_optimizer."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def check_model_matches_config(model: keras.Model, config: ModelConfig, where: str | Path) -> None:
    """Raise ModelSourceError when the network and its config disagree."""
    output_size = model.outputs[0].shape[-1]
    if output_size != config.num_classes:
        raise ModelSourceError(
            f"{where}: config.json lists {config.num_classes} labels but the model outputs {output_size} values"
        )
    model_input = list(model.inputs[0].shape[1:])
    if model_input != config.input_shape:
        raise ModelSourceError(f"{where}: config.json input_shape {config.input_shape} but the model takes {model_input}")
    try:
        model.get_layer(config.last_conv_layer)
    except ValueError:
        raise ModelSourceError(f"{where}: last_conv_layer {config.last_conv_layer!r} is not a layer of the model") from None


def load_model_folder(folder: str | Path) -> tuple[keras.Model, ModelConfig]:
    """Read a model folder with Keras safe_mode=True (no arbitrary code) and check it against its config."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelSourceError(f"{folder}: model folder not found")
    model_path = folder / MODEL_FILE
    if not model_path.is_file():
        raise ModelSourceError(f"{folder}: no {MODEL_FILE} in the model folder")
    config = ModelConfig.load(folder / CONFIG_FILE)
    if not zipfile.is_zipfile(model_path):
        raise ModelSourceError(f"{model_path}: not a Keras .keras archive")
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types here; all mean "this file is not loadable".
        raise ModelSourceError(f"{model_path}: cannot load model ({type(error).__name__}: {error})") from None
    check_model_matches_config(model, config, folder)
    return model, config
