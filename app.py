"""FER Explain: a Gradio app that boxes every face, names its expression and shows why (photo, webcam, video)."""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Set before gradio is imported: it reads these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from fer.annotate import annotate, label_text  # noqa: E402
from fer.errors import FerError  # noqa: E402
from fer.explain import DEFAULT_METHOD, METHODS, Explainer, check_method, overlay  # noqa: E402
from fer.faces import Box, HaarFaceDetector, largest_boxes  # noqa: E402
from fer.hub import DEFAULT_MODEL, bundled_models, load_model  # noqa: E402
from fer.recognizer import FacePrediction, Recognizer  # noqa: E402
from fer.tracking import FaceTracker, Track  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

MAX_FACES = 20  # faces classified per photo or video frame: the largest ones
MAX_FACE_PANELS = 8  # per-face probability panels on the page (the JSON output lists every face)
MAX_DISPLAY_SIDE = 1600  # annotated photos are downscaled for display beyond this
MAX_CROP_SIDE = 512  # face crops kept for explanation overlays
MAX_FILE_SIZE = "20mb"
PREDICTED = "(predicted)"

# Webcam: frames arrive every STREAM_EVERY seconds; Grad-CAM refreshes every CAM_EVERY_FRAMES frames.
STREAM_EVERY = 0.1
STREAM_TIME_LIMIT = 180  # seconds of processing per stream, so one visitor cannot hold a slot forever
STREAM_CONCURRENCY = 4
MAX_STREAM_SIDE = 640
# Webcam faces are large: detecting on a 320-px copy is ~4x faster than 640 and still finds faces of
# about 40 px and up in a 640x480 frame.
STREAM_DETECTION_SIDE = 320
MAX_STREAM_FACES = 6
MAX_CAM_FACES = 4
CAM_EVERY_FRAMES = 10
CAM_TILE_SIDE = 160
EMA_WEIGHT = 0.35  # weight of the newest frame in the smoothed probabilities
IOU_MATCH = 0.3  # a detection continues a track when their boxes overlap at least this much
TRACK_MAX_MISSED = 5  # frames a track survives without a matching face

# Video: analyse every k-th frame of at most VIDEO_MAX_SECONDS, written at most VIDEO_MAX_SIDE wide/high.
VIDEO_MAX_SECONDS = 120
VIDEO_MAX_SIDE = 960
VIDEO_OUTPUT_MAX_AGE = 15 * 60

NOTE = """\
**What this does.** Finds frontal faces with an OpenCV Haar detector and classifies each face's *expression*
into the model's labels; the explanation maps show which pixels drove that score. **What it cannot do.** It
does not read feelings, intentions or honesty: a posed or culturally different expression, a profile view,
poor light or a small face all mislead it, and its accuracy (shown with the model) is measured on one
dataset. **Privacy.** Photos, webcam frames and videos are analysed in memory and not stored: the only copies
are in Gradio's temporary cache (and the annotated video), deleted within the hour. **Do not use it for
decisions about people** (hiring, policing, health, education, security).
"""

CSS = """
#model-card {font-size: 0.9em}
.face-panel {min-width: 180px}
"""


# ---------------------------------------------------------------- models


@dataclasses.dataclass
class Engine:
    """A loaded model with its recognizer and explainer, shared by every session."""

    source: str
    recognizer: Recognizer
    stream_recognizer: Recognizer  # same model; detection on a smaller copy of webcam frames
    explainer: Explainer

    @property
    def model(self):
        return self.recognizer.model

    @property
    def labels(self) -> tuple[str, ...]:
        return self.recognizer.labels


MAX_CACHED_MODELS = 3
_ENGINES: dict[str, Engine] = {}
_LOAD_LOCK = threading.Lock()
_DEFAULT_SOURCE_OVERRIDE: str | None = None  # set by --model


