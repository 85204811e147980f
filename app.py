"""FER Explain: a Gradio app that boxes every face, names its expression and shows why (photo, webcam, video).

A thin shell over the library: fer.engine holds the loaded models, fer.recognizer finds and classifies faces,
fer.explain draws the maps, fer.stream and fer.video run the webcam and videos, fer.annotate draws, and
fer.private_mode serves the browser-side page. Handlers return dicts keyed by output name.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Set before gradio is imported: it reads these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from fer import private_mode  # noqa: E402
from fer.annotate import annotate_faces, fit_between, fit_within, timeline_figure  # noqa: E402
from fer.engine import MAX_STREAM_SIDE, Engine, EngineCache  # noqa: E402
from fer.errors import FerError, public_message  # noqa: E402
from fer.explain import DEFAULT_METHOD, METHODS, check_method  # noqa: E402
from fer.faces import DETECTORS, to_rgb  # noqa: E402
from fer.gradio_support import bypass_proxy_for_localhost, keyed, readable_upload_errors  # noqa: E402
from fer.hub import DEFAULT_MODEL, bundled_models  # noqa: E402
from fer.memory import release_free_memory  # noqa: E402
from fer.recognizer import FrameAnalysis  # noqa: E402
from fer.stream import LiveSession  # noqa: E402
from fer.video import VideoReader, VideoWriter, annotate_video, temporary_output_path  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
# Private mode: the static page in web/ (prepared by `make web`) runs the webcam pipeline in the visitor's browser.
WEB_DIR, PRIVATE_MODE_PATH = Path(__file__).resolve().parent / "web", "/private"
EXAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_FACE_PANELS = 8  # per-face probability panels on the page (the JSON output lists every face)
MAX_DISPLAY_SIDE = 1600  # annotated photos are downscaled for display beyond this
MAX_CROP_SIDE = 512  # face crops kept in the session for explanation overlays
MIN_CROP_SIDE = 256  # small faces are enlarged so their explanation maps stay readable
MAX_FILE_SIZE = "20mb"
# After a photo this large decoded (8 MiB: about 2.8 MP in RGB), the freed heap pages go back to the OS: glibc keeps
# a large photo's freed buffers in its arenas otherwise, and the server's memory creeps up (README, Reliability).
LARGE_PHOTO_BYTES = 8 * 2**20
PREDICTED = "(predicted)"
# Webcam: a frame every STREAM_EVERY s, a session lasts at most STREAM_TIME_LIMIT s, STREAM_CONCURRENCY at once.
STREAM_EVERY, STREAM_TIME_LIMIT, STREAM_CONCURRENCY = 0.05, 180, 4
# Video: every k-th frame of at most VIDEO_MAX_SECONDS, at most VIDEO_MAX_SIDE px; outputs removed after 15 min.
VIDEO_MAX_SECONDS, VIDEO_MAX_SIDE, VIDEO_OUTPUT_MAX_AGE = 120, 960, 15 * 60

NOTE = """\
**What this does.** Finds faces with the {detector} detector, levels the eyes and classifies each face's
*expression* into the model's labels; the explanation maps show which pixels drove that score. **What it cannot
do.** It does not read feelings, intentions or honesty: a posed or culturally different expression, a profile
view, poor light or a small face all mislead it, and its accuracy (shown with the model) is measured on one
dataset. **Privacy.** Photos, webcam frames and videos are analysed in memory and not stored: the only copies
are in Gradio's temporary cache (and the annotated video), deleted within the hour. **Do not use it for
decisions about people** (hiring, policing, health, education, security).
"""
PRIVATE_MODE_NOTE = f"""\
**<a href=".{PRIVATE_MODE_PATH}/" target="_blank">Open private mode</a>**: the webcam analysis running entirely in
your browser. Face detection (YuNet) and the expression model run on your device with ONNX Runtime Web; camera
frames are never sent to this server, and once loaded the page keeps working offline. It is the same pipeline as the
Webcam tab (same detector settings, alignment, crops and flip TTA; smoothed probabilities), without Grad-CAM.
"""
PRIVATE_MODE_MISSING = """\
**Private mode is not available on this server**: its page has not been prepared (`make web`, or
`python -m web.prepare`, on the server). The Webcam tab analyses frames on this server instead.
"""
CSS = "#model-card {font-size: 0.9em} .face-panel {min-width: 180px}"

# ---------------------------------------------------------------- models

ENGINES = EngineCache()  # main() replaces it with one holding the command-line settings


def get_engine(source: str | None = None) -> Engine:
    """The cached Engine for a model source (blank: the default), loaded on first use; FerError if it cannot be."""
    return ENGINES.get(source)


def default_model_source() -> str:
    """--model, else the FER_MODEL environment variable, else the bundled default model."""
    return ENGINES.default_source()


def default_explanation_method() -> str:
    """The default model's own default method (chosen by its card's faithfulness table), read from its config."""
    from fer.config import CONFIG_FILE, ModelConfig
    from fer.hub import resolve_source

    try:
        return ModelConfig.load(resolve_source(default_model_source()) / CONFIG_FILE).explanation_method
    except FerError:
        return DEFAULT_METHOD


def model_choices() -> list[str]:
    choices, default = bundled_models(), default_model_source()
    return choices if default in choices else [default, *choices]


def engine_or_warn(source: str | None) -> Engine | None:
    """get_engine(), or None after telling the visitor why the model cannot be loaded."""
    try:
        return get_engine(source)
    except FerError as error:
        _warn(f"Cannot load the model: {error}")
        return None


def model_card(source: str | None) -> str:
    """Markdown with the model's labels, input size, detector and card figures (accuracy and split)."""
    try:
        return get_engine(source).card()
    except FerError as error:
        _warn(f"Cannot load the model: {error}")
        return f"**Model not loaded:** {html.escape(str(error))}"


