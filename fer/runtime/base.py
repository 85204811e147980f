"""What every model runtime shares (Keras in fer.runtime.keras, ONNX Runtime in fer.runtime.onnx, exports in
fer.runtime.export): the test-time views and the batching; no TensorFlow."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from fer.model.config import TTA_MODES, ModelConfig
from fer.model.preprocessing import center_crop, preprocess_faces


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits do not overflow."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def view_offsets(config: ModelConfig, tta: str) -> list[tuple[int, int, bool]]:
    """(top, left, mirrored) of each view of the frame that the network sees under `tta`."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    frame_h, frame_w, _ = config.face_input_shape
    height, width, _ = config.input_shape
    center = ((frame_h - height) // 2, (frame_w - width) // 2)
    if tta == "none":
        return [(*center, False)]
    if tta == "flip":
        return [(*center, False), (*center, True)]
    if config.crop_pct == 1.0:
        raise ValueError("ten_crop needs a model trained on crops of a larger frame (crop_pct < 1)")
    corners = [(0, 0), (0, frame_w - width), (frame_h - height, 0), (frame_h - height, frame_w - width), center]
    return [(top, left, mirrored) for top, left in corners for mirrored in (False, True)]


def test_time_views(face_inputs: np.ndarray, config: ModelConfig, tta: str) -> np.ndarray:
    """(N, frame) -> (V * N, input): the views of view_offsets() stacked view by view, as the Keras serving
    graph's TestTimeViews layer stacks them, so every face and view of a frame goes through one network call."""
    height, width, _ = config.input_shape
    views = []
    for top, left, mirrored in view_offsets(config, tta):
        view = face_inputs[:, top:top + height, left:left + width, :]
        views.append(view[:, :, ::-1, :] if mirrored else view)
    return np.ascontiguousarray(np.concatenate(views, axis=0) if len(views) > 1 else views[0])


def average_views(logits: np.ndarray, views: int) -> np.ndarray:
    """(V * N, C) logits of stacked views -> (N, C) mean logits."""
    return logits.reshape(views, -1, logits.shape[-1]).mean(axis=0) if views > 1 else logits


class FaceModel:
    """A model of face inputs described by `self.config`: labels, shapes, the one preprocessing, batching.

    Subclasses provide predict_proba(face_inputs, tta=None, temperature=None) and logits(face_inputs, tta=None).
    """

    config: ModelConfig

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """What the network takes (the center of the frame when crop_pct < 1)."""
        return tuple(self.config.input_shape)

    @property
    def face_input_shape(self) -> tuple[int, int, int]:
        """What preprocess() returns and logits() / predict_proba() take."""
        return tuple(self.config.face_input_shape)

    def preprocess(self, faces: Iterable[np.ndarray], color_order: str = "rgb") -> np.ndarray:
        """Face crops -> (N, *face_input_shape) uint8 face inputs with the shared preprocess_faces()."""
        return preprocess_faces(faces, self.config.face_input_shape, color_order)

    def network_inputs(self, face_inputs: np.ndarray) -> np.ndarray:
        """The center view of each frame: what the network itself sees without TTA (for explanations)."""
        return center_crop(np.asarray(face_inputs), self.config.input_shape)

    def predict_proba(self, face_inputs: np.ndarray, tta: str | None = None,
                      temperature: float | None = None) -> np.ndarray:
        raise NotImplementedError

    def predict_in_batches(self, face_inputs: np.ndarray, batch_size: int = 256, **kwargs) -> np.ndarray:
        """predict_proba over a large array (e.g. a test split), a batch at a time. `batch_size` counts network
        inputs, each face's test-time views included: ten crops of 256 faces of a ResNet50 at 96 px would hold
        over 10 GB of activations at once."""
        views = len(view_offsets(self.config, kwargs.get("tta") or self.config.tta))
        step = max(1, batch_size // views)
        parts = [self.predict_proba(face_inputs[i:i + step], **kwargs) for i in range(0, len(face_inputs), step)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.num_classes), np.float32)

    def warm_up(self, batch_sizes: Sequence[int] = (1, 4), modes: Sequence[str] | None = None) -> None:
        """Run each mode (default: the config's and the webcam's flip) once per batch size, so the first real
        request does not pay for building or tracing."""
        for tta in modes or {self.config.tta, "flip"}:
            if tta == "ten_crop" and self.config.crop_pct == 1.0:
                continue
            for size in batch_sizes:
                self.predict_proba(np.zeros((size, *self.config.face_input_shape), np.uint8), tta=tta)

    def check_face_inputs(self, face_inputs: np.ndarray) -> np.ndarray:
        """A batch of face inputs as float32, or ValueError naming the expected shape."""
        face_inputs = np.ascontiguousarray(face_inputs, dtype=np.float32)
        if face_inputs.ndim != 4 or list(face_inputs.shape[1:]) != self.config.face_input_shape:
            raise ValueError(f"expected a batch of face inputs of shape (N, {', '.join(map(str, self.config.face_input_shape))}), "
                             f"got {face_inputs.shape}")
        return face_inputs


FrameModel = FaceModel  # its 0.2 name, kept for one release
