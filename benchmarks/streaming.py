"""Section 4: frames/s of the app's webcam handler, called in a loop with per-session state as Gradio does.

The loop runs in a child process (`python -m benchmarks.streaming`), so that its peak memory is that of
the app's code while streaming, not of this benchmark, and so that Gradio stays out of this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks import frames, latency
from benchmarks.context import Context
from benchmarks.processes import GIB, REPO_ROOT, memory_status, run_json_child

TARGET_FPS = 10.0
FACE_COUNTS = (1, 4)
HANDLER = "stream_frame"  # app.py's webcam .stream() handler
STATE = "stream_state"  # the key of the per-session state in the dict the handler returns


def available() -> bool:
    return (REPO_ROOT / "app.py").is_file()


def measured_models(context: Context) -> list[str]:
    """What app.stream_frame serves for the source it is given (the webcam's choice of model)."""
    from serve.engine import EngineCache

    return [EngineCache().stream_source(context.model_source)]


def run(context: Context) -> dict:
    if not available():
        return {"skipped": "app.py is not in this checkout"}
    faces = latency.detectable_faces(context, max(FACE_COUNTS))
    arguments = ["--source", context.model_source, "--frames", str(context.settings.stream_frames)]
    for count in FACE_COUNTS:
        path = context.workdir / f"stream-{count}.npy"
        np.save(path, frames.compose(faces[:count]).image)
        arguments += ["--frame", f"{count}={path}"]
    # The app picks its detector from FER_DETECTOR (its --detector flag's environment twin).
    result = run_json_child("benchmarks.streaming", arguments, timeout=600, FER_DETECTOR=context.detector)
    result.update(model=context.model_note, detector=context.detector, target_fps=TARGET_FPS)
    return result


def table(results: dict) -> list[str]:
    if "skipped" in results:
        return [f"skipped: {results['skipped']}"]
    lines = ["faces | sustained fps | median frame ms | slowest frame ms (Grad-CAM refresh)"]
    for row in results["rows"]:
        lines.append(f"{row['faces']} | {row['sustained_fps']:.1f} | {row['median_frame_ms']:.1f} | "
                     f"{row['max_frame_ms']:.1f}")
    lines.append(f"peak RSS of the streaming process: {results['peak_rss_bytes'] / GIB:.2f} GiB "
                 f"(target fps >= {results['target_fps']:.0f})")
    return lines


def stream(handler, frame: np.ndarray, source: str, count: int, warmup: int = 5) -> dict:
    """Feed `count` frames (the frame and a copy moved by 4 px, alternately) through one session."""
    moved = np.roll(frame, 4, axis=1)
    state = None
    for index in range(warmup):
        state = handler(frame if index % 2 == 0 else moved, state, source)[STATE]
    state = None  # a fresh session, as a new visitor would start
    durations = []
    start = time.perf_counter()
    for index in range(count):
        begin = time.perf_counter()
        state = handler(frame if index % 2 == 0 else moved, state, source)[STATE]
        durations.append(time.perf_counter() - begin)
    total = time.perf_counter() - start
    return {"frames": count, "sustained_fps": round(count / total, 2),
            "median_frame_ms": round(statistics.median(durations) * 1000, 2),
            "max_frame_ms": round(max(durations) * 1000, 2), "tracks": len(state.live.tracker.tracks)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Child process: time app.stream_frame on saved frames.")
    parser.add_argument("--source", required=True, help="model source passed to the handler")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--frame", action="append", default=[], help="FACES=path.npy (an RGB 640x480 frame)")
    args = parser.parse_args(argv)
    import app  # the app module builds its Blocks at import; nothing is served

    handler = getattr(app, HANDLER)
    rows = []
    for item in args.frame:
        faces, _, path = item.partition("=")
        rows.append({"faces": int(faces), **stream(handler, np.load(Path(path)), args.source, args.frames)})
    memory = memory_status()
    print(json.dumps({"handler": f"app.{HANDLER}", "rows": rows, "peak_rss_bytes": memory.get("VmHWM", 0),
                      "note": "frames alternate with a copy moved 4 px; Grad-CAM strips refresh as the app sets"}))


if __name__ == "__main__":
    main()