def _warn(message: str) -> None:
    gr.Warning(html.escape(message, quote=False))  # the page renders messages as HTML


def _info(message: str) -> None:
    gr.Info(html.escape(message, quote=False))


# ---------------------------------------------------------------- photo


@dataclasses.dataclass
class PhotoAnalysis:
    """What the explanation panel needs after a photo is analysed (kept in session memory only)."""

    source: str
    analysis: FrameAnalysis

    @property
    def predictions(self):
        return self.analysis.faces


def _photo_outputs(annotated: np.ndarray | None = None, analysis: PhotoAnalysis | None = None,
                   explanation: np.ndarray | None = None) -> dict[str, Any]:
    faces = analysis.predictions if analysis else []
    labels = analysis.analysis.labels if analysis else ()
    outputs = {
        "annotated": annotated, "faces": [face.to_dict() for face in faces], "explanation": explanation,
        "analysis": analysis,
        "face_picker": gr.update(choices=[(f"#{i + 1} {p.label} ({p.score:.0%})", i) for i, p in enumerate(faces)],
                                 value=0 if faces else None),
        "class_picker": gr.update(choices=[PREDICTED, *labels], value=PREDICTED),
    }
    for i in range(MAX_FACE_PANELS):
        outputs[f"panel{i}"] = (gr.update(value=faces[i].probabilities, label=f"Face #{i + 1}", visible=True)
                                if i < len(faces) else gr.update(value=None, visible=False))
    return outputs