def default_model_source() -> str:
    """--model, else the FER_MODEL environment variable, else the bundled default model."""
    return _DEFAULT_SOURCE_OVERRIDE or os.environ.get("FER_MODEL", "").strip() or DEFAULT_MODEL


def model_choices() -> list[str]:
    choices = bundled_models()
    default = default_model_source()
    return choices if default in choices else [default, *choices]


def get_engine(source: str | None = None) -> Engine:
    """The cached Engine for a model source, loading it on first use (raises FerError for bad sources)."""
    key = (source or "").strip() or default_model_source()
    engine = _ENGINES.get(key)
    if engine is not None:
        return engine
    with _LOAD_LOCK:  # one load at a time; cached models keep serving meanwhile
        engine = _ENGINES.get(key)
        if engine is None:
            model = load_model(key)
            stream_detector = HaarFaceDetector(max_detection_side=STREAM_DETECTION_SIDE)
            engine = Engine(key, Recognizer(model), Recognizer(model, stream_detector), Explainer(model))
            while len(_ENGINES) >= MAX_CACHED_MODELS:
                _ENGINES.pop(next(iter(_ENGINES)))  # the oldest loaded
            _ENGINES[key] = engine
    return engine


def warm_up(source: str | None = None) -> Engine:
    """Load the model and run every per-request path once, so the first visitor does not pay for tracing."""
    engine = get_engine(source)
    engine.model.warm_up()
    frame = np.zeros((240, 320, 3), np.uint8)
    engine.recognizer.predict_frame(frame)
    engine.stream_recognizer.predict_frame(frame)
    faces = np.zeros((1, *engine.model.input_shape), np.uint8)
    engine.explainer.explain(faces, "gradcam", 0)
    return engine


def model_card(source: str | None) -> str:
    """Markdown with the model's labels, input size and card figures (accuracy and split)."""
    try:
        engine = get_engine(source)
    except FerError as error:
        _warn(f"Cannot load the model: {error}")
        return f"**Model not loaded:** {html.escape(str(error))}"
    config = engine.model.config
    height, width, channels = config.input_shape
    metrics = config.metrics
    if "accuracy" in metrics:
        figures = (f"accuracy **{float(metrics['accuracy']):.1%}** on {metrics.get('dataset', 'an unnamed dataset')}, "
                   f"split **{metrics.get('split', 'unknown')}** (n = {metrics.get('n', '?')})")
        if "macro_f1" in metrics:
            figures += f", macro-F1 {float(metrics['macro_f1']):.3f}"
    else:
        figures = "no evaluation figures in its config"
    if metrics.get("note"):
        figures += f" ({metrics['note']})"
    return (f"**{html.escape(engine.source)}** · {config.architecture} · input {width}×{height} "
            f"{'grey' if channels == 1 else 'RGB'} · labels: {', '.join(config.labels)}  \n{figures}")


# ---------------------------------------------------------------- shared steps


def _warn(message: str) -> None:
    # The page renders these messages as HTML: escape markup, keep quotes readable.
    gr.Warning(html.escape(message, quote=False))


def _info(message: str) -> None:
    gr.Info(html.escape(message, quote=False))


_PATH = re.compile(r"(?:/[^/\s:'\"]+)+/([^/\s:'\"]+)")


def _reason(error: Exception) -> str:
    """The error's message with server-side paths cut to the file name."""
    return _PATH.sub(r"\1", str(error))


def detect_and_classify(recognizer: Recognizer, frame: np.ndarray, max_faces: int) -> tuple[list[Box], np.ndarray, int]:
    """Boxes (the largest `max_faces`), their probabilities from ONE batched model call, and the count found."""
    boxes = recognizer.detect(frame)
    found = len(boxes)
    if found > max_faces:
        boxes = largest_boxes(boxes, max_faces)
    if not boxes:
        return [], np.zeros((0, len(recognizer.labels)), np.float32), found
    return boxes, recognizer.classify(frame, boxes), found


