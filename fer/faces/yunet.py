"""YuNet (OpenCV Zoo, MIT license, fer/assets): the default face detector, with boxes, scores and five landmarks."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from fer.faces.detect import Box, Face, register_detector

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
YUNET_MODEL = ASSETS_DIR / "face_detection_yunet.onnx"


@register_detector("yunet")
class YuNetFaceDetector:
    """The YuNet CNN face detector (OpenCV Zoo, MIT license, fer/assets): boxes, scores, 5 landmarks. Runs on ONNX
    Runtime with OpenCV's own decoding (yunet_rows), or on OpenCV's cv2.FaceDetectorYN (runtime="opencv"): the same
    faces (tests/fer/test_faces.py).

    The score threshold is the lowest that keeps a margin over every box found on face-free frames; NMS 0.3 is
    OpenCV's default. benchmarks/detection.py measures both, and the detection sizes below.
    """

    name = "yunet"
    # find_faces() settings for YuNet (DetectionSettings.for_detector): the smallest detection size that still
    # finds nearly every framed face, unpadded because YuNet finds tight crops without it and a pad counted
    # inside max_side costs resolution (benchmarks/detection.py, section (d)).
    detection_defaults = {"max_side": 384, "pad": 0.0}

    def __init__(self, model_path: str | Path = YUNET_MODEL, score_threshold: float = 0.4,
                 nms_threshold: float = 0.3, top_k: int = 200, runtime: str = "auto") -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ValueError(f"YuNet model not found at {self.model_path}")
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        self._local = threading.local()  # one cv2 detector per thread: they are not safe to share
        # ONNX Runtime runs the same network faster than OpenCV DNN (benchmarks/latency.py); OpenCV's
        # FaceDetectorYN stays the reference and the fallback without onnxruntime (runtime="opencv").
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