def analyze_photo(image: Any, model_source: str | None = None, method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """Photo handler: every face boxed and classified, with the explanation map of face #1."""
    engine = engine_or_warn(model_source) if image is not None else None
    if engine is None:
        return _photo_outputs()
    try:
        frame = engine.recognizer.read(image)
    except FerError as error:
        _warn(f"Cannot read this image: {public_message(error)}")
        return _photo_outputs()
    large = frame.nbytes >= LARGE_PHOTO_BYTES
    outputs = _analyze_frame(engine, frame, method)
    del frame
    if large:
        release_free_memory()
    return outputs


def _analyze_frame(engine: Engine, frame: np.ndarray, method: str) -> dict[str, Any]:
    """analyze_photo() once the photo is decoded."""
    analysis = engine.recognizer.analyze_frame(frame)
    display, scale = fit_within(frame, MAX_DISPLAY_SIDE)
    height, width = frame.shape[:2]
    if scale < 1.0:
        shown = f"{display.shape[1]}×{display.shape[0]}"
        _info(f"Large photo ({width}×{height}): analysed at full size, shown at {shown}.")
    if not analysis.faces:
        _info("No face found. The detector needs a face of at least about 12 pixels; "
              + ("this image is tiny." if min(height, width) < 48 else "try a closer or better-lit photo."))
        return _photo_outputs(to_rgb(display))
    if analysis.found > analysis.kept:
        _info(f"Found {analysis.found} faces; classified the {analysis.kept} largest.")
    if analysis.kept > MAX_FACE_PANELS:
        _info(f"Showing panels for the first {MAX_FACE_PANELS} faces; the JSON lists all {analysis.kept}.")
    annotated = annotate_faces(display, analysis.faces, scale)
    # Session state keeps overlay-sized crops, not full-resolution ones.
    analysis.crops = [fit_between(crop, MIN_CROP_SIDE, MAX_CROP_SIDE) for crop in analysis.crops]
    photo = PhotoAnalysis(engine.source, analysis)
    return _photo_outputs(annotated, photo, _explain_or_warn(engine, photo, 0, None, method))


def _explain_or_warn(engine: Engine, photo: PhotoAnalysis, index: int, label: str | None,
                     method: str) -> np.ndarray | None:
    try:
        explanation = engine.explainer.explain_face(photo.analysis, index, method, label)
    except ValueError as error:
        _warn(str(error))
        return None
    if not explanation.evidence:
        # An all-zero map is a real outcome (every channel argues against the class): say so.
        _info(f"{METHODS[check_method(method)]} found no positive evidence for '{explanation.label}' on this "
              "face; another method may show where the score comes from.")
    return explanation.image


def _explain_target(photo: PhotoAnalysis | None, face_index: Any,
                    class_choice: str | None) -> tuple[Engine, int, str | None] | None:
    """(engine, face index, label to explain; None: the predicted one), or None after saying what is wrong."""
    if photo is None or not photo.predictions:
        _info("Analyse a photo with at least one face first.")
        return None
    try:
        index = int(face_index) if face_index not in (None, "") else 0
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(photo.predictions):
        _warn(f"There is no face #{face_index}; pick one of 1–{len(photo.predictions)}.")
        return None
    engine = engine_or_warn(photo.source)
    label = None if class_choice in (None, "", PREDICTED) else class_choice
    return None if engine is None else (engine, index, label)


def explain_face(photo: PhotoAnalysis | None, face_index: int | None = 0, class_choice: str | None = PREDICTED,
                 method: str = DEFAULT_METHOD) -> np.ndarray | None:
    """Explanation handler: the chosen method's map for one face and class, overlaid on the face crop."""
    target = _explain_target(photo, face_index, class_choice)
    if target is None:
        return None
    engine, index, label = target
    return _explain_or_warn(engine, photo, index, label, method)


def explain_all_methods(photo: PhotoAnalysis | None, face_index: int | None = 0,
                        class_choice: str | None = PREDICTED) -> list[tuple[np.ndarray, str]]:
    """Side-by-side handler: every explanation method for one face and class, most faithful first, each captioned
    with its time and its deletion / insertion areas against random pixel orders."""
    from fer.explain.faithfulness import faithfulness

    target = _explain_target(photo, face_index, class_choice)
    if target is None:
        return []
    engine, index, label = target
    entries = []
    for method, title in METHODS.items():
        start = time.perf_counter()
        try:
            explanation = engine.explainer.explain_face(photo.analysis, index, method, label)
        except ValueError as error:
            _warn(str(error))
            return []
        elapsed = (time.perf_counter() - start) * 1000
        scores = _faithfulness_of(engine, photo, index, explanation.label, method, faithfulness)
        gain = (scores.random_deletion_auc - scores.deletion_auc) + (scores.insertion_auc - scores.random_insertion_auc)
        caption = (f"{title} · {explanation.label} · {elapsed:.0f} ms · deletion {scores.deletion_auc:.2f} "
                   f"(random {scores.random_deletion_auc:.2f}) · insertion {scores.insertion_auc:.2f} "
                   f"(random {scores.random_insertion_auc:.2f})")
        entries.append((gain, explanation.image, caption + ("" if explanation.evidence else " · no positive evidence")))
    return [(image, caption) for _, image, caption in sorted(entries, key=lambda entry: -entry[0])]


def _faithfulness_of(engine: Engine, photo: PhotoAnalysis, index: int, label: str, method: str, faithfulness):
    """Deletion / insertion curves of one face's map (on the network's view of the face; one network call)."""
    heatmap = engine.explainer.explain(photo.analysis.inputs[index], method, label)
    face_input = engine.model.network_inputs(photo.analysis.inputs[index:index + 1])[0]
    return faithfulness(engine.model, face_input, heatmap, list(engine.labels).index(label))


def check_faithfulness(photo: PhotoAnalysis | None, face_index: int | None = 0, class_choice: str | None = PREDICTED,
                       method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """Faithfulness handler (on request, not per upload): how fast the class score falls when the map's pixels
    are deleted first, and rises when they are inserted first, against random orders."""
    from fer.explain.faithfulness import faithfulness, faithfulness_figure

    empty = {"faithfulness_text": "", "faithfulness_plot": None}
    target = _explain_target(photo, face_index, class_choice)
    if target is None:
        return empty
    engine, index, label = target
    label = label or photo.predictions[index].label
    try:
        method = check_method(method)
        scores = _faithfulness_of(engine, photo, index, label, method, faithfulness)
    except ValueError as error:
        _warn(str(error))
        return empty
    deletion_ok = scores.deletion_auc < scores.random_deletion_auc
    insertion_ok = scores.insertion_auc > scores.random_insertion_auc
    verdict = ("beats random orders on both curves" if deletion_ok and insertion_ok else
               "beats random orders on one curve only" if deletion_ok or insertion_ok else
               "does no better than random orders: do not trust this map for this face")
    text = (f"**{METHODS[method]}** for **{label}**: deletion AUC **{scores.deletion_auc:.3f}** (random "
            f"{scores.random_deletion_auc:.3f}, lower is better), insertion AUC **{scores.insertion_auc:.3f}** "
            f"(random {scores.random_insertion_auc:.3f}, higher is better): the map {verdict}.")
    return {"faithfulness_text": text, "faithfulness_plot": faithfulness_figure(scores, METHODS[method])}

# ---------------------------------------------------------------- webcam


@dataclasses.dataclass
class StreamState:
    """Per-session webcam state (kept in gr.State, in memory only)."""

    source: str = ""
    live: LiveSession = dataclasses.field(default_factory=LiveSession)
    warned: bool = False  # the visitor was told why analysis stopped


def stream_frame(frame: np.ndarray | None, state: StreamState | None, model_source: str | None = None,
                 cam_every: int = LiveSession.cam_every) -> dict[str, Any]:
    """Webcam handler, once per frame: boxes + smoothed labels drawn on the frame, Grad-CAM every N frames."""
    state = state if isinstance(state, StreamState) else StreamState()
    skip = {"live": gr.skip(), "live_probabilities": gr.skip(), "live_cam": gr.skip(), "stream_state": state}
    if frame is None:
        return skip
    try:
        engine = get_engine(ENGINES.stream_source(model_source))  # the live model unless the visitor picked one
        image = fit_within(engine.recognizer.read(frame), MAX_STREAM_SIDE)[0]
    except FerError as error:
        if not state.warned:  # once per session, not once per frame
            _warn(f"Webcam analysis stopped: {error}")
            state.warned = True
        return skip
    if state.source != engine.source:  # a new model: old probabilities mean nothing to it
        state = StreamState(source=engine.source)
    state.live.cam_every = cam_every
    # The Grad-CAM strip joins once the explainer has loaded (in the background: the stream never waits for it).
    result = state.live.step(engine.stream_recognizer, image, engine.explainer_if_ready())
    probabilities = (gr.update(value=None, label="No face in view") if result.main_face is None else
                     gr.update(value=result.main_probabilities, label=f"Face #{result.main_face + 1} (smoothed)"))
    return {"live": result.annotated, "live_probabilities": probabilities, "stream_state": state,
            "live_cam": gr.skip() if result.cam is None else result.cam}

# ---------------------------------------------------------------- video


def analyze_video(video: str | None, model_source: str | None = None, every: int = 5,
                  progress: gr.Progress = gr.Progress()) -> dict[str, Any]:
    """Video handler: analyse every `every`-th frame; an annotated .webm, the timeline and a summary."""
    empty = {"video_out": None, "timeline": None, "video_summary": ""}
    engine = engine_or_warn(model_source) if video else None
    if engine is None:
        return empty
    every = max(1, int(every or 1))
    try:
        reader = VideoReader(video, max_side=VIDEO_MAX_SIDE, max_seconds=VIDEO_MAX_SECONDS)
    except FerError as error:
        _warn(public_message(error))
        return empty
    progress(0.0, desc="Analysing frames")
    with reader, VideoWriter(temporary_output_path(VIDEO_OUTPUT_MAX_AGE), reader.info.fps) as writer:
        summary = annotate_video(engine.recognizer, reader, writer, every, lambda done, total: progress(
            (done, total or None), desc="Analysing frames", unit="frames"))
    release_free_memory()  # the decoded frames' buffers (a few ms against a request of seconds)
    if summary.frames_read == 0:
        _warn("No frames could be read from this video.")
        return empty
    if not writer.opened:
        _warn("This server's OpenCV cannot write WebM video; the timeline is still shown.")
    if reader.truncated:
        _info(f"Only the first {VIDEO_MAX_SECONDS} s of the video were analysed.")
    if not summary.faces_seen:
        _info("No face was found in the analysed frames.")
    return {"video_out": str(writer.path) if writer.opened else None, "video_summary": summary.describe(),
            "timeline": timeline_figure(summary.times, summary.rows, summary.labels)}

# ---------------------------------------------------------------- page


def example_images() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(str(p) for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in EXAMPLE_SUFFIXES)


def build_demo() -> gr.Blocks:
    """The Blocks page; built at import, but loads no model until the first request (or Engine.warm_up())."""
    c: dict[str, Any] = {}  # output components by name
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
                        if example_images():
                            gr.Examples(examples=[[path] for path in example_images()], inputs=[photo],
                                        cache_examples=False, label="Examples (public domain)")
                    c["annotated"] = gr.Image(label="Faces", format="jpeg", interactive=False, elem_id="faces-output")
                with gr.Row():
                    for i in range(MAX_FACE_PANELS):
                        c[f"panel{i}"] = gr.Label(visible=False, elem_classes="face-panel", min_width=180)
                with gr.Accordion("Faces as JSON (fer-compatible, with landmarks)", open=False):
                    c["faces"] = gr.JSON(label="faces")
                gr.Markdown("### Why? Explanation maps")
                c["analysis"] = gr.State(None)
                with gr.Row():
                    c["face_picker"] = gr.Dropdown(choices=[], label="Face", interactive=True)
                    c["class_picker"] = gr.Dropdown(choices=[PREDICTED], value=PREDICTED, label="Class",
                                                    info="The class whose score is explained")
                    method = gr.Dropdown(choices=[(t, k) for k, t in METHODS.items()], value=default_explanation_method(),
                                         label="Method")
                with gr.Row():
                    c["explanation"] = gr.Image(label="Explanation", format="png", interactive=False,
                                                elem_id="explanation-output")
                    with gr.Column():
                        faithfulness_button = gr.Button("How faithful is this map?")
                        c["faithfulness_text"] = gr.Markdown(elem_id="faithfulness-text")
                        c["faithfulness_plot"] = gr.Plot(label="Deletion and insertion", elem_id="faithfulness-plot")
                        compare_button = gr.Button("Compare all methods (most faithful first)")
                        gallery = gr.Gallery(label="All methods", columns=len(METHODS), height="auto", format="png",
                                             interactive=False)
            with gr.Tab("Webcam"):
                c["stream_state"] = gr.State(None)
                with gr.Row():
                    webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam",
                                      elem_id="webcam-input", webcam_options=gr.WebcamOptions(
                                          mirror=True,
                                          constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
                    c["live"] = gr.Image(label="Live analysis", format="jpeg", interactive=False, elem_id="live-output")
                with gr.Row():
                    c["live_probabilities"] = gr.Label(label="Smoothed probabilities", elem_id="live-probabilities")
                    c["live_cam"] = gr.Image(label=f"Grad-CAM (every {LiveSession.cam_every} frames)", format="jpeg",
                                             interactive=False, elem_id="live-cam")
            with gr.Tab("Private mode"):
                ready = private_mode.is_prepared(WEB_DIR)  # checked when the page is built
                gr.Markdown(PRIVATE_MODE_NOTE if ready else PRIVATE_MODE_MISSING, elem_id="private-mode")
            with gr.Tab("Video"):
                with gr.Row():
                    with gr.Column():
                        video = gr.Video(sources=["upload"], label="Video")
                        every = gr.Slider(1, 30, value=5, step=1, label="Analyse every k-th frame")
                        video_button = gr.Button("Analyse video", variant="primary")
                    with gr.Column():
                        c["video_out"] = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
                        c["video_summary"] = gr.Markdown()
                c["timeline"] = gr.Plot(label="Emotion timeline")
        gr.Markdown(NOTE.format(detector={"yunet": "YuNet", "haar": "OpenCV Haar cascade"}.get(
            ENGINES.detector_name(), ENGINES.detector_name())))

        def outputs(*names: str) -> list:
            return [c[name] for name in names]

        photo_names = ["annotated", "faces", "explanation", "analysis", "face_picker", "class_picker",
                       *(f"panel{i}" for i in range(MAX_FACE_PANELS))]
        # Every event has an api_name; /predict is the documented photo endpoint.
        demo.load(model_card, [model_picker], [card], api_name="model_info_on_load")
        model_picker.change(model_card, [model_picker], [card], api_name="model_info")
        # A new photo or a new model re-analyses the photo (an empty photo just clears the outputs).
        gr.on([photo.change, model_picker.change], keyed(analyze_photo, c), [photo, model_picker, method],
              outputs(*photo_names), api_name="predict")
        gr.on([c["face_picker"].input, c["class_picker"].input, method.input], explain_face,
              [c["analysis"], c["face_picker"], c["class_picker"], method], [c["explanation"]], api_name="explain")
        faithfulness_button.click(keyed(check_faithfulness, c),
                                  [c["analysis"], c["face_picker"], c["class_picker"], method],
                                  outputs("faithfulness_text", "faithfulness_plot"), api_name="faithfulness")
        compare_button.click(explain_all_methods, [c["analysis"], c["face_picker"], c["class_picker"]], [gallery],
                             api_name="explain_all")
        webcam.stream(keyed(stream_frame, c), [webcam, c["stream_state"], model_picker],
                      outputs("live", "live_probabilities", "live_cam", "stream_state"), api_name="stream",
                      stream_every=STREAM_EVERY, time_limit=STREAM_TIME_LIMIT, concurrency_limit=STREAM_CONCURRENCY)
        video_button.click(keyed(analyze_video, c), [video, model_picker, every],
                           outputs("video_out", "timeline", "video_summary"), api_name="analyze_video",
                           concurrency_limit=1)
    return demo


demo = build_demo()


def warm_up() -> None:
    """Load the photo and webcam models (ONNX Runtime: a second or so) before serving, then their explainers
    (TensorFlow: several seconds) in a background thread while the page comes up; a photo that arrives
    sooner waits for its explanation only."""
    engines = []
    for source in dict.fromkeys([ENGINES.default_source(), ENGINES.stream_source()]):
        try:
            engine = get_engine(source)
            engine.warm_up(explanations=False)
            engines.append(engine)
        except FerError as error:
            # Keep serving: another model can still be picked on the page, which shows this error too.
            print(f"warning: the model {source} could not be loaded: {error}", file=sys.stderr)

    def load_explainers() -> None:
        for engine in engines:
            try:
                engine.warm_up()
            except FerError as error:
                print(f"warning: explanations of {engine.source} are unavailable: {error}", file=sys.stderr)

    threading.Thread(target=load_explainers, name="load-explainers", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    global demo, ENGINES
    parser = argparse.ArgumentParser(description="Serve the FER Explain Gradio app (no share links, no analytics).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on; 0.0.0.0 to serve other machines (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--model", help=f"default model source (overrides FER_MODEL; default {DEFAULT_MODEL})")
    parser.add_argument("--detector", choices=DETECTORS, help="face detector (overrides FER_DETECTOR; default yunet)")
    parser.add_argument("--no-warm-up", action="store_true", help="skip loading the model before serving")
    args = parser.parse_args(argv)
    if args.model or args.detector:
        ENGINES = EngineCache(args.model, args.detector)
        demo = build_demo()  # the model picker and the note show the new settings
    if not args.no_warm_up:
        warm_up()
    if not private_mode.is_prepared(WEB_DIR):
        print(f"note: private mode is off: {WEB_DIR} is not prepared (make web)", file=sys.stderr)
    bypass_proxy_for_localhost()
    demo.queue(default_concurrency_limit=2, max_size=64)
    routes = private_mode.routes(WEB_DIR, PRIVATE_MODE_PATH)
    # ssr_mode=False: on a Space (GRADIO_SSR_MODE=true) Gradio's Node server would front the public port and
    # answer /private/ with its own page instead of the private-mode routes and their isolation headers.
    demo.launch(server_name=args.host, server_port=args.port, share=False, max_file_size=MAX_FILE_SIZE,
                theme=gr.themes.Soft(), css=CSS, show_error=False, ssr_mode=False, app_kwargs={"routes": routes})


if __name__ == "__main__":
    main()
