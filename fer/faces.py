"""Face detection: the Box type and a fast OpenCV Haar detector (pluggable behind FaceDetector)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from fer.preprocessing import to_grey


@dataclasses.dataclass(frozen=True)
class Box:
    """A face rectangle in pixel coordinates of the original image."""

    x: int
    y: int
    width: int
    height: int

    def to_list(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]

    def expanded(self, margin: float, image_width: int, image_height: int) -> "Box":
        """Grow by `margin` of the side on every edge, clipped to the image."""
        dx, dy = int(round(self.width * margin)), int(round(self.height * margin))
        left, top = max(self.x - dx, 0), max(self.y - dy, 0)
        right = min(self.x + self.width + dx, image_width)
        bottom = min(self.y + self.height + dy, image_height)
        return Box(left, top, max(right - left, 0), max(bottom - top, 0))

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y:self.y + self.height, self.x:self.x + self.width]


def largest_boxes(boxes: list[Box], count: int) -> list[Box]:
    """The `count` largest boxes, back in reading order (left to right, then top to bottom)."""
    kept = sorted(boxes, key=lambda b: b.width * b.height, reverse=True)[:count]
    return sorted(kept, key=lambda b: (b.x, b.y))


class FaceDetector(Protocol):
    """Anything with detect(grey uint8 (H, W)) -> list[Box] can find faces for the Recognizer."""

    def detect(self, grey: np.ndarray) -> list[Box]: ...


def _cascade_path(name: str) -> Path:
    data = getattr(cv2, "data", None)
    if data is None:
        raise RuntimeError("this OpenCV build ships no Haar cascades; install opencv-python-headless<5")
    return Path(data.haarcascades) / name


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, run on a downscaled copy of large frames for speed.

    min_neighbors trades recall for fewer false positives. Faces smaller than min_face_fraction of the
    (downscaled) frame's short side are not searched for: halving it finds smaller faces in group photos
    at about twice the cost. The margin makes crops match FER-2013's framing: its 48x48 faces are about
    5% wider than the cascade's box (median over 158 PublicTest faces composed into frames).
    """

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_fraction: float = 0.08,
        max_detection_side: int = 640,
        margin: float = 0.025,
    ) -> None:
        path = _cascade_path(cascade)
        self._classifier = cv2.CascadeClassifier(str(path))
        if self._classifier.empty():
            raise RuntimeError(f"cannot load Haar cascade {path}")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_face_fraction, self.max_detection_side, self.margin = min_face_fraction, max_detection_side, margin
        self._lock = threading.Lock()  # a CascadeClassifier is not safe to share between threads

    def detect(self, grey: np.ndarray) -> list[Box]:
        if grey.ndim != 2 or grey.dtype != np.uint8:
            raise ValueError(f"detect() takes a 2-D uint8 grey image, got {grey.dtype} {grey.shape}")
        height, width = grey.shape
        scale = min(1.0, self.max_detection_side / max(height, width))
        small = grey if scale == 1.0 else cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                     interpolation=cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        min_side = max(20, int(min(small.shape) * self.min_face_fraction))
        if min(small.shape) < min_side:
            return []
        with self._lock:
            found = self._classifier.detectMultiScale(small, scaleFactor=self.scale_factor,
                                                      minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        boxes = [
            Box(int(x / scale), int(y / scale), int(w / scale), int(h / scale)).expanded(self.margin, width, height)
            for (x, y, w, h) in (found if len(found) else [])
        ]
        # Left to right, then top to bottom: a stable order for labels and per-face tracking.
        return sorted((b for b in boxes if b.width > 1 and b.height > 1), key=lambda b: (b.x, b.y))


def detect_faces(image: np.ndarray, detector: FaceDetector | None = None) -> list[Box]:
    """Convenience: boxes for a standardized (H, W, 1|3) uint8 image."""
    return (detector or HaarFaceDetector()).detect(to_grey(image))