def fit_within(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most max_side; returns the image and the scale used."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    return (resized[:, :, None] if resized.ndim == 2 else resized), scale


def scale_box(box: Box, scale: float) -> Box:
    if scale == 1.0:
        return box
    return Box(int(box.x * scale), int(box.y * scale), max(1, int(box.width * scale)), max(1, int(box.height * scale)))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Standardized (H, W, 1|3) uint8 -> (H, W, 3) RGB for display."""
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2RGB)


def face_choice_label(index: int, prediction: FacePrediction) -> str:
    return f"#{index + 1} {prediction.label} ({prediction.score:.0%})"


def _class_index(labels: tuple[str, ...], class_choice: str | None, probabilities: dict[str, float]) -> int:
    if not class_choice or class_choice == PREDICTED:
        return labels.index(max(probabilities, key=probabilities.get))
    if class_choice not in labels:
        raise ValueError(f"unknown class {class_choice!r}; this model's labels are: {', '.join(labels)}")
    return labels.index(class_choice)


# ---------------------------------------------------------------- photo


def readable_upload_errors(component: gr.Image) -> gr.Image:
    """Make an image input answer unreadable uploads with a clear message instead of a bare "Error".

    gr.Image opens uploads with PIL before any handler runs. Wrapping this instance's preprocess (rather
    than subclassing gr.Image, which makes Gradio write a .pyi stub next to app.py) keeps it local.
    """
    preprocess = component.preprocess

    def checked_preprocess(payload):
        try:
            return preprocess(payload)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
            name = Path(payload.orig_name).name if payload is not None and payload.orig_name else "This file"
            reason = "it is too large" if isinstance(error, Image.DecompressionBombError) else "it is not an image"
            raise gr.Error(html.escape(f"{name} cannot be read as a photo: {reason}. Try a JPEG or PNG file.",
                                       quote=False)) from None

    component.preprocess = checked_preprocess
    return component


@dataclasses.dataclass
class PhotoAnalysis:
    """What the explanation panel needs after a photo is analysed (kept in session memory only)."""

    source: str
    labels: tuple[str, ...]
    predictions: list[FacePrediction]
    inputs: np.ndarray  # the faces as model inputs (N, H, W, C) uint8: the same preprocess_face() as classify
    crops: list[np.ndarray]  # RGB face crops (at most MAX_CROP_SIDE) for overlays


def _empty_photo_outputs(annotated: np.ndarray | None = None) -> tuple:
    panels = [gr.update(value=None, visible=False) for _ in range(MAX_FACE_PANELS)]
    return (annotated, [], None, None, gr.update(choices=[], value=None), gr.update(value=PREDICTED), *panels)


def analyze_photo(image: Any, model_source: str | None = None, method: str = DEFAULT_METHOD) -> tuple:
    """Photo handler: every face boxed and classified, with the explanation map of face #1.

    Returns (annotated RGB image, fer-compatible list of faces, explanation image of face #1,
    PhotoAnalysis state, face picker update, class picker update, *MAX_FACE_PANELS gr.Label updates).
    """
    if image is None:
        return _empty_photo_outputs()
    try:
        engine = get_engine(model_source)
    except FerError as error:
        _warn(f"Cannot load the model: {error}")
        return _empty_photo_outputs()
    try:
        frame = engine.recognizer.read(image)
    except FerError as error:
        _warn(f"Cannot read this image: {_reason(error)}")
        return _empty_photo_outputs()
    height, width = frame.shape[:2]
    boxes, probabilities, found = detect_and_classify(engine.recognizer, frame, MAX_FACES)
    display, scale = fit_within(frame, MAX_DISPLAY_SIDE)
    if scale < 1.0:
        _info(f"Large photo ({width}×{height}): analysed at full size, shown at {display.shape[1]}×{display.shape[0]}.")
    if not boxes:
        _info("No face found. The detector needs a frontal face of at least about 20 pixels; "
              + ("this image is tiny." if min(height, width) < 48 else "try a closer or better-lit photo."))
        return _empty_photo_outputs(to_rgb(display))
    if found > len(boxes):
        _info(f"Found {found} faces; classified the {len(boxes)} largest.")
    labels = engine.labels
    predictions = [FacePrediction(box, {label: float(p) for label, p in zip(labels, row)})
                   for box, row in zip(boxes, probabilities)]
    texts = [label_text(i, p.label, p.score) for i, p in enumerate(predictions)]
    annotated = annotate(display, [scale_box(box, scale) for box in boxes], texts)
    crops = [to_rgb(fit_within(box.crop(frame), MAX_CROP_SIDE)[0]) for box in boxes]
    inputs = engine.model.preprocess([box.crop(frame) for box in boxes])
    analysis = PhotoAnalysis(engine.source, labels, predictions, inputs, crops)
    try:
        explanation = _explanation_image(engine, analysis, 0, PREDICTED, method)
    except ValueError as error:
        _warn(str(error))
        explanation = None
    panels = [
        gr.update(value=predictions[i].probabilities, label=f"Face #{i + 1}", visible=True)
        if i < len(predictions) else gr.update(value=None, visible=False)
        for i in range(MAX_FACE_PANELS)
    ]
    if len(predictions) > MAX_FACE_PANELS:
        _info(f"Showing panels for the first {MAX_FACE_PANELS} faces; the JSON lists all {len(predictions)}.")
    face_choices = [(face_choice_label(i, p), i) for i, p in enumerate(predictions)]
    return (annotated, [p.to_dict() for p in predictions], explanation, analysis,
            gr.update(choices=face_choices, value=0), gr.update(choices=[PREDICTED, *labels], value=PREDICTED), *panels)


def _explanation_image(engine: Engine, analysis: PhotoAnalysis, face_index: int, class_choice: str | None,
                       method: str) -> np.ndarray:
    prediction = analysis.predictions[face_index]
    class_index = _class_index(analysis.labels, class_choice, prediction.probabilities)
    heatmap = engine.explainer.explain(analysis.inputs[face_index], method, class_index)
    if not heatmap.any():
        # An all-zero map is a real outcome (e.g. Grad-CAM when every channel argues against the class),
        # not a bug to hide: say so instead of showing a blank overlay without comment.
        _info(f"{METHODS[check_method(method)]} found no positive evidence for "
              f"'{analysis.labels[class_index]}' on this face; another method may show where the score comes from.")
    return overlay(analysis.crops[face_index], heatmap)


def _explain_target(analysis: PhotoAnalysis | None, face_index: Any) -> tuple[Engine, int] | None:
    if analysis is None or not analysis.predictions:
        _info("Analyse a photo with at least one face first.")
        return None
    try:
        index = int(face_index) if face_index not in (None, "") else 0
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(analysis.predictions):
        _warn(f"There is no face #{face_index}; pick one of 1–{len(analysis.predictions)}.")
        return None
    try:
        return get_engine(analysis.source), index
    except FerError as error:
        _warn(f"Cannot load the model: {error}")
        return None


def explain_face(analysis: PhotoAnalysis | None, face_index: int | None = 0, class_choice: str | None = PREDICTED,
                 method: str = DEFAULT_METHOD) -> np.ndarray | None:
    """Explanation handler: the chosen method's map for one face and class, overlaid on the face crop."""
    target = _explain_target(analysis, face_index)
    if target is None:
        return None
    engine, index = target
    try:
        return _explanation_image(engine, analysis, index, class_choice, method)
    except ValueError as error:
        _warn(str(error))
        return None


