"""Finding faces: Box and Face, the FaceDetector protocol, the registry of detectors and the steps every detector
shares.

A detector only answers "where are the faces in this RGB image?". Everything around that (downscaling for
speed, padding so frame-filling faces are found, mapping back, clipping, minimum size, order and the cap on the
number of faces) lives once, in find_faces().
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

DEFAULT_DETECTOR = "yunet"
# find_faces() downscales with this: as good as INTER_AREA for finding faces at a fraction of its time
# (benchmarks/detection.py), and to exactly half size it is INTER_AREA's 2x2 average.
DOWNSCALE_INTERPOLATION = cv2.INTER_LINEAR
# The one registry of detectors: name -> class (the CLI, the app and the benchmarks take their choices from it).
DETECTORS: dict[str, type] = {}


def register_detector(name: str) -> Callable[[type], type]:
    """Class decorator: make a detector available by `name` (make_detector, --detector, the app)."""
    def register(cls: type) -> type:
        if name in DETECTORS:
            raise ValueError(f"a detector named {name!r} is already registered")
        DETECTORS[name] = cls
        return cls
    return register


@dataclasses.dataclass(frozen=True)
class Box:
    """A face rectangle in pixel coordinates of the original image."""

    x: int
    y: int
    width: int
    height: int

    def to_list(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2.0, self.y + self.height / 2.0

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y:self.y + self.height, self.x:self.x + self.width]


@dataclasses.dataclass(frozen=True)
class Face:
    """A detected face: its box, the detector's confidence and, from YuNet, five landmarks.

    landmarks are (x, y) of the right eye, left eye, nose tip, right and left mouth corners (the person's
    right and left: the right eye is on the image's left in a frontal face), or None (Haar).
    """

    box: Box
    score: float = 1.0
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def eye_angle(self) -> float:
        """Degrees the eye line is tilted (positive: the left eye is lower in the image); 0 without landmarks."""
        if self.landmarks is None:
            return 0.0
        (right_x, right_y), (left_x, left_y) = self.landmarks[0], self.landmarks[1]
        return float(np.degrees(np.arctan2(left_y - right_y, left_x - right_x)))


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with detect(RGB uint8 (H, W, 3)) -> list[Face] can find faces for the Recognizer.

    find_faces() hands it an already downscaled and padded image and maps the faces back.
    """

    def detect(self, image: np.ndarray) -> list[Face]: ...



def make_detector(detector: str | FaceDetector | None = None) -> FaceDetector:
    """A detector by name (a key of DETECTORS), or the object itself if it already has detect()."""
    if detector is None:
        detector = DEFAULT_DETECTOR
    if isinstance(detector, str):
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)} or pass a "
                             "FaceDetector")
        return DETECTORS[detector]()
    if not callable(getattr(detector, "detect", None)):
        raise ValueError(f"a detector needs a detect(image) method; got {type(detector).__name__}")
    return detector


def detector_name(detector: FaceDetector) -> str:
    return getattr(detector, "name", type(detector).__name__)


@dataclasses.dataclass(frozen=True)
class DetectionSettings:
    """The shared detection steps' knobs (measured defaults; see benchmarks/detection.py).

    max_side: the frame is downscaled so its longer side is at most this before detection.
    pad: border added on every side (fraction of the side) so faces that fill the frame are found.
    min_face_size: faces smaller than this (pixels of the original frame) are dropped.
    max_faces: keep only the largest N faces (None: all).
    """

    # The defaults of a detector without its own `detection_defaults` (Haar's are the same); YuNet's are in
    # YuNetFaceDetector.detection_defaults.
    max_side: int = 640
    pad: float = 0.15  # Haar misses faces that fill the frame without it (benchmarks/detection.py)
    min_face_size: int = 12
    max_faces: int | None = None

    @classmethod
    def for_detector(cls, detector: FaceDetector, **chosen) -> "DetectionSettings":
        """The settings a detector runs best with (its `detection_defaults`, over the class defaults above),
        then every knob in `chosen` that is not None."""
        settings = dict(getattr(detector, "detection_defaults", {}))
        settings.update({name: value for name, value in chosen.items() if value is not None})
        return cls(**settings)

    def __post_init__(self) -> None:
        if self.max_side < 32:
            raise ValueError(f"max_side must be at least 32, got {self.max_side}")
        if not 0 <= self.pad <= 1:
            raise ValueError(f"pad must be in 0..1, got {self.pad}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {self.max_faces}")


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """Standardized (H, W, 1|3) uint8 -> (H, W, 3) RGB."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame.reshape(frame.shape[:2])), cv2.COLOR_GRAY2RGB)


def find_faces(frame: np.ndarray, detector: FaceDetector,
               settings: DetectionSettings | None = None) -> tuple[list[Face], int]:
    """Faces in a standardized frame (largest `max_faces`, in reading order) and how many were found.

    settings: None for the detector's own (DetectionSettings.for_detector).
    """
    settings = DetectionSettings.for_detector(detector) if settings is None else settings
    image = frame
    height, width = image.shape[:2]
    scale = min(1.0, settings.max_side / ((1 + 2 * settings.pad) * max(height, width)))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(np.ascontiguousarray(image), size, interpolation=DOWNSCALE_INTERPOLATION)
    image = to_rgb(image)  # after the downscale: a grey frame is converted at the detection size
    pad_x, pad_y = round(settings.pad * image.shape[1]), round(settings.pad * image.shape[0])
    if pad_x or pad_y:
        # Black borders: a face that fills the photo then looks like a face in a frame to the detector.
        image = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    faces = []
    for face in detector.detect(np.ascontiguousarray(image)):
        mapped = _map_back(face, pad_x, pad_y, scale, width, height)
        if mapped is not None and min(mapped.box.width, mapped.box.height) >= settings.min_face_size:
            faces.append(mapped)
    found = len(faces)
    if settings.max_faces is not None and found > settings.max_faces:
        return largest_faces(faces, settings.max_faces), found
    return reading_order(faces), found


def _map_back(face: Face, pad_x: int, pad_y: int, scale: float, width: int, height: int) -> Face | None:
    """A face from the padded, downscaled image in original-frame coordinates, its box clipped to the frame."""
    box = face.box
    left = (box.x - pad_x) / scale
    top = (box.y - pad_y) / scale
    right, bottom = left + box.width / scale, top + box.height / scale
    x0, y0 = max(0, int(round(left))), max(0, int(round(top)))
    x1, y1 = min(width, int(round(right))), min(height, int(round(bottom)))
    if x1 <= x0 or y1 <= y0:
        return None
    landmarks = None
    if face.landmarks is not None:
        landmarks = tuple(((x - pad_x) / scale, (y - pad_y) / scale) for x, y in face.landmarks)
    return Face(Box(x0, y0, x1 - x0, y1 - y0), face.score, landmarks)


def largest_faces(faces: Sequence[Face], count: int) -> list[Face]:
    """The `count` largest faces, back in reading order."""
    return reading_order(sorted(faces, key=lambda f: f.box.area, reverse=True)[:count])


def reading_order(faces: Sequence[Face]) -> list[Face]:
    """Left to right, then top to bottom: a stable order for labels and per-face tracking."""
    return sorted(faces, key=lambda f: (f.box.x, f.box.y))

