"""Recognizer: image -> detected faces -> one batched model call -> per-face emotion probabilities."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from fer.classifier import EmotionModel
from fer.faces import Box, FaceDetector, HaarFaceDetector, largest_boxes
from fer.hub import DEFAULT_MODEL, load_model
from fer.images import load_image
from fer.preprocessing import standardize_image, to_grey


@dataclasses.dataclass(frozen=True)
class FacePrediction:
    """One face: where it is and the probability of each label."""

    box: Box
    probabilities: dict[str, float]

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def score(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        """The shape the PyPI `fer` package returns: {"box": [x, y, w, h], "emotions": {label: p}}."""
        return {"box": self.box.to_list(), "emotions": dict(self.probabilities)}


class Recognizer:
    """Finds faces and classifies their expressions with one model call per image.

    `model` is an EmotionModel or any source load_model() accepts (folder, bundled name, hf://...).
    """

    def __init__(self, model: EmotionModel | str | Path = DEFAULT_MODEL, detector: FaceDetector | None = None,
                 max_faces: int | None = None) -> None:
        self.model = model if isinstance(model, EmotionModel) else load_model(model)
        self.detector = detector or HaarFaceDetector()
        if max_faces is not None and max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        self.max_faces = max_faces

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    def read(self, image: Any, color_order: str = "rgb") -> np.ndarray:
        """Path / bytes / PIL / array -> standardized uint8 (H, W, 1|3) RGB or grey."""
        return standardize_image(load_image(image), color_order)

    def detect(self, frame: np.ndarray) -> list[Box]:
        boxes = self.detector.detect(to_grey(frame))
        if self.max_faces is not None and len(boxes) > self.max_faces:
            boxes = largest_boxes(boxes, self.max_faces)
        return boxes

    def classify(self, frame: np.ndarray, boxes: list[Box], flip_tta: bool | None = None) -> np.ndarray:
        """(len(boxes), num_classes) probabilities for the boxed faces of a standardized frame."""
        batch = self.model.preprocess([box.crop(frame) for box in boxes])
        return self.model.predict_proba(batch, flip_tta=flip_tta)

    def predict_frame(self, frame: np.ndarray, flip_tta: bool | None = None) -> list[FacePrediction]:
        boxes = self.detect(frame)
        if not boxes:
            return []
        probabilities = self.classify(frame, boxes, flip_tta)
        return [
            FacePrediction(box, {label: float(p) for label, p in zip(self.labels, row)})
            for box, row in zip(boxes, probabilities)
        ]

    def predict(self, image: Any, color_order: str = "rgb", flip_tta: bool | None = None) -> list[FacePrediction]:
        """Every face in the image with its probabilities; an image without faces gives []."""
        return self.predict_frame(self.read(image, color_order), flip_tta)