def explain_all_methods(analysis: PhotoAnalysis | None, face_index: int | None = 0,
                        class_choice: str | None = PREDICTED) -> list[tuple[np.ndarray, str]]:
    """Side-by-side handler: every explanation method for one face and class, captioned with its time."""
    target = _explain_target(analysis, face_index)
    if target is None:
        return []
    engine, index = target
    prediction = analysis.predictions[index]
    try:
        class_index = _class_index(analysis.labels, class_choice, prediction.probabilities)
    except ValueError as error:
        _warn(str(error))
        return []
    gallery = []
    for method, title in METHODS.items():
        start = time.perf_counter()
        heatmap = engine.explainer.explain(analysis.inputs[index], method, class_index)
        elapsed = time.perf_counter() - start
        empty = "" if heatmap.any() else " · no positive evidence"
        gallery.append((overlay(analysis.crops[index], heatmap),
                        f"{title} · {analysis.labels[class_index]} · {elapsed * 1000:.0f} ms{empty}"))
    return gallery


# ---------------------------------------------------------------- webcam


@dataclasses.dataclass
class StreamState:
    """Per-session webcam state (kept in gr.State, in memory only)."""

    source: str = ""
    tracker: FaceTracker = dataclasses.field(
        default_factory=lambda: FaceTracker(weight=EMA_WEIGHT, min_iou=IOU_MATCH, max_missed=TRACK_MAX_MISSED))
    frame_index: int = 0
    cam_frame: int | None = None  # the frame whose Grad-CAM is on show
    warned: bool = False


