"""The whole page: the model picker and card above one tab per mode, and the note on what it does and cannot do."""

from __future__ import annotations

import gradio as gr

from serve import common, photo, private, video, webcam

NOTE = """\
**What this does.** Finds faces with the {detector} detector, levels the eyes and classifies each face's
*expression* into the model's labels; the explanation maps show which pixels drove that score. **What it cannot
do.** It does not read feelings, intentions or honesty: a posed or culturally different expression, a profile
view, poor light or a small face all mislead it, and its accuracy (shown with the model) is measured on one
dataset. **Privacy.** Photos, webcam frames and videos are analyzed in memory and not stored: the only copies
are in Gradio's temporary cache (and the annotated video), deleted within the hour. **Do not use it for
decisions about people** (hiring, policing, health, education, security).
"""
CSS = "#model-card {font-size: 0.9em} .face-panel {min-width: 180px}"
DETECTOR_NAMES = {"yunet": "YuNet", "haar": "OpenCV Haar cascade"}


def build_demo() -> gr.Blocks:
    """The Blocks page; built at import, but loads no model until the first request (or app.warm_up())."""
    with gr.Blocks(title="FER Explain", analytics_enabled=False, delete_cache=(600, 1800)) as demo:
        gr.Markdown("# FER Explain\nEvery face boxed with its expression — and a map of *why* the model thinks so.")
        with gr.Row():
            model_picker = gr.Dropdown(choices=common.model_choices(), value=common.default_model_source(),
                                       allow_custom_value=True, label="Model", scale=1,
                                       info="A bundled model, a local model folder, or hf://owner/repo@revision")
            card = gr.Markdown(elem_id="model-card")
        with gr.Tabs():
            with gr.Tab("Photo"):
                photo.tab(model_picker)
            with gr.Tab("Webcam"):
                webcam.tab(model_picker)
            with gr.Tab("Private mode"):
                private.tab()
            with gr.Tab("Video"):
                video.tab(model_picker)
        detector = common.ENGINES.detector_name()
        gr.Markdown(NOTE.format(detector=DETECTOR_NAMES.get(detector, detector)))
        # Every event has an api_name.
        demo.load(common.model_card, [model_picker], [card], api_name="model_info_on_load")
        model_picker.change(common.model_card, [model_picker], [card], api_name="model_info")
    return demo
