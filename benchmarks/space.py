"""Section: the built Hugging Face Space folder started as a Space starts it (python app.py from the folder, with
a Space's environment): seconds to its page and first photo, the photo round trip against a no-op handler, as the
app section measures the repository. docs/deploy.md publishes it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import app_start, latency
from benchmarks.context import Context

SPACE_ENVIRONMENT = {"SYSTEM": "spaces", "SPACE_ID": "benchmark/fer-explain", "GRADIO_SSR_MODE": "true"}


def measured_models(context: Context) -> list[str]:
    return app_start.measured_models(context)[:2]


def run(context: Context) -> dict:
    from deploy.space import build_gradio_space

    faces = latency.detectable_faces(context, 4)
    with tempfile.TemporaryDirectory() as folder:
        space = build_gradio_space(Path(folder) / "space")
        try:
            results = app_start.measure_app(Path(folder), space, context.detector, context.settings.app_requests,
                                            faces, SPACE_ENVIRONMENT)
        except RuntimeError as error:
            return {"error": str(error)[-2000:]}
    results["built_from"] = "python -m deploy.space (the tracked tree of this checkout)"
    return results


def table(results: dict) -> list[str]:
    if "error" in results:
        return [f"error: {results['error']}"]
    return [f"built Space folder: {app_start.start_line(results, targets=False)}",
            f"photo round trip: {results['served_photo_request_ms']:.0f} ms, no-op handler "
            f"{results['noop_photo_request_ms']:.0f} ms ({results['photo_ratio']:.2f}x)",
            *app_start.round_trip_lines(results)]
