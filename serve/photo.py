"""The Photo tab: every face boxed and classified, its explanation map, how faithful the map is, all methods side
by side."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import gradio as gr
import numpy as np

from fer.annotate import annotate_faces, fit_between, fit_within
from fer.errors import FerError, public_message
from fer.explain import DEFAULT_METHOD, METHODS, check_method
from fer.faces import to_rgb
from fer.pipeline import FrameAnalysis
from serve import common
from serve.engine import Engine
from serve.gradio_support import keyed, readable_upload_errors
from serve.memory import release_free_memory
from serve.settings import (EXAMPLE_SUFFIXES, EXAMPLES_DIR, LARGE_PHOTO_BYTES, MAX_CROP_SIDE, MAX_DISPLAY_SIDE,
                            MAX_FACE_PANELS, MIN_CROP_SIDE, PREDICTED)


@dataclasses.dataclass
class PhotoAnalysis:
    """What the explanation panel needs after a photo is analyzed (kept in session memory only)."""

    source: str
    analysis: FrameAnalysis

    @property
    def predictions(self):
        return self.analysis.faces


def _shown_panels(previous: PhotoAnalysis | None) -> int:
    """How many face panels the page shows now: one per face of the previous analysis, up to MAX_FACE_PANELS."""
    return min(len(previous.predictions), MAX_FACE_PANELS) if isinstance(previous, PhotoAnalysis) else 0


def _photo_outputs(annotated: np.ndarray | None = None, analysis: PhotoAnalysis | None = None,
                   explanation: np.ndarray | None = None, shown: int = 0) -> dict[str, Any]:
    """The outputs by name. `shown`: face panels visible before; only panels that appear or disappear get a
    property update (Gradio rebuilds the component and its config for each, 1-2 ms apiece: with 8 panels that
    was most of Gradio's own time per photo); the others get their new value, or None while hidden."""
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
        if i < len(faces):
            outputs[f"panel{i}"] = (faces[i].probabilities if i < shown else
                                    gr.update(value=faces[i].probabilities, label=panel_label(i), visible=True))
        else:
            outputs[f"panel{i}"] = gr.update(value=None, visible=False) if i < shown else None
    return outputs


def panel_label(index: int) -> str:
    return f"Face #{index + 1}"


def analyze_photo(image: Any, model_source: str | None = None, method: str = DEFAULT_METHOD,
                  previous: PhotoAnalysis | None = None) -> dict[str, Any]:
    """Photo handler: every face boxed and classified, with the explanation map of face #1. `previous`: the
    session's last analysis (its face panels are the ones on the page)."""
    shown = _shown_panels(previous)
    engine = common.engine_or_warn(model_source) if image is not None else None
    if engine is None:
        return _photo_outputs(shown=shown)
    try:
        frame = engine.recognizer.read(image)
    except FerError as error:
        common.warn(f"Cannot read this image: {public_message(error)}")
        return _photo_outputs(shown=shown)
    large = frame.nbytes >= LARGE_PHOTO_BYTES
    outputs = _analyze_frame(engine, frame, method, shown)
    del frame
    if large:
        release_free_memory()
    return outputs


def _analyze_frame(engine: Engine, frame: np.ndarray, method: str, shown: int) -> dict[str, Any]:
    """analyze_photo() once the photo is decoded."""
    analysis = engine.recognizer.analyze_frame(frame)
    display, scale = fit_within(frame, MAX_DISPLAY_SIDE)
    height, width = frame.shape[:2]
    if scale < 1.0:
        size = f"{display.shape[1]}×{display.shape[0]}"
        common.info(f"Large photo ({width}×{height}): analyzed at full size, shown at {size}.")
    if not analysis.faces:
        common.info("No face found. The detector needs a face of at least about 12 pixels; "
              + ("this image is tiny." if min(height, width) < 48 else "try a closer or better-lit photo."))
        return _photo_outputs(to_rgb(display), shown=shown)
    if analysis.found > analysis.kept:
        common.info(f"Found {analysis.found} faces; classified the {analysis.kept} largest.")
    if analysis.kept > MAX_FACE_PANELS:
        common.info(f"Showing panels for the first {MAX_FACE_PANELS} faces; the JSON lists all {analysis.kept}.")
    annotated = annotate_faces(display, analysis.faces, scale)
    # Session state keeps overlay-sized crops, not full-resolution ones.
    analysis.crops = [fit_between(crop, MIN_CROP_SIDE, MAX_CROP_SIDE) for crop in analysis.crops]
    photo = PhotoAnalysis(engine.source, analysis)
    return _photo_outputs(annotated, photo, _explain_or_warn(engine, photo, 0, None, method), shown)


def _explain_or_warn(engine: Engine, photo: PhotoAnalysis, index: int, label: str | None,
                     method: str) -> np.ndarray | None:
    try:
        explanation = engine.explain_face(photo.analysis, index, method, label)
    except ValueError as error:
        common.warn(str(error))
        return None
    if not explanation.evidence:
        # An all-zero map is a real outcome (every channel argues against the class): say so.
        common.info(f"{METHODS[check_method(method)]} found no positive evidence for '{explanation.label}' on this "
              "face; another method may show where the score comes from.")
    return explanation.image


def _explain_target(photo: PhotoAnalysis | None, face_index: Any,
                    class_choice: str | None) -> tuple[Engine, int, str | None] | None:
    """(engine, face index, label to explain; None: the predicted one), or None after saying what is wrong."""
    if photo is None or not photo.predictions:
        common.info("Analyze a photo with at least one face first.")
        return None
    try:
        index = int(face_index) if face_index not in (None, "") else 0
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(photo.predictions):
        common.warn(f"There is no face #{face_index}; pick one of 1–{len(photo.predictions)}.")
        return None
    engine = common.engine_or_warn(photo.source)
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
            explanation = engine.explain_face(photo.analysis, index, method, label)
        except ValueError as error:
            common.warn(str(error))
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
    _, heatmap = engine.heatmap(photo.analysis, index, method, label)
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
        common.warn(str(error))
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


def example_images() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(str(p) for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in EXAMPLE_SUFFIXES)


def tab(model_picker: gr.Dropdown) -> None:
    """The tab's components and events (inside gr.Blocks and gr.Tab)."""
    c: dict[str, Any] = {}  # output components by name
    with gr.Row():
        with gr.Column():
            photo = readable_upload_errors(gr.Image(type="filepath", sources=["upload", "clipboard"], label="Photo",
                                                    elem_id="photo-input"))
            if example_images():
                gr.Examples(examples=[[path] for path in example_images()], inputs=[photo], cache_examples=False,
                            label="Examples (public domain)")
        c["annotated"] = gr.Image(label="Faces", format="jpeg", interactive=False, elem_id="faces-output")
    with gr.Row():
        for i in range(MAX_FACE_PANELS):
            c[f"panel{i}"] = gr.Label(label=panel_label(i), visible=False, elem_classes="face-panel", min_width=180)
    with gr.Accordion("Faces as JSON (fer-compatible, with landmarks)", open=False):
        c["faces"] = gr.JSON(label="faces")
    gr.Markdown("### Why? Explanation maps")
    c["analysis"] = gr.State(None)
    with gr.Row():
        c["face_picker"] = gr.Dropdown(choices=[], label="Face", interactive=True)
        c["class_picker"] = gr.Dropdown(choices=[PREDICTED], value=PREDICTED, label="Class",
                                        info="The class whose score is explained")
        method = gr.Dropdown(choices=[(t, k) for k, t in METHODS.items()], value=common.default_explanation_method(),
                             label="Method")
    with gr.Row():
        # JPEG: the overlay is a smooth colour map on a photo; PNG took 15-20 ms per map to encode (64 KB against 7).
        c["explanation"] = gr.Image(label="Explanation", format="jpeg", interactive=False, elem_id="explanation-output")
        with gr.Column():
            faithfulness_button = gr.Button("How faithful is this map?")
            c["faithfulness_text"] = gr.Markdown(elem_id="faithfulness-text")
            c["faithfulness_plot"] = gr.Plot(label="Deletion and insertion", elem_id="faithfulness-plot")
            compare_button = gr.Button("Compare all methods (most faithful first)")
            gallery = gr.Gallery(label="All methods", columns=len(METHODS), height="auto", format="jpeg",
                                 interactive=False)
    names = ["annotated", "faces", "explanation", "analysis", "face_picker", "class_picker",
             *(f"panel{i}" for i in range(MAX_FACE_PANELS))]
    target = [c["analysis"], c["face_picker"], c["class_picker"]]
    # A new photo or a new model re-analyses the photo (an empty photo just clears the outputs); /predict is the
    # documented photo endpoint.
    gr.on([photo.change, model_picker.change], keyed(analyze_photo, c), [photo, model_picker, method, c["analysis"]],
          [c[name] for name in names], api_name="predict")
    gr.on([c["face_picker"].input, c["class_picker"].input, method.input], explain_face, [*target, method],
          [c["explanation"]], api_name="explain")
    faithfulness_button.click(keyed(check_faithfulness, c), [*target, method],
                              [c["faithfulness_text"], c["faithfulness_plot"]], api_name="faithfulness")
    compare_button.click(explain_all_methods, target, [gallery], api_name="explain_all")