def _cam_strip(engine: Engine, frame: np.ndarray, tracks: list[Track]) -> np.ndarray:
    """Grad-CAM of up to MAX_CAM_FACES faces (one batched call), as tiles side by side."""
    chosen = sorted(tracks, key=lambda t: t.box.width * t.box.height, reverse=True)[:MAX_CAM_FACES]
    chosen.sort(key=lambda t: t.box.x)
    crops = [track.box.crop(frame) for track in chosen]
    classes = [int(np.argmax(track.probabilities)) for track in chosen]
    heatmaps = engine.explainer.explain_batch(engine.model.preprocess(crops), "gradcam", classes)
    tiles = []
    for track, crop, heatmap, class_index in zip(chosen, crops, heatmaps, classes):
        tile = cv2.resize(overlay(to_rgb(crop), heatmap), (CAM_TILE_SIDE, CAM_TILE_SIDE), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f"{engine.labels[class_index]}", (4, CAM_TILE_SIDE - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def stream_frame(frame: np.ndarray | None, state: StreamState | None, model_source: str | None = None,
                 cam_every: int = CAM_EVERY_FRAMES) -> tuple:
    """Webcam handler, once per frame: boxes + smoothed labels drawn on the frame, Grad-CAM every N frames.

    Returns (annotated RGB frame, gr.Label update for the largest face, Grad-CAM strip or gr.skip(), state).
    """
    state = state if isinstance(state, StreamState) else StreamState()
    if frame is None:
        return gr.skip(), gr.skip(), gr.skip(), state
    try:
        engine = get_engine(model_source)
        image = engine.recognizer.read(frame)
    except FerError as error:
        if not state.warned:  # once per session, not once per frame
            _warn(f"Webcam analysis stopped: {error}")
            state.warned = True
        return gr.skip(), gr.skip(), gr.skip(), state
    if state.source != engine.source:  # a new model: old probabilities mean nothing to it
        state = StreamState(source=engine.source)
    image, _ = fit_within(image, MAX_STREAM_SIDE)
    boxes, probabilities, _ = detect_and_classify(engine.stream_recognizer, image, MAX_STREAM_FACES)
    tracks = state.tracker.update(boxes, probabilities)
    labels = engine.labels
    texts = []
    for i, track in enumerate(tracks):
        best = int(np.argmax(track.probabilities))
        texts.append(label_text(i, labels[best], float(track.probabilities[best])))
    annotated = annotate(image, boxes, texts)
    if tracks:
        main = max(tracks, key=lambda t: t.box.width * t.box.height)
        probabilities_view = gr.update(value={label: float(p) for label, p in zip(labels, main.probabilities)},
                                       label=f"Face #{tracks.index(main) + 1} (smoothed)")
    else:
        probabilities_view = gr.update(value=None, label="No face in view")
    cam: Any = gr.skip()
    # Grad-CAM stays off the per-frame path: refreshed every `cam_every` frames, and put off to a later
    # frame while an explanation for another visitor holds the explainer.
    due = state.cam_frame is None or state.frame_index - state.cam_frame >= max(1, int(cam_every))
    if tracks and due and not engine.explainer.busy:
        cam = _cam_strip(engine, image, tracks)
        state.cam_frame = state.frame_index
    state.frame_index += 1
    return annotated, probabilities_view, cam, state


# ---------------------------------------------------------------- video


def _video_output_path() -> str:
    """A fresh .webm path in the app's temp folder; outputs older than VIDEO_OUTPUT_MAX_AGE are removed."""
    folder = Path(tempfile.gettempdir()) / "fer-app-videos"
    folder.mkdir(exist_ok=True)
    now = time.time()
    for old in folder.glob("*.webm"):
        try:
            if now - old.stat().st_mtime > VIDEO_OUTPUT_MAX_AGE:
                old.unlink()
        except OSError:
            pass  # removed by a concurrent request
    handle, path = tempfile.mkstemp(suffix=".webm", dir=folder)
    os.close(handle)
    return path


class _NoWriter:
    """Stands in for a VideoWriter that could not open, so the timeline is still computed."""

    def write(self, frame: np.ndarray) -> None:
        pass

    def release(self) -> None:
        pass


def timeline_figure(times: list[float], rows: list[np.ndarray], labels: tuple[str, ...]) -> Figure:
    """Each emotion's probability over time for the largest face (gaps where no face was found)."""
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.add_subplot()
    values = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(labels))
    for column, label in enumerate(labels):
        axes.plot(times, values[:, column], label=label, linewidth=1.5)
    axes.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1), title="Emotion timeline (largest face)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    return figure


