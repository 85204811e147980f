"""FER Explain: a Gradio app that boxes every face, names its expression and shows why (photo, webcam, video,
private mode). The Space's entry point: the page comes from serve/ (one module per tab), the models from the fer
library; this file builds `demo` and launches it."""

from __future__ import annotations

import argparse
import os
import sys
import threading

# Set before gradio is imported: it reads these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402

from fer.errors import FerError  # noqa: E402
from fer.faces import DETECTORS  # noqa: E402
from fer.model.sources import DEFAULT_MODEL  # noqa: E402
from serve import common, private, private_mode  # noqa: E402
from serve.engine import EngineCache  # noqa: E402
from serve.gradio_support import bypass_proxy_for_localhost  # noqa: E402
from serve.page import CSS, build_demo  # noqa: E402
from serve.photo import analyze_photo, check_faithfulness, explain_all_methods, explain_face  # noqa: E402, F401
from serve.settings import MAX_FILE_SIZE, WEB_DIR  # noqa: E402
from serve.video import analyze_video  # noqa: E402, F401
from serve.webcam import stream_frame  # noqa: E402, F401

# The handlers above are importable from here too (`from app import analyze_photo`), as the tests and scripts use them.
get_engine, model_card, default_model_source = common.get_engine, common.model_card, common.default_model_source

demo = build_demo()


def warm_up() -> None:
    """Load the photo and webcam models (ONNX Runtime: a second or so) before serving. A model whose default
    explanation runs on ONNX Runtime (Grad-CAM from gradcam.onnx or class maps: every shipped one) loads its
    explainer (TensorFlow: several seconds, several hundred MB) only when a visitor asks for another method;
    the others load it in a background thread while the page comes up, and a photo that arrives sooner waits
    for its explanation only."""
    engines = []
    for source in dict.fromkeys([common.ENGINES.default_source(), common.ENGINES.stream_source()]):
        try:
            engine = common.get_engine(source)
            engine.warm_up(explanations=False)
            engines.append(engine)
        except FerError as error:
            # Keep serving: another model can still be picked on the page, which shows this error too.
            print(f"warning: the model {source} could not be loaded: {error}", file=sys.stderr)

    def load_explainers() -> None:
        for engine in engines:
            if not engine.default_explanation_needs_tensorflow():
                continue
            try:
                engine.warm_up()
            except FerError as error:
                print(f"warning: explanations of {engine.source} are unavailable: {error}", file=sys.stderr)

    threading.Thread(target=load_explainers, name="load-explainers", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    global demo
    parser = argparse.ArgumentParser(description="Serve the FER Explain Gradio app (no share links, no analytics).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on; 0.0.0.0 to serve other machines (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--model", help=f"default model source (overrides FER_MODEL; default {DEFAULT_MODEL})")
    parser.add_argument("--detector", choices=list(DETECTORS),
                        help="face detector (overrides FER_DETECTOR; default yunet)")
    parser.add_argument("--no-warm-up", action="store_true", help="skip loading the model before serving")
    args = parser.parse_args(argv)
    if args.model or args.detector:
        common.ENGINES = EngineCache(args.model, args.detector)
        demo = build_demo()  # the model picker and the note show the new settings
    if not args.no_warm_up:
        warm_up()
    if not private_mode.is_prepared(WEB_DIR):
        print(f"note: private mode is off: {WEB_DIR} is not prepared (make web)", file=sys.stderr)
    bypass_proxy_for_localhost()
    demo.queue(default_concurrency_limit=2, max_size=64)
    # ssr_mode=False: on a Space (GRADIO_SSR_MODE=true) Gradio's Node server would front the public port and
    # answer /private/ with its own page instead of the private-mode routes and their isolation headers.
    demo.launch(server_name=args.host, server_port=args.port, share=False, max_file_size=MAX_FILE_SIZE,
                theme=gr.themes.Soft(), css=CSS, show_error=False, ssr_mode=False,
                app_kwargs={"routes": private.routes()})


if __name__ == "__main__":
    main()
