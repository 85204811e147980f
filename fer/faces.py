"""Face detection: Box and Face, two detectors (YuNet, the default, and Haar) and the steps they share.

A detector only answers "where are the faces in this RGB image?". Everything around that (downscaling
for speed, padding so frame-filling faces are found, mapping back, clipping, minimum size, order and
the cap on the number of faces) lives once, in find_faces().
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
YUNET_MODEL = ASSETS_DIR / "face_detection_yunet.onnx"
DEFAULT_DETECTOR = "yunet"
# find_faces() downscales the frame with this before detection. INTER_AREA took 1-5 ms for 640 -> 384 (up
# to a third of YuNet's run) against 0.2-0.3 ms, for no more faces found (framed faces at 384: 98.2% either
# way; Haar at 640 with pad 0.15: 68.5% against 68.2%); to exactly half size OpenCV's INTER_LINEAR is
# INTER_AREA's 2x2 average.
DOWNSCALE_INTERPOLATION = cv2.INTER_LINEAR


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


def _cascade_path(name: str) -> Path:
    data = getattr(cv2, "data", None)
    if data is None:
        raise RuntimeError("this OpenCV build ships no Haar cascades; install opencv-python-headless<5")
    path = Path(name)
    return path if path.is_file() else Path(data.haarcascades) / name


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade on the equalised grey image (no landmarks, so no alignment).

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


class YuNetFaceDetector:
    """The YuNet CNN face detector (OpenCV Zoo, MIT licence, fer/assets): boxes, scores, 5 landmarks. Runs on ONNX
    Runtime with OpenCV's own decoding (yunet_rows), or on OpenCV's cv2.FaceDetectorYN (runtime="opencv"): the same
    faces (tests/test_faces.py).

    The settings are measured (benchmarks/detection.py, section (d), 2026-12-01), with find_faces() at this
    detector's detection_defaults: max side 384, no padding. Score 0.4 is the lowest with a 0.1 margin over
    any box on face-free frames (highest 0.25) and finds 98.2% of framed PublicTest faces and 98.7% of tight
    crops (0.5: 97.7% / 98.0%; OpenCV's usual 0.9: 73% / 79%); NMS 0.3 is OpenCV's default (0.2 to 0.45
    made no duplicate box).
    """

    name = "yunet"
    # find_faces() settings for YuNet (DetectionSettings.for_detector). At score 0.4 a 384x288 copy of a
    # 640x480 frame finds 98.2% of framed faces in 5.5 ms (320: 96.2%, 4.4 ms; 480: 98.7%, 8.6 ms; 640:
    # 99.3%, 13.8 ms, with 2 boxes off the face), the smallest size above 97.5%. Unpadded, YuNet finds tight
    # crops as well as padded (98.7% / 98.8% at pad 0.15), and a pad counted inside max_side costs
    # resolution: at 384 px pad 0.15 finds 96.0% of framed faces.
    detection_defaults = {"max_side": 384, "pad": 0.0}

    def __init__(self, model_path: str | Path = YUNET_MODEL, score_threshold: float = 0.4,
                 nms_threshold: float = 0.3, top_k: int = 200, runtime: str = "auto") -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ValueError(f"YuNet model not found at {self.model_path}")
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        self._local = threading.local()  # one cv2 detector per thread: they are not safe to share
        # ONNX Runtime runs the same network in about a third of OpenCV DNN's time here (benchmarks/latency.py);
        # OpenCV's FaceDetectorYN stays the reference and the fallback without onnxruntime (runtime="opencv").
        self.runtime = runtime if runtime != "auto" else ("onnx" if _onnxruntime_available() else "opencv")
        if self.runtime == "onnx":
            from fer.runtime.onnx import open_session

            # One thread: the network is small, and a second pool of spinning threads beside the classifier's
            # makes the two sessions fight over the cores (benchmarks/latency.py measures the whole frame).
            self._session = open_session(self.model_path, threads=1)
            self._input_name = self._session.get_inputs()[0].name
            self._output_names = [output.name for output in self._session.get_outputs()]
        elif self.runtime == "opencv":
            self._detector()  # fail now, not on the first frame, if OpenCV cannot load the file
        else:
            raise ValueError(f"runtime must be 'auto', 'onnx' or 'opencv', got {runtime!r}")

    def _rows_onnx(self, image: np.ndarray) -> np.ndarray:
        """The network on ONNX Runtime: BGR planes, 0..255, zero-padded right and bottom to a multiple of 32."""
        height, width = image.shape[:2]
        pad_w = ((width - 1) // YUNET_DIVISOR + 1) * YUNET_DIVISOR
        pad_h = ((height - 1) // YUNET_DIVISOR + 1) * YUNET_DIVISOR
        tensor = np.zeros((1, 3, pad_h, pad_w), np.float32)
        tensor[0, :, :height, :width] = np.asarray(image)[:, :, ::-1].transpose(2, 0, 1)
        outputs = dict(zip(self._output_names, self._session.run(self._output_names, {self._input_name: tensor})))
        return yunet_rows(outputs, pad_w, pad_h, self.score_threshold, self.nms_threshold, self.top_k)

    def _rows_opencv(self, image: np.ndarray) -> np.ndarray | None:
        detector = self._detector()
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)  # far quicker than a numpy flip + copy
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        return detector.detect(bgr)[1]

    def _detector(self):
        detector = getattr(self._local, "detector", None)
        if detector is None:
            try:
                detector = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320), self.score_threshold,
                                                     self.nms_threshold, self.top_k)
            except cv2.error as error:
                raise ValueError(f"OpenCV cannot load the YuNet model {self.model_path}: {error}") from None
            self._local.detector = detector
        return detector

    def detect(self, image: np.ndarray) -> list[Face]:
        if min(image.shape[:2]) < 10:  # nothing YuNet can find; its output on such slivers is not finite
            return []
        rows = self._rows_onnx(image) if self.runtime == "onnx" else self._rows_opencv(image)
        faces = []
        for row in rows if rows is not None else []:
            if not np.all(np.isfinite(row)):
                continue
            x, y, w, h = (float(v) for v in row[:4])
            landmarks = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            faces.append(Face(Box(int(round(x)), int(round(y)), int(round(w)), int(round(h))), float(row[14]),
                              landmarks))
        return faces


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


YUNET_STRIDES, YUNET_DIVISOR = (8, 16, 32), 32


def yunet_rows(outputs: dict[str, np.ndarray], pad_w: int, pad_h: int, score_threshold: float,
               nms_threshold: float, top_k: int) -> np.ndarray:
    """YuNet's raw outputs -> rows (x, y, w, h, 5 landmarks, score) as cv::FaceDetectorYN decodes them
    (objdetect/src/face_detect.cpp; web/yunet.js does the same in the page): score sqrt(cls x obj), boxes and
    landmarks from the stride-8/16/32 grids, then cv2.dnn.NMSBoxes on the integer boxes."""
    boxes, scores, points = [], [], []
    for stride in YUNET_STRIDES:
        cols = pad_w // stride
        score = np.sqrt(np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
                        * np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)).astype(np.float32)
        index = np.nonzero(score >= score_threshold)[0]
        if not len(index):
            continue
        row, col = (index // cols).astype(np.float32), (index % cols).astype(np.float32)
        box = outputs[f"bbox_{stride}"].reshape(-1, 4)[index]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[index]
        width, height = np.exp(box[:, 2]) * stride, np.exp(box[:, 3]) * stride
        left, top = (col + box[:, 0]) * stride - width / 2, (row + box[:, 1]) * stride - height / 2
        boxes.append(np.stack([left, top, width, height], axis=1))
        landmarks = np.empty((len(index), 10), np.float32)
        landmarks[:, 0::2] = (kps[:, 0::2] + col[:, None]) * stride
        landmarks[:, 1::2] = (kps[:, 1::2] + row[:, None]) * stride
        points.append(landmarks)
        scores.append(score[index])
    if not boxes:
        return np.zeros((0, 15), np.float32)
    boxes, scores, points = np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)
    keep = np.asarray(cv2.dnn.NMSBoxes(boxes.astype(np.int32).tolist(), scores.tolist(), score_threshold,
                                       nms_threshold, top_k=top_k), np.int64).reshape(-1)
    return np.concatenate([boxes[keep], points[keep], scores[keep, None]], axis=1).astype(np.float32)


# The one registry of detectors: name -> class (the CLI, the app and the benchmarks take their choices from it).
DETECTORS: dict[str, type] = {"yunet": YuNetFaceDetector, "haar": HaarFaceDetector}


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
    pad: float = 0.15  # tight crops found: Haar 79% (61% unpadded); 0.25 loses framed faces (YuNet: see above)
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
    """Standardised (H, W, 1|3) uint8 -> (H, W, 3) RGB."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame.reshape(frame.shape[:2])), cv2.COLOR_GRAY2RGB)


def find_faces(frame: np.ndarray, detector: FaceDetector,
               settings: DetectionSettings | None = None) -> tuple[list[Face], int]:
    """Faces in a standardised frame (largest `max_faces`, in reading order) and how many were found.

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
        faces = sorted(faces, key=lambda f: f.box.area, reverse=True)[:settings.max_faces]
    # Left to right, then top to bottom: a stable order for labels and per-face tracking.
    return sorted(faces, key=lambda f: (f.box.x, f.box.y)), found


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
    kept = sorted(faces, key=lambda f: f.box.area, reverse=True)[:count]
    return sorted(kept, key=lambda f: (f.box.x, f.box.y))


def face_crop(frame: np.ndarray, face: Face, margin: float = 0.0, align: bool = True) -> np.ndarray:
    """The square crop around a face, `margin` of its side added on every edge, eyes levelled if `align`.

    The square is centred on the detector's box (side: its longer side); parts outside the frame repeat
    the edge pixels. With landmarks and align=True the frame is rotated about the box centre so the eyes
    are level; without landmarks align has no effect.
    """
    box = face.box
    side = max(2, int(round(max(box.width, box.height) * (1 + 2 * margin))))
    centre_x, centre_y = box.center
    angle = face.eye_angle if align else 0.0
    matrix = cv2.getRotationMatrix2D((centre_x, centre_y), angle, 1.0)
    matrix[0, 2] += side / 2.0 - centre_x
    matrix[1, 2] += side / 2.0 - centre_y
    crop = cv2.warpAffine(np.ascontiguousarray(frame), matrix, (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop[:, :, None] if crop.ndim == 2 else crop