def analyze_video(video: str | None, model_source: str | None = None, every: int = 5,
                  progress: gr.Progress = gr.Progress()) -> tuple[str | None, Figure | None, str]:
    """Video handler: analyse every `every`-th frame; returns (annotated .webm path, timeline figure, summary)."""
    if not video:
        return None, None, ""
    try:
        engine = get_engine(model_source)
    except FerError as error:
        _warn(f"Cannot load the model: {error}")
        return None, None, ""
    every = max(1, int(every or 1))
    capture, writer = cv2.VideoCapture(str(video)), None
    try:
        if not capture.isOpened():
            _warn("This file cannot be read as a video. Try an MP4 or WebM file.")
            return None, None, ""
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if np.isfinite(fps) and 1.0 <= fps <= 240.0 else 25.0
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        max_frames = int(VIDEO_MAX_SECONDS * fps)
        total = min(frame_count, max_frames) if frame_count > 0 else max_frames
        labels, nan_row = engine.labels, np.full(len(engine.labels), np.nan, np.float32)
        times: list[float] = []
        rows: list[np.ndarray] = []
        boxes: list[Box] = []
        texts: list[str] = []
        output, index, faces_seen = None, 0, 0
        progress(0.0, desc="Analysing frames")
        while index < max_frames:
            ok, bgr = capture.read()
            if not ok or bgr is None:
                break
            frame, _ = fit_within(bgr[:, :, ::-1], VIDEO_MAX_SIDE)
            frame = np.ascontiguousarray(frame)
            if index % every == 0:
                boxes, probabilities, _ = detect_and_classify(engine.recognizer, frame, MAX_FACES)
                texts = [label_text(i, labels[int(np.argmax(row))], float(row.max())) for i, row in enumerate(probabilities)]
                times.append(index / fps)
                if boxes:
                    faces_seen += 1
                    largest = max(range(len(boxes)), key=lambda i: boxes[i].width * boxes[i].height)
                    rows.append(probabilities[largest])
                else:
                    rows.append(nan_row)
                progress((index + 1, total), desc="Analysing frames", unit="frames")
            annotated = annotate(frame, boxes, texts)  # labels persist between analysed frames
            if writer is None:
                output = _video_output_path()
                height, width = annotated.shape[:2]
                # WebM/VP8: browsers play it and OpenCV's wheels can write it without ffmpeg (OpenCV logs a
                # harmless note that the 'VP80' tag is not the container's own).
                writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"VP80"), fps, (width, height))
                if not writer.isOpened():
                    _warn("This server's OpenCV cannot write WebM video; the timeline is still shown.")
                    writer = _NoWriter()
                    output = None
            writer.write(np.ascontiguousarray(annotated[:, :, ::-1]))
            index += 1
        truncated = index >= max_frames and capture.grab()
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if index == 0:
        _warn("No frames could be read from this video.")
        return None, None, ""
    if truncated:
        _info(f"Only the first {VIDEO_MAX_SECONDS} s of the video were analysed.")
    if not faces_seen:
        _info("No face was found in the analysed frames.")
    analysed = len(times)
    summary = (f"Analysed {analysed} of {index} frames (1 in {every}, {index / fps:.1f} s at {fps:.0f} fps); "
               f"a face was found in {faces_seen} of them.")
    return output, timeline_figure(times, rows, labels), summary


