"""Private mode: frames/s of the page (web/) in Chromium on a fake camera with 1 and 4 faces, on this machine.

The page runs YuNet and the expression model with ONNX Runtime Web (WASM with SIMD, one thread per analysis worker)
on the same 640x480 frames as the webcam-handler section, served cross-origin isolated as the app serves it; each
row is one number of analysis workers (?workers=N). Frames per second are those the page itself shows: camera
frames analysed and drawn per second. `python -m benchmarks.web [--seconds S] [--workers N ...]` runs it alone on
the example faces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import frames
from benchmarks.load import BROWSER_FLAGS, CHROMIUM, write_y4m
from benchmarks.processes import REPO_ROOT

FACE_COUNTS = (1, 4)
TARGET_FPS = 15.0
CAMERA_FPS = 30
SITE = REPO_ROOT / "web"
STAGES = ("grab", "detect", "crop", "classify", "draw")
# One analysis worker is the page's choice on a 2-core machine; two are measured beside it to show why.
WORKERS = (1, 2)


def available() -> str | None:
    """None when the page can be measured, else why not."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not (SITE / "runtime").is_dir() or not (SITE / "models" / "pipeline.json").is_file():
        return "web/ is not prepared (make web)"
    return None


def camera(frame: np.ndarray, path: Path) -> Path:
    """A 30 fps clip alternating the frame and a copy moved by 4 px (as the webcam-handler section feeds it)."""
    moved = np.roll(frame, 4, axis=1)
    return write_y4m(path, [frame if index % 2 == 0 else moved for index in range(CAMERA_FPS)], fps=CAMERA_FPS)


def measure_page(clip: Path, url: str, seconds: float, warmup_frames: int = 10) -> dict:
    """Start the page's camera on `clip` and read its frame counter and stage timings for `seconds`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=[*BROWSER_FLAGS, f"--use-file-for-fake-video-capture={clip}"])
        try:
            page = browser.new_context(permissions=["camera"]).new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            page.wait_for_selector("body[data-ready]")
            if page.evaluate("document.body.dataset.ready") != "true":
                raise RuntimeError(f"the page did not load: {page.inner_text('#status')}")
            page.click("#camera")
            page.wait_for_function(f"window.ferPrivate.stats().frames >= {warmup_frames}")
            first, start = page.evaluate("window.ferPrivate.stats()"), time.perf_counter()
            samples, faces = {stage: [] for stage in STAGES}, []
            while time.perf_counter() - start < seconds:
                page.wait_for_timeout(250)
                stats = page.evaluate("window.ferPrivate.stats()")
                faces.append(stats["faces"])
                for stage in STAGES:
                    samples[stage].append(stats["timings"][stage])
            last, elapsed = page.evaluate("window.ferPrivate.stats()"), time.perf_counter() - start
            shown = page.inner_text("#fps")
            page.click("#camera")
        finally:
            browser.close()
    return {"fps": round((last["frames"] - first["frames"]) / elapsed, 2), "frames": last["frames"] - first["frames"],
            "seconds": round(elapsed, 1), "faces_found": statistics.mode(faces),
            **{f"{stage}_ms": round(statistics.median(values), 1) for stage, values in samples.items()},
            "workers": last["workers"], "threads": last["threads"], "cross_origin_isolated": last["crossOriginIsolated"],
            "page_shows": shown}


def measure(frames_by_count: dict[int, np.ndarray], seconds: float, workers: tuple[int, ...] = WORKERS) -> dict:
    """One row per face count and number of analysis workers."""
    from web.serve import serving

    rows = []
    with tempfile.TemporaryDirectory() as folder, serving(SITE, isolated=True) as url:
        for count, frame in frames_by_count.items():
            clip = camera(frame, Path(folder) / f"faces-{count}.y4m")
            for worker_count in workers:
                rows.append({"faces": count, **measure_page(clip, f"{url}index.html?workers={worker_count}", seconds)})
    return {"rows": rows, "target_fps": TARGET_FPS, "camera_fps": CAMERA_FPS, "browser": str(CHROMIUM),
            "note": "fps = camera frames the page analysed and drew per second; stage times are medians of "
                    "the page's own per-frame timings; the camera delivers 30 fps, so 30 is the ceiling"}


def run(context) -> dict:
    from benchmarks import latency

    reason = available()
    if reason:
        return {"skipped": reason}
    faces = latency.detectable_faces(context, max(FACE_COUNTS))
    composed = {count: frames.compose(faces[:count]).image for count in FACE_COUNTS}
    seconds = 6.0 if context.settings.quick else 20.0
    result = measure(composed, seconds)
    result["frames"] = frames.composition_note(context.face_source)
    return result


def table(results: dict) -> list[str]:
    if "skipped" in results:
        return [f"skipped: {results['skipped']}"]
    lines = ["faces (found) | workers | fps | median ms: grab / detect / crop / classify / draw"]
    for row in results["rows"]:
        lines.append(f"{row['faces']} ({row['faces_found']}) | {row['workers']} | {row['fps']:.1f} | "
                     f"{row['grab_ms']:.0f} / {row['detect_ms']:.0f} / {row['crop_ms']:.0f} / "
                     f"{row['classify_ms']:.0f} / {row['draw_ms']:.0f}")
    isolated = all(row["cross_origin_isolated"] for row in results["rows"])
    lines.append(f"WASM in headless Chromium, page {'cross-origin isolated' if isolated else 'not isolated'}; "
                 f"camera {results['camera_fps']} fps; target >= {results['target_fps']:.0f} fps with 1 face")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per row (after warm-up)")
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS),
                        help="numbers of analysis workers to try (default: %(default)s)")
    args = parser.parse_args(argv)
    reason = available()
    if reason:
        raise SystemExit(f"cannot measure the page: {reason}")
    faces = frames.example_faces()
    composed = {count: frames.compose([faces[i % len(faces)] for i in range(count)]).image for count in FACE_COUNTS}
    results = measure(composed, args.seconds, tuple(args.workers))
    print("\n".join(table(results)))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; faces: crops of the examples/ photos")


if __name__ == "__main__":
    main()
