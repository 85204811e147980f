"""Section: the app's webcam tab in Chromium against a no-op stream handler, in the same run.

One page streams a 640x480 fake camera (30 fps, one face) into the served app's Webcam tab, and counts the
analyzed frames its output shows per second; then one page does the same on a Gradio app with the same webcam
components and stream settings whose handler sends the frame straight back (the ceiling the browser, Gradio's
queue and the JPEG round trip allow). The two run one after the other, never together, so neither takes the
other's cores. The target: the app shows at least 90% of the no-op handler's frames/s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import load
from benchmarks.context import Context
from fer.model.sources import DEFAULT_MODEL

TARGET_SHARE = 0.9
CAMERA_FPS = 30


def measured_models(context: Context) -> list[str]:
    """The app runs with its defaults here (the webcam's own model), whatever model the other sections time."""
    from serve.engine import EngineCache

    return [EngineCache().stream_source()]


def page_rate(url: str, has_tabs: bool, camera: Path, seconds: float, settle: float) -> dict:
    """Frames/s one streaming page shows over `seconds`, after `settle` seconds for the first frames."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(load.CHROMIUM), headless=True,
                                             args=[*load.BROWSER_FLAGS, f"--use-file-for-fake-video-capture={camera}"])
        try:
            _, page, record = load.open_stream(browser, url, has_tabs=has_tabs)
            page.wait_for_timeout(int((settle + seconds) * 1000))
            rate = page.evaluate(load.FRAME_RATE, int(seconds * 1000))
            record.click(timeout=5_000)
        finally:
            browser.close()
    return {"fps": round(rate["frames"] / seconds, 2), "frames": rate["frames"], "seconds": seconds}


def run(context: Context) -> dict:
    if not load.CHROMIUM.exists():
        return {"skipped": f"{load.CHROMIUM} is not installed"}
    seconds, settle = (8.0, 4.0) if context.settings.quick else (30.0, 6.0)
    settings = load.app_settings()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        camera = load.camera_clip(folder, CAMERA_FPS)
        with load.serve_noop(folder / "noop.log") as (url, _):
            noop = page_rate(url, False, camera, seconds, settle)
        with load.serve_app(DEFAULT_MODEL, folder / "app.log") as (url, _):
            app = page_rate(url, True, camera, seconds, settle)
    share = app["fps"] / noop["fps"] if noop["fps"] else 0.0
    return {"stream_every": settings["STREAM_EVERY"], "camera_fps": CAMERA_FPS, "faces": 1, "app": app, "noop": noop,
            "share": round(share, 3), "target_share": TARGET_SHARE, "met": share >= TARGET_SHARE,
            "stream_model": measured_models(context)[0]}


def table(results: dict) -> list[str]:
    if "skipped" in results:
        return [f"skipped: {results['skipped']}"]
    return ["handler | frames/s shown | share of the no-op handler",
            f"app webcam ({results['stream_model']}, 1 face, Grad-CAM strip on) | {results['app']['fps']:.1f} | "
            f"{results['share']:.0%} (target {results['target_share']:.0%}: {'met' if results['met'] else 'not met'})",
            f"no-op handler (same components, stream_every {results['stream_every']}) | {results['noop']['fps']:.1f} | 100%",
            f"{results['camera_fps']}-fps fake camera, 640x480, {results['app']['seconds']:.0f} s per page, one page at "
            "a time"]