# ---------------------------------------------------------------- page


def example_images() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(str(p) for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in EXAMPLE_SUFFIXES)


def build_demo() -> gr.Blocks:
    """The Blocks page; built at import, but loads no model until the first request (or warm_up())."""
    method_choices = [(title, key) for key, title in METHODS.items()]
    with gr.Blocks(title="FER Explain", analytics_enabled=False, delete_cache=(600, 1800)) as demo:
        gr.Markdown("# FER Explain\nEvery face boxed with its expression — and a map of *why* the model thinks so.")
        with gr.Row():
            model_picker = gr.Dropdown(choices=model_choices(), value=default_model_source(), allow_custom_value=True,
                                       label="Model", scale=1,
                                       info="A bundled model, a local model folder, or hf://owner/repo@revision")
            card = gr.Markdown(elem_id="model-card")
        with gr.Tabs():
            with gr.Tab("Photo"):
                with gr.Row():
                    with gr.Column():
                        photo = readable_upload_errors(gr.Image(type="filepath", sources=["upload", "clipboard"],
                                                                label="Photo", elem_id="photo-input"))
                        examples = example_images()
                        if examples:
                            gr.Examples(examples=[[path] for path in examples], inputs=[photo],
                                        cache_examples=False, label="Examples (public domain)")
                    with gr.Column():
                        annotated = gr.Image(label="Faces", format="jpeg", interactive=False, elem_id="faces-output")
                with gr.Row():
                    panels = [gr.Label(visible=False, elem_classes="face-panel", min_width=180)
                              for _ in range(MAX_FACE_PANELS)]
                with gr.Accordion("Faces as JSON (fer-compatible)", open=False):
                    faces_json = gr.JSON(label="faces")
                gr.Markdown("### Why? Explanation maps")
                analysis_state = gr.State(None)
                with gr.Row():
                    face_picker = gr.Dropdown(choices=[], label="Face", interactive=True)
                    class_picker = gr.Dropdown(choices=[PREDICTED], value=PREDICTED, label="Class",
                                               info="The class whose score is explained")
                    method = gr.Dropdown(choices=method_choices, value=DEFAULT_METHOD, label="Method")
                with gr.Row():
                    explanation = gr.Image(label="Explanation", format="png", interactive=False,
                                           elem_id="explanation-output")
                    with gr.Column():
                        compare_button = gr.Button("Compare all methods")
                        gallery = gr.Gallery(label="All methods", columns=len(METHODS), height="auto",
                                             format="png", interactive=False)
            with gr.Tab("Webcam"):
                stream_state = gr.State(None)
                with gr.Row():
                    webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam",
                                      elem_id="webcam-input",
                                      webcam_options=gr.WebcamOptions(
                                          mirror=True,
                                          constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
                    live = gr.Image(label="Live analysis", format="jpeg", interactive=False, elem_id="live-output")
                with gr.Row():
                    live_probabilities = gr.Label(label="Smoothed probabilities", elem_id="live-probabilities")
                    live_cam = gr.Image(label=f"Grad-CAM (every {CAM_EVERY_FRAMES} frames)", format="jpeg",
                                        interactive=False, elem_id="live-cam")
            with gr.Tab("Video"):
                with gr.Row():
                    with gr.Column():
                        video = gr.Video(sources=["upload"], label="Video")
                        every = gr.Slider(1, 30, value=5, step=1, label="Analyse every k-th frame")
                        video_button = gr.Button("Analyse video", variant="primary")
                    with gr.Column():
                        video_out = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
                        video_summary = gr.Markdown()
                timeline = gr.Plot(label="Emotion timeline")
        gr.Markdown(NOTE)

        # Events (every one has an api_name; /predict is the documented photo endpoint).
        demo.load(model_card, [model_picker], [card], api_name="model_info_on_load")
        model_picker.change(model_card, [model_picker], [card], api_name="model_info")
        photo_outputs = [annotated, faces_json, explanation, analysis_state, face_picker, class_picker, *panels]
        # A new photo or a new model re-analyses the photo (an empty photo just clears the outputs).
        gr.on([photo.change, model_picker.change], analyze_photo, [photo, model_picker, method], photo_outputs,
              api_name="predict")
        gr.on([face_picker.input, class_picker.input, method.input], explain_face,
              [analysis_state, face_picker, class_picker, method], [explanation], api_name="explain")
        compare_button.click(explain_all_methods, [analysis_state, face_picker, class_picker], [gallery],
                             api_name="explain_all")
        webcam.stream(stream_frame, [webcam, stream_state, model_picker],
                      [live, live_probabilities, live_cam, stream_state], api_name="stream",
                      stream_every=STREAM_EVERY, time_limit=STREAM_TIME_LIMIT, concurrency_limit=STREAM_CONCURRENCY)
        video_button.click(analyze_video, [video, model_picker, every], [video_out, timeline, video_summary],
                           api_name="analyze_video", concurrency_limit=1)
    return demo


demo = build_demo()


def _bypass_proxy_for_localhost() -> None:
    """Gradio checks its own URL after launch; behind an HTTP proxy that check must not go through it."""
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        os.environ[name] = ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])


def main(argv: list[str] | None = None) -> None:
    global _DEFAULT_SOURCE_OVERRIDE, demo
    parser = argparse.ArgumentParser(description="Serve the FER Explain Gradio app (no share links, no analytics).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on; 0.0.0.0 to serve other machines (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--model", help="default model source (overrides FER_MODEL; default fer2013-cnn)")
    parser.add_argument("--no-warm-up", action="store_true", help="skip loading the model before serving")
    args = parser.parse_args(argv)
    if args.model:
        _DEFAULT_SOURCE_OVERRIDE = args.model
        demo = build_demo()  # the model picker shows the new default
    if not args.no_warm_up:
        try:
            warm_up()
        except FerError as error:
            # Keep serving: another model can still be picked on the page, which shows this error too.
            print(f"warning: the default model could not be loaded: {error}", file=sys.stderr)
    _bypass_proxy_for_localhost()
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=False, max_file_size=MAX_FILE_SIZE,
                theme=gr.themes.Soft(), css=CSS, show_error=False)


if __name__ == "__main__":
    main()
