"""The Video tab: every k-th frame of an upload analyzed, an annotated WebM and a timeline of each expression."""

from __future__ import annotations

from typing import Any

import gradio as gr

from fer.annotate import timeline_figure
from fer.errors import FerError, public_message
from fer.video import VideoReader, VideoWriter, annotate_video, temporary_output_path
from serve import common
from serve.gradio_support import keyed
from serve.memory import release_free_memory
from serve.settings import VIDEO_MAX_SECONDS, VIDEO_MAX_SIDE, VIDEO_OUTPUT_MAX_AGE


def analyze_video(video: str | None, model_source: str | None = None, every: int = 5,
                  progress: gr.Progress = gr.Progress()) -> dict[str, Any]:
    """Video handler: analyze every `every`-th frame; an annotated .webm, the timeline and a summary."""
    empty = {"video_out": None, "timeline": None, "video_summary": ""}
    engine = common.engine_or_warn(model_source) if video else None
    if engine is None:
        return empty
    every = max(1, int(every or 1))
    try:
        reader = VideoReader(video, max_side=VIDEO_MAX_SIDE, max_seconds=VIDEO_MAX_SECONDS)
    except FerError as error:
        common.warn(public_message(error))
        return empty
    progress(0.0, desc="Analyzing frames")
    with reader, VideoWriter(temporary_output_path(VIDEO_OUTPUT_MAX_AGE), reader.info.fps) as writer:
        summary = annotate_video(engine.recognizer, reader, writer, every, lambda done, total: progress(
            (done, total or None), desc="Analyzing frames", unit="frames"))
    release_free_memory()  # the decoded frames' buffers (a few ms against a request of seconds)
    if summary.frames_read == 0:
        common.warn("No frames could be read from this video.")
        return empty
    if not writer.opened:
        common.warn("This server's OpenCV cannot write WebM video; the timeline is still shown.")
    if reader.truncated:
        common.info(f"Only the first {VIDEO_MAX_SECONDS} s of the video were analyzed.")
    if not summary.faces_seen:
        common.info("No face was found in the analyzed frames.")
    return {"video_out": str(writer.path) if writer.opened else None, "video_summary": summary.describe(),
            "timeline": timeline_figure(summary.times, summary.rows, summary.labels)}


def tab(model_picker: gr.Dropdown) -> None:
    """The tab's components and events (inside gr.Blocks and gr.Tab)."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            video = gr.Video(sources=["upload"], label="Video")
            every = gr.Slider(1, 30, value=5, step=1, label="Analyze every k-th frame")
            button = gr.Button("Analyze video", variant="primary")
        with gr.Column():
            c["video_out"] = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
            c["video_summary"] = gr.Markdown()
    c["timeline"] = gr.Plot(label="Emotion timeline")
    button.click(keyed(analyze_video, c), [video, model_picker, every],
                 [c["video_out"], c["timeline"], c["video_summary"]], api_name="analyze_video", concurrency_limit=1)
