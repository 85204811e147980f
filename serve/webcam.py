"""The Webcam tab: the browser camera's frames analyzed on the server, smoothed per tracked face, with a Grad-CAM
strip every N frames."""

from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr
import numpy as np

from fer.annotate import fit_within
from fer.errors import FerError
from fer.live import LiveSession
from serve import common
from serve.settings import MAX_STREAM_SIDE
from serve.gradio_support import keyed
from serve.settings import STREAM_CONCURRENCY, STREAM_EVERY, STREAM_TIME_LIMIT


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
        engine = common.get_engine(common.ENGINES.stream_source(model_source))  # the live model unless the visitor picked one
        image = fit_within(engine.recognizer.read(frame), MAX_STREAM_SIDE)[0]
    except FerError as error:
        if not state.warned:  # once per session, not once per frame
            common.warn(f"Webcam analysis stopped: {error}")
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


def tab(model_picker: gr.Dropdown) -> None:
    """The tab's components and events (inside gr.Blocks and gr.Tab)."""
    c: dict[str, Any] = {"stream_state": gr.State(None)}
    with gr.Row():
        webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="webcam-input",
                          webcam_options=gr.WebcamOptions(
                              mirror=True, constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
        c["live"] = gr.Image(label="Live analysis", format="jpeg", interactive=False, elem_id="live-output")
    with gr.Row():
        c["live_probabilities"] = gr.Label(label="Smoothed probabilities", elem_id="live-probabilities")
        c["live_cam"] = gr.Image(label=f"Grad-CAM (every {LiveSession.cam_every} frames)", format="jpeg",
                                 interactive=False, elem_id="live-cam")
    webcam.stream(keyed(stream_frame, c), [webcam, c["stream_state"], model_picker],
                  [c["live"], c["live_probabilities"], c["live_cam"], c["stream_state"]], api_name="stream",
                  stream_every=STREAM_EVERY, time_limit=STREAM_TIME_LIMIT, concurrency_limit=STREAM_CONCURRENCY)
