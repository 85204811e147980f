"""EmotionModel: a loaded network with its config, and the batched inference every caller shares.

Callers hand it face *frames* (preprocess() output: the face at config.frame_shape, raw 0..255 pixels).
The views the network sees (centre crop, mirror, ten crops) and their averaging are one Keras graph per
test-time augmentation mode, built by serving_model(): the same graph the exports write out.
It runs on any Keras backend; TensorFlow is imported only when it is the backend (training on JAX or torch
evaluates with this class on hosts without TensorFlow).
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import keras
import numpy as np
from keras import layers, ops

from fer.config import ModelConfig
from fer.inference import FrameModel, softmax, view_offsets


@keras.saving.register_keras_serializable(package="fer")
class TestTimeViews(layers.Layer):
    """(B, frame) -> (V * B, input): the crops and mirrors of view_offsets(), stacked view by view."""

    def __init__(self, offsets: Sequence[Sequence], size: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.offsets = [(int(t), int(left), bool(m)) for t, left, m in offsets]
        self.size = (int(size[0]), int(size[1]))

    def call(self, frames):
        height, width = self.size
        views = []
        for top, left, mirrored in self.offsets:
            view = frames[:, top:top + height, left:left + width, :]
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
    """Frames (raw 0..255, config.frame_shape) -> calibrated probabilities (or mean logits), TTA inside.

    This graph is the product's inference: EmotionModel runs it and the exports write it out.
    """
    offsets = view_offsets(config, tta)
    frames = keras.Input(shape=tuple(config.frame_shape), name="frames")
    views = TestTimeViews(offsets, config.input_shape[:2], name="tta_views")(frames)
    logits = AverageViews(len(offsets), name="tta_mean")(network(views))
    if not probabilities:
        return keras.Model(frames, logits, name=f"serving_{tta}_logits")
    scaled = layers.Rescaling(1.0 / config.temperature, name="temperature")(logits)
    return keras.Model(frames, layers.Softmax(name="probabilities")(scaled), name=f"serving_{tta}")


def _compiled(graph: keras.Model, frame_shape: Sequence[int]) -> Callable[[np.ndarray], np.ndarray]:
    """graph as a numpy -> numpy function compiled once. On TensorFlow, a tf.function with a fixed signature (any
    batch size): one trace, not one per number of faces, and ~2x faster than predict_on_batch at batch 1-4.
    Elsewhere predict_on_batch, which the backend compiles (JAX: once per batch size)."""
    if keras.backend.backend() != "tensorflow":
        return graph.predict_on_batch
    import tensorflow as tf

    signature = [tf.TensorSpec(shape=(None, *frame_shape), dtype=tf.float32)]
    function = tf.function(lambda x: graph(x, training=False), input_signature=signature)
    return lambda frames: function(tf.constant(frames)).numpy()


class EmotionModel(FrameModel):
    """Wraps a keras model whose output is logits; probabilities use the config's temperature and TTA.

    labels, input_shape, frame_shape, preprocess(), network_inputs() and predict_in_batches() come from
    fer.inference.FrameModel, which the exported (ONNX / LiteRT) models share.
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
                    function = _compiled(graph, self.config.frame_shape)
                    self._logit_functions[tta] = function
        return function

    def logits(self, frames: np.ndarray, tta: str | None = None) -> np.ndarray:
        """Mean logits over the TTA views (config.tta unless given) for a batch of frames, one model call."""
        frames = self.check_frames(frames)
        if frames.shape[0] == 0:
            return np.zeros((0, self.config.num_classes), dtype=np.float32)
        return self._logit_function(tta or self.config.tta)(frames)

    def predict_proba(self, frames: np.ndarray, tta: str | None = None,
                      temperature: float | None = None) -> np.ndarray:
        """Calibrated probabilities (N, num_classes) for a batch of frames."""
        temperature = self.config.temperature if temperature is None else temperature
        return softmax(self.logits(frames, tta) / temperature)

    def serving_model(self, tta: str | None = None) -> keras.Model:
        """The Keras graph frames -> probabilities (TTA, temperature and softmax inside), e.g. to export."""
        return build_serving_model(self.model, self.config, tta or self.config.tta)

