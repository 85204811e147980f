"""The Keras runtime: EmotionModel (a loaded network with its config and the batched inference every caller
shares) and the model folder (model.keras + config.json), the only way models are written and read.

Callers hand it *face inputs* (preprocess() output: the face at config.face_input_shape, raw 0..255 pixels).
The views the network sees (center crop, mirror, ten crops) and their averaging are one Keras graph per
test-time augmentation mode, built by serving_model(): the same graph the exports write out.
It runs on any Keras backend; TensorFlow is imported only when it is the backend (training on JAX or torch
evaluates with this class on hosts without TensorFlow).
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
from keras import layers, ops

from fer.model.config import CONFIG_FILE, MODEL_FILE, ModelConfig
from fer.errors import ModelSourceError
from fer.runtime.base import FaceModel, softmax, view_offsets


@keras.saving.register_keras_serializable(package="fer")
class TestTimeViews(layers.Layer):
    """(B, frame) -> (V * B, input): the crops and mirrors of view_offsets(), stacked view by view."""

    def __init__(self, offsets: Sequence[Sequence], size: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.offsets = [(int(t), int(left), bool(m)) for t, left, m in offsets]
        self.size = (int(size[0]), int(size[1]))

    def call(self, face_inputs):
        height, width = self.size
        views = []
        for top, left, mirrored in self.offsets:
            view = face_inputs[:, top:top + height, left:left + width, :]
            views.append(ops.flip(view, axis=2) if mirrored else view)
        return views[0] if len(views) == 1 else ops.concatenate(views, axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *self.size, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "offsets": [list(o) for o in self.offsets], "size": list(self.size)}


@keras.saving.register_keras_serializable(package="fer")
class AverageViews(layers.Layer):
    """(V * B, C) logits of the stacked views -> (B, C) mean logits."""

    def __init__(self, views: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.views = int(views)

    def call(self, logits):
        if self.views == 1:
            return logits
        return ops.mean(ops.reshape(logits, (self.views, -1, ops.shape(logits)[-1])), axis=0)

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "views": self.views}


def build_serving_model(network: keras.Model, config: ModelConfig, tta: str, probabilities: bool = True) -> keras.Model:
    """Frames (raw 0..255, config.face_input_shape) -> calibrated probabilities (or mean logits), TTA inside.

    This graph is the product's inference: EmotionModel runs it and the exports write it out.
    """
    offsets = view_offsets(config, tta)
    face_inputs = keras.Input(shape=tuple(config.face_input_shape), name="frames")  # export.INPUT_NAME
    views = TestTimeViews(offsets, config.input_shape[:2], name="tta_views")(face_inputs)
    logits = AverageViews(len(offsets), name="tta_mean")(network(views))
    if not probabilities:
        return keras.Model(face_inputs, logits, name=f"serving_{tta}_logits")
    scaled = layers.Rescaling(1.0 / config.temperature, name="temperature")(logits)
    return keras.Model(face_inputs, layers.Softmax(name="probabilities")(scaled), name=f"serving_{tta}")


def _compiled(graph: keras.Model, face_input_shape: Sequence[int]) -> Callable[[np.ndarray], np.ndarray]:
    """graph as a numpy -> numpy function compiled once. On TensorFlow, a tf.function with a fixed signature (any
    batch size): one trace, not one per number of faces, and ~2x faster than predict_on_batch at batch 1-4.
    Elsewhere predict_on_batch, which the backend compiles (JAX: once per batch size)."""
    if keras.backend.backend() != "tensorflow":
        return graph.predict_on_batch
    import tensorflow as tf

    signature = [tf.TensorSpec(shape=(None, *face_input_shape), dtype=tf.float32)]
    function = tf.function(lambda x: graph(x, training=False), input_signature=signature)
    return lambda face_inputs: function(tf.constant(face_inputs)).numpy()


class EmotionModel(FaceModel):
    """Wraps a keras model whose output is logits; probabilities use the config's temperature and TTA.

    labels, input_shape, face_input_shape, preprocess(), network_inputs() and predict_in_batches() come from
    fer.runtime.base.FaceModel, which the exported (ONNX / LiteRT) models share.
    """

    def __init__(self, model: keras.Model, config: ModelConfig, source: str = "") -> None:
        self.model, self.config, self.source = model, config, source
        self._logit_functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        # The app's worker threads share one model: without the lock, their first concurrent calls each built
        # and traced their own graph (TensorFlow's retracing warnings under load, and wasted seconds).
        self._building = threading.Lock()

    def _logit_function(self, tta: str) -> Callable[[np.ndarray], np.ndarray]:
        function = self._logit_functions.get(tta)
        if function is None:
            with self._building:
                function = self._logit_functions.get(tta)
                if function is None:
                    graph = build_serving_model(self.model, self.config, tta, probabilities=False)
                    function = _compiled(graph, self.config.face_input_shape)
                    self._logit_functions[tta] = function
        return function

    def logits(self, face_inputs: np.ndarray, tta: str | None = None) -> np.ndarray:
        """Mean logits over the TTA views (config.tta unless given) for a batch of face inputs, one model call."""
        face_inputs = self.check_face_inputs(face_inputs)
        if face_inputs.shape[0] == 0:
            return np.zeros((0, self.config.num_classes), dtype=np.float32)
        return self._logit_function(tta or self.config.tta)(face_inputs)

    def predict_proba(self, face_inputs: np.ndarray, tta: str | None = None,
                      temperature: float | None = None) -> np.ndarray:
        """Calibrated probabilities (N, num_classes) for a batch of face inputs."""
        temperature = self.config.temperature if temperature is None else temperature
        return softmax(self.logits(face_inputs, tta) / temperature)

    def serving_model(self, tta: str | None = None) -> keras.Model:
        """The Keras graph face inputs -> probabilities (TTA, temperature and softmax inside), e.g. to export."""
        return build_serving_model(self.model, self.config, tta or self.config.tta)


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
