"""What every model runtime shares (Keras in fer.classifier, ONNX Runtime / LiteRT in fer.exported); no TensorFlow."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from fer.config import ModelConfig
from fer.preprocessing import center_crop, preprocess_faces


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits do not overflow."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class FrameModel:
    """A model of face frames described by `self.config`: labels, shapes, the one preprocessing, batching.

    Subclasses provide predict_proba(frames, tta=None, temperature=None) and logits(frames, tta=None).
    """

    config: ModelConfig

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """What the network takes (the centre of the frame when crop_pct < 1)."""
        return tuple(self.config.input_shape)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """What preprocess() returns and logits() / predict_proba() take."""
        return tuple(self.config.frame_shape)

    def preprocess(self, faces: Iterable[np.ndarray], color_order: str = "rgb") -> np.ndarray:
        """Face crops -> (N, *frame_shape) uint8 frames with the shared preprocess_faces()."""
        return preprocess_faces(faces, self.config.frame_shape, color_order)

    def network_inputs(self, frames: np.ndarray) -> np.ndarray:
        """The centre view of each frame: what the network itself sees without TTA (for explanations)."""
        return center_crop(np.asarray(frames), self.config.input_shape)

    def predict_proba(self, frames: np.ndarray, tta: str | None = None,
                      temperature: float | None = None) -> np.ndarray:
        raise NotImplementedError

    def predict_in_batches(self, frames: np.ndarray, batch_size: int = 256, **kwargs) -> np.ndarray:
        """predict_proba over a large array (e.g. a test split), a batch at a time."""
        parts = [self.predict_proba(frames[i:i + batch_size], **kwargs) for i in range(0, len(frames), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.num_classes), np.float32)

    def check_frames(self, frames: np.ndarray) -> np.ndarray:
        """A batch of frames as float32, or ValueError naming the expected shape."""
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        if frames.ndim != 4 or list(frames.shape[1:]) != self.config.frame_shape:
            raise ValueError(f"expected a batch of frames of shape (N, {', '.join(map(str, self.config.frame_shape))}), "
                             f"got {frames.shape}")
        return frames
