"""Recognizer: image -> faces (detected, aligned) -> one batched model call -> per-face emotion probabilities.

The one pipeline behind the library, the CLI, the app and the benchmarks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer.faces import (Box, DetectionSettings, Face, FaceDetector, detector_name, face_crop, find_faces,
                       make_detector)
from fer.model.sources import DEFAULT_MODEL, load_model
from fer.images import load_image
from fer.model.preprocessing import standardize_image

if TYPE_CHECKING:  # fer.runtime.keras imports TensorFlow; an exported model (fer.runtime.export) runs without it
    from fer.runtime.keras import EmotionModel
    from fer.runtime.export import ExportedModel


@dataclasses.dataclass(frozen=True)
class FacePrediction:
    """One face: where it is, its landmarks (YuNet) and the probability of each label."""

    box: Box
    probabilities: dict[str, float]
    landmarks: tuple[tuple[float, float], ...] | None = None
    detection_score: float = 1.0

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def score(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        """The PyPI `fer` package's shape {"box": [x, y, w, h], "emotions": {label: p}}, plus landmarks."""
        result: dict[str, Any] = {"box": self.box.to_list(), "emotions": dict(self.probabilities)}
        if self.landmarks is not None:
            result["landmarks"] = [[round(x, 1), round(y, 1)] for x, y in self.landmarks]
        return result


@dataclasses.dataclass
class FrameAnalysis:
    """Everything one frame's analysis produced, for callers that draw, explain or export it."""

    faces: list[FacePrediction]
    probabilities: np.ndarray  # (kept, num_classes), rows in the order of `faces`
    crops: list[np.ndarray]  # the aligned square face crops the model saw (before resizing)
    inputs: np.ndarray  # (kept, *face_input_shape) uint8: the model's inputs, from the shared preprocess_face()
    found: int  # faces the detector found; `kept` may be fewer (max_faces)
    labels: tuple[str, ...]

    @property
    def kept(self) -> int:
        return len(self.faces)

    @property
    def boxes(self) -> list[Box]:
        return [face.box for face in self.faces]


class Recognizer:
    """Finds faces and classifies their expressions with one model call per image.

    model: a loaded model (EmotionModel, or ExportedModel for an ONNX / LiteRT export) or any source
        load_model() accepts (folder, export folder, bundled name, hf://...).
    detector: "yunet" (default), "haar" or any object with detect(RGB image) -> list[Face].
    align: rotate each face so its eyes are level (needs landmarks, i.e. YuNet).
    tta: test-time augmentation ("none", "flip", "ten_crop"; None: the model's config).
    max_side / pad / max_faces / min_face_size: see fer.faces.DetectionSettings (None: the detector's default).
    """

    def __init__(self, model: EmotionModel | ExportedModel | str | Path = DEFAULT_MODEL,
                 detector: str | FaceDetector | None = None, max_faces: int | None = None, align: bool = True, tta: str | None = None,
                 max_side: int | None = None, pad: float | None = None, min_face_size: int | None = None) -> None:
        self.model = model if hasattr(model, "predict_proba") else load_model(model)
        self.detector = make_detector(detector)
        # Unset knobs keep the detector's measured defaults (DetectionSettings.for_detector), kept in one place.
        self.settings = DetectionSettings.for_detector(self.detector, max_side=max_side, pad=pad,
                                                       min_face_size=min_face_size, max_faces=max_faces)
        self.align, self.tta = align, tta

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    @property
    def detector_name(self) -> str:
        return detector_name(self.detector)

    @property
    def max_faces(self) -> int | None:
        return self.settings.max_faces

    def read(self, image: Any, color_order: str = "rgb") -> np.ndarray:
        """Path / bytes / PIL / array -> standardized uint8 (H, W, 1|3) RGB or grey."""
        return standardize_image(load_image(image), color_order)

    def detect(self, frame: np.ndarray) -> tuple[list[Face], int]:
        """The kept faces of a standardized frame and how many the detector found."""
        return find_faces(frame, self.detector, self.settings)

    def crops(self, frame: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        margin = self.model.config.face_margin
        return [face_crop(frame, face, margin, self.align) for face in faces]

    def analyze_frame(self, frame: np.ndarray, tta: str | None = None) -> FrameAnalysis:
        faces, found = self.detect(frame)
        return self.classify_faces(frame, faces, found, tta)

    def classify_faces(self, frame: np.ndarray, faces: list[Face], found: int | None = None,
                       tta: str | None = None) -> FrameAnalysis:
        """Crop, preprocess and classify given faces of a standardized frame in one model call (faces from
        elsewhere, e.g. a caller's boxes, are not aligned unless they carry landmarks)."""
        found = len(faces) if found is None else found
        crops = self.crops(frame, faces)
        inputs = self.model.preprocess(crops)
        probabilities = self.model.predict_proba(inputs, tta=tta or self.tta)
        predictions = [
            FacePrediction(face.box, {label: float(p) for label, p in zip(self.labels, row)}, face.landmarks,
                           face.score)
            for face, row in zip(faces, probabilities)
        ]
        return FrameAnalysis(predictions, probabilities, crops, inputs, found, self.labels)

    def analyze(self, image: Any, color_order: str = "rgb", tta: str | None = None) -> FrameAnalysis:
        """Read any image and analyze it (see FrameAnalysis)."""
        return self.analyze_frame(self.read(image, color_order), tta)

    def predict_frame(self, frame: np.ndarray, tta: str | None = None) -> list[FacePrediction]:
        return self.analyze_frame(frame, tta).faces

    def predict(self, image: Any, color_order: str = "rgb", tta: str | None = None) -> list[FacePrediction]:
        """Every face in the image with its probabilities; an image without faces gives []."""
        return self.analyze(image, color_order, tta).faces
