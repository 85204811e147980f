"""OpenCV's Haar cascade: the face detector of the PyPI `fer` package (no landmarks)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from fer.faces.detect import Box, Face, register_detector


def _cascade_path(name: str) -> Path:
    data = getattr(cv2, "data", None)
    if data is None:
        raise RuntimeError("this OpenCV build ships no Haar cascades; install opencv-python-headless<5")
    path = Path(name)
    return path if path.is_file() else Path(data.haarcascades) / name


@register_detector("haar")
class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade on the equalized grey image (no landmarks, so no alignment).

    Faces smaller than min_face_fraction of the image's short side are not searched for: halving it
    finds smaller faces in group photos at about twice the cost.
    """

    name = "haar"
    # find_faces() settings for Haar (DetectionSettings.for_detector): the padding finds tight crops.
    detection_defaults = {"max_side": 640, "pad": 0.15}

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_face_fraction: float = 0.08, min_face_size: int = 20) -> None:
        path = _cascade_path(cascade)
        self._classifier = cv2.CascadeClassifier(str(path))
        if self._classifier.empty():
            raise ValueError(f"cannot load a Haar cascade from {path}")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_face_fraction, self.min_face_size = min_face_fraction, min_face_size
        self._lock = threading.Lock()  # a CascadeClassifier is not safe to share between threads

    def detect(self, image: np.ndarray) -> list[Face]:
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        min_side = max(self.min_face_size, int(min(grey.shape) * self.min_face_fraction))
        if min(grey.shape) < min_side:
            return []
        with self._lock:
            found = self._classifier.detectMultiScale(grey, scaleFactor=self.scale_factor,
                                                      minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        return [Face(Box(int(x), int(y), int(w), int(h))) for (x, y, w, h) in (found if len(found) else [])]
