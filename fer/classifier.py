"""EmotionModel: a loaded network with its config, and the batched inference every caller shares."""

from __future__ import annotations

from typing import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from fer.config import ModelConfig
from fer.preprocessing import preprocess_faces


class EmotionModel:
    """Wraps a keras model whose output is logits; probabilities use the config's temperature and TTA."""

    def __init__(self, model: keras.Model, config: ModelConfig, source: str = "") -> None:
        self.model, self.config, self.source = model, config, source
        signature = [tf.TensorSpec(shape=(None, *config.input_shape), dtype=tf.float32)]
        # A fixed signature (any batch size) means one trace, not one per number of faces.
        self._logits = tf.function(lambda x: model(x, training=False), input_signature=signature)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.input_shape)

    def preprocess(self, faces: Iterable[np.ndarray], color_order: str = "rgb") -> np.ndarray:
        """Face crops -> (N, H, W, C) uint8 batch with the shared preprocess_face()."""
        return preprocess_faces(faces, self.config.input_shape, color_order, self.config.crop_pct)

    def logits(self, batch: np.ndarray, flip_tta: bool | None = None) -> np.ndarray:
        """Logits for a preprocessed batch in one model call; with flip TTA the mirrored faces ride along."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or list(batch.shape[1:]) != self.config.input_shape:
            raise ValueError(f"expected a batch of shape (N, {', '.join(map(str, self.config.input_shape))}), "
                             f"got {batch.shape}")
        count = batch.shape[0]
        if count == 0:
            return np.zeros((0, self.config.num_classes), dtype=np.float32)
        use_tta = self.config.flip_tta if flip_tta is None else flip_tta
        if use_tta:
            batch = np.concatenate([batch, batch[:, :, ::-1, :]])
        logits = self._logits(tf.constant(batch)).numpy()
        if use_tta:
            logits = (logits[:count] + logits[count:]) / 2.0
        return logits

    def predict_proba(self, batch: np.ndarray, flip_tta: bool | None = None,
                      temperature: float | None = None) -> np.ndarray:
        """Calibrated probabilities (N, num_classes) for a preprocessed batch."""
        temperature = self.config.temperature if temperature is None else temperature
        return softmax(self.logits(batch, flip_tta) / temperature)

    def predict_in_batches(self, images: np.ndarray, batch_size: int = 256, **kwargs) -> np.ndarray:
        """predict_proba over a large array (e.g. a test split), a batch at a time."""
        parts = [self.predict_proba(images[i:i + batch_size], **kwargs) for i in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.num_classes), np.float32)

    def warm_up(self, batch_sizes: Sequence[int] = (1, 4)) -> None:
        """Run the graph once so the first real request does not pay for tracing."""
        for size in batch_sizes:
            self.predict_proba(np.zeros((size, *self.config.input_shape), np.uint8))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
