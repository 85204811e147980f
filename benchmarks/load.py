"""The served app under load, on loopback only, every loop bounded in count and time.

1. Clients: `python app.py` in a child process; N gradio_client clients call /predict at once with real photos
   and hostile files (corrupt, non-image, empty, decompression bomb, over the upload limit, tiny, no face,
   many faces, very large). Latency percentiles, requests served, errors for valid inputs (must be 0), the
   message each hostile file gets, and the app's resident memory after warm-up and at the end.
2. Browser: real Chromium pages (Debian's /usr/bin/chromium, Playwright, a fake camera) stream the webcam tab
   at once; each counts, in the page, the processed frames that come back per second. A page on a no-op
   stream handler (same Gradio components and settings, the frame sent straight back) in the same run is the
   ceiling.

`python -m benchmarks.load` runs both at full size on its own; `python -m benchmarks.run --only load` runs it
as a benchmark section; `python -m benchmarks.load --serve-noop PORT` serves the ceiling app.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from benchmarks.processes import GIB, REPO_ROOT, child_environment, memory_status, served

EXAMPLES = REPO_ROOT / "examples"
CHROMIUM = Path("/usr/bin/chromium")
PREDICT = "/predict"
MAX_UPLOAD_BYTES = 20 * 1024 ** 2  # app.py's MAX_FILE_SIZE ("20mb")
REQUEST_TIMEOUT = 120.0
START_TIMEOUT = 300.0
FPS_TARGET = 10.0
MEMORY_GROWTH_LIMIT = 0.10
FULL = dict(clients=8, seconds=120.0, min_requests=1000, max_seconds=600.0, warm_up=100, pages=4, stream_seconds=30.0,
            settle=5.0)
SHORT = dict(clients=3, seconds=20.0, min_requests=0, max_seconds=20.0, warm_up=10, pages=2, stream_seconds=6.0,
             settle=3.0)
# Chromium flags: a fake camera playing a file, no throttling of pages that are not in front.
BROWSER_FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", "--disable-background-timer-throttling",
                 "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]


@dataclasses.dataclass(frozen=True)
class Upload:
    """A file a client sends to /predict; `valid` ones must be answered without an error."""

    name: str
    path: Path
    valid: bool
    what: str


def letterboxed(image: np.ndarray, side: int) -> np.ndarray:
    """The image fitted into a grey side x side square."""
    scale = side / max(image.shape[:2])
    resized = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((side, side, 3), 128, np.uint8)
    top, left = (side - resized.shape[0]) // 2, (side - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def example(name: str) -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES / name).convert("RGB"))


def make_uploads(folder: Path) -> list[Upload]:
    """Real photos (valid) and hostile files, written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    hopper, astronaut = example("grace_hopper.jpg"), example("astronaut.jpg")
    faces = [letterboxed(hopper, 160), letterboxed(astronaut, 160)]
    grid = np.concatenate([np.concatenate([faces[(row + col) % 2] for col in range(6)], axis=1) for row in range(4)])
    photo_bytes = (EXAMPLES / "grace_hopper.jpg").read_bytes()
    files: list[tuple[str, bool, str, object]] = [
        ("grace_hopper.jpg", True, "portrait photo, one face", hopper),
        ("astronaut.jpg", True, "portrait photo, one face", astronaut),
        ("two_faces.jpg", True, "two photos side by side", np.concatenate([faces[0], faces[1]], axis=1)),
        ("many_faces.jpg", True, "24 faces in a 6x4 grid", grid),
        ("no_face.jpg", True, "a photo without a face", hopper[400:]),
        ("tiny.png", True, "a 24x24 image", np.zeros((24, 24, 3), np.uint8)),
        ("large.jpg", True, "a 6000x4500 photo (27 MP)", cv2.resize(hopper, (6000, 4500))),
        ("corrupt.jpg", False, "a JPEG cut to a third of its bytes", photo_bytes[:len(photo_bytes) // 3]),
        ("not_an_image.png", False, "text named .png", b"this is not a png"),
        ("empty.png", False, "an empty file", b""),
        ("bomb.png", False, "a 20000x20000 PNG (decompression bomb, 0.4 MB on disk)", None),
        ("oversized.png", False, "a 23 MB PNG, over the 20 MB upload limit", None),
    ]
    uploads = []
    for name, valid, what, content in files:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            Image.fromarray(content).save(path, quality=90)
        elif name == "bomb.png":
            Image.new("L", (20000, 20000)).save(path)
        else:  # noise does not compress: a PNG over the upload limit
            Image.fromarray(np.random.default_rng(0).integers(0, 256, (2800, 2800, 3), np.uint8)).save(path)
        uploads.append(Upload(name, path, valid, what))
    return uploads


# ---------------------------------------------------------------- the app in a child process


@contextlib.contextmanager
def serve(command: list[str], log: Path, **environment: str) -> Iterator[tuple[str, int]]:
    """Run a server command (given a free port as its last argument) from the repository; yield (url, pid)."""
    with served(command, log, env=child_environment(**environment), timeout=START_TIMEOUT) as (url, process):
        yield url, process.pid


# The app's environment as deployed: the Dockerfile and `make app` set these (measured without them, the memory
# figures would describe a server nobody runs).
DEPLOYED_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


def serve_app(model_source: str, log: Path):
    return serve([sys.executable, "app.py", "--host", "127.0.0.1", "--port"], log, **DEPLOYED_ENVIRONMENT,
                 FER_MODEL=model_source)


def serve_noop(log: Path):
    return serve([sys.executable, "-m", "benchmarks.load", "--serve-noop"], log)


# ---------------------------------------------------------------- clients


@dataclasses.dataclass
class Outcome:
    name: str
    valid: bool
    seconds: float
    error: str | None
    messages: list[str]
    faces: int | None
    finished: float  # time.monotonic() when the answer came


def call_predict(client, url: str, upload: Upload, model_source: str) -> Outcome:
    """One /predict call; the error text or the Info / Warning messages the page would show."""
    from gradio_client import handle_file
    from gradio_client.utils import StatusUpdate

    start = time.perf_counter()
    error, messages, faces = None, [], None
    if upload.path.stat().st_size > MAX_UPLOAD_BYTES:
        # gradio_client refuses such files itself, so post it to the upload route as a browser would.
        import httpx

        with open(upload.path, "rb") as stream:
            response = httpx.post(f"{url}gradio_api/upload", files={"files": (upload.name, stream, "image/png")},
                                  timeout=REQUEST_TIMEOUT)
        error = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
    else:
        job = client.submit(handle_file(str(upload.path)), model_source, "gradcam", api_name=PREDICT)
        try:
            faces = len(job.result(timeout=REQUEST_TIMEOUT)[1])
        except Exception as caught:  # AppError carries the app's message; anything else is reported as is
            error = str(caught) if type(caught).__name__ == "AppError" else f"{type(caught).__name__}: {caught}"
        updates = job.communicator.updates if job.communicator else None
        while updates is not None and not updates.empty():
            update = updates.get_nowait()
            if isinstance(update, StatusUpdate) and update.log:
                messages.append(f"{update.log[1]}: {update.log[0]}")
    return Outcome(upload.name, upload.valid, time.perf_counter() - start, error, messages, faces, time.monotonic())


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
    return {"p50_ms": round(pick(0.5) * 1000, 1), "p95_ms": round(pick(0.95) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1), "n": len(values)}


def is_refused(outcome: Outcome) -> bool:
    """Turned away with a reason: an error, or a warning shown instead of a result."""
    return outcome.error is not None or any(message.startswith("warning") for message in outcome.messages)


def answer(outcome: Outcome) -> str:
    return outcome.error or "; ".join(outcome.messages) or f"{outcome.faces} face(s)"


def run_clients(url: str, pid: int, model_source: str, uploads: list[Upload], clients: int, seconds: float,
                min_requests: int = 0, max_seconds: float | None = None, warm_up: int = 100) -> dict:
    """Every file once in turn (its answer), then `clients` threads call /predict at once for `seconds` (or longer,
    up to `max_seconds`, until `min_requests` have been served after the first `warm_up` concurrent ones), each
    going round the files from its own offset. Memory: the app's RSS before any request, after the warm-up
    requests and at the end."""
    from gradio_client import Client

    def client() -> Client:
        return Client(url, verbose=False, download_files=False, analytics_enabled=False)

    memory = {"start": memory_status(pid).get("VmRSS", 0)}
    first_client = client()
    first = {upload.name: call_predict(first_client, url, upload, model_source) for upload in uploads}
    outcomes: list[Outcome] = []
    samples: list[tuple[float, int, int]] = []  # (seconds since start, requests answered, RSS)
    lock, stop = threading.Lock(), threading.Event()
    started = time.monotonic()
    max_seconds = max(seconds, max_seconds or seconds)
    # Two real photos, then a hostile (or very large) file, and so on: each client goes round this list.
    photos = [u for u in uploads if u.valid and u.name != "large.jpg"] * 2
    others = [u for u in uploads if not u.valid or u.name == "large.jpg"]
    order = [item for i in range(max(len(photos) // 2, len(others)))
             for item in (photos[(2 * i) % len(photos)], photos[(2 * i + 1) % len(photos)], others[i % len(others)])]

    def done() -> bool:
        elapsed = time.monotonic() - started
        return elapsed >= max_seconds or (elapsed >= seconds and len(outcomes) - warm_up >= min_requests)

    def work(offset: int) -> None:
        caller, step = client(), offset
        while not stop.is_set() and not done():
            outcome = call_predict(caller, url, order[step % len(order)], model_source)
            step += 1
            with lock:
                outcomes.append(outcome)
                if len(outcomes) == warm_up:
                    memory["after_warm_up"] = memory_status(pid).get("VmRSS", 0)

    def watch() -> None:
        while not stop.wait(1.0):
            samples.append((round(time.monotonic() - started, 1), len(outcomes), memory_status(pid).get("VmRSS", 0)))

    threads = [threading.Thread(target=work, args=(index * len(order) // clients,), daemon=True)
               for index in range(clients)]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 2 * REQUEST_TIMEOUT)
    stop.set()
    watcher.join(timeout=5)
    elapsed = time.monotonic() - started
    final = memory_status(pid)
    memory["end"], memory["peak"] = final.get("VmRSS", 0), final.get("VmHWM", 0)
    valid = [o for o in outcomes if o.valid]
    by_file = {}
    for upload in uploads:
        mine = [o for o in outcomes if o.name == upload.name]
        by_file[upload.name] = {"what": upload.what, "valid": upload.valid, "requests": len(mine),
                                "errors": sum(o.error is not None for o in mine),
                                "refused": sum(is_refused(o) for o in mine),
                                **percentiles([o.seconds for o in mine]), "answer": answer(first[upload.name])}
    baseline = memory.get("after_warm_up")
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(outcomes),
        "requests_per_second": round(len(outcomes) / elapsed, 2) if elapsed else None,
        "valid_requests": len(valid), "valid_errors": sum(o.error is not None for o in valid),
        "valid_error_examples": sorted({o.error for o in valid if o.error})[:5],
        "valid_latency": percentiles([o.seconds for o in valid]),
        "hostile_latency": percentiles([o.seconds for o in outcomes if not o.valid]),
        "warm_up_requests": warm_up, "requests_after_warm_up": max(0, len(outcomes) - warm_up),
        "memory_start_bytes": memory["start"], "memory_after_warm_up_bytes": baseline,
        "memory_end_bytes": memory["end"],
        "memory_peak_bytes": memory["peak"],  # VmHWM: the largest RSS the process ever had
        "memory_growth_after_warm_up": round(memory["end"] / baseline - 1, 4) if baseline else None,
        "memory_growth_limit": MEMORY_GROWTH_LIMIT,
        "memory_samples": samples[:: max(1, len(samples) // 60)],
        "files": by_file,
    }


# ---------------------------------------------------------------- browser pages


# Counts, in the page, every new image the stream output shows (each returned frame has a new URL).
FRAME_COUNTER = """() => {
  window.__frames = [];
  let last = null;
  const record = () => {
    const img = document.querySelector('#live-output img');
    const src = img && img.getAttribute('src');
    if (src && src !== last) { last = src; window.__frames.push(performance.now()); }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                       attributeFilter: ['src']});
}"""
FRAME_RATE = """(windowMs) => {
  const now = performance.now();
  const recent = window.__frames.filter(t => t >= now - windowMs);
  return {frames: recent.length, total: window.__frames.length};
}"""


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A YUV4MPEG2 4:2:0 clip (what Chromium's fake camera plays) from RGB frames of one even size."""
    height, width = frames[0].shape[:2]
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    planes = [cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes() for frame in frames]
    path.write_bytes(header + b"".join(b"FRAME\n" + plane for plane in planes))
    return path


def camera_clip(folder: Path, fps: int = 10) -> Path:
    """Grace Hopper in a 640x480 frame, drifting a few pixels per frame so every frame differs."""
    photo = example("grace_hopper.jpg")
    scale = 480 / photo.shape[0]
    face = cv2.resize(photo, (int(photo.shape[1] * scale), 480), interpolation=cv2.INTER_AREA)
    base = np.full((480, 640, 3), 128, np.uint8)
    left = (640 - face.shape[1]) // 2
    base[:, left:left + face.shape[1]] = face
    return write_y4m(folder / "camera.y4m", [np.roll(base, (step % 10) * 2, axis=1) for step in range(20)], fps)


def open_stream(browser, url: str, has_tabs: bool):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera"])
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(url)
    if has_tabs:
        page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    record = page.locator("#webcam-input button.capture-button")
    record.wait_for()
    page.evaluate(FRAME_COUNTER)
    record.click()
    return context, page, record


def stream_pages(app_url: str, ceiling_url: str, pages: int, seconds: float, folder: Path,
                 settle: float = 5.0) -> dict:
    """`pages` pages on the app and one on the no-op app stream at once; frames per second seen in each page
    over the last `seconds` (after `settle` seconds for the first frames)."""
    from playwright.sync_api import sync_playwright

    camera = camera_clip(folder)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=[*BROWSER_FLAGS, f"--use-file-for-fake-video-capture={camera}"])
        try:
            opened = [open_stream(browser, app_url, has_tabs=True) for _ in range(pages)]
            opened.append(open_stream(browser, ceiling_url, has_tabs=False))
            opened[0][1].wait_for_timeout(int((settle + seconds) * 1000))
            rates = [page.evaluate(FRAME_RATE, int(seconds * 1000)) for _, page, _ in opened]
            for _, page, record in opened:
                with contextlib.suppress(Exception):  # stop streaming; the page may already be gone
                    record.click(timeout=5_000)
        finally:
            # BrowserContext.close() waits without a time limit and hung with 5 pages streaming (full size,
            # 2026-11-22); closing the browser ends every context.
            browser.close()
    fps = [round(rate["frames"] / seconds, 2) for rate in rates]
    return {"pages": pages, "seconds": seconds, "app_fps": fps[:-1], "ceiling_fps": fps[-1],
            "app_fps_min": min(fps[:-1]), "frames_in_window": [rate["frames"] for rate in rates],
            "frames_total": [rate["total"] for rate in rates], "target_fps": FPS_TARGET}


# ---------------------------------------------------------------- the no-op ceiling app


def app_settings(names: tuple[str, ...] = ("STREAM_EVERY", "STREAM_TIME_LIMIT", "STREAM_CONCURRENCY")) -> dict:
    """The app's stream constants (serve/settings.py), read from its source (no Gradio import here)."""
    values = {}
    for node in ast.parse((REPO_ROOT / "serve" / "settings.py").read_text()).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                targets = target.elts if isinstance(target, ast.Tuple) else [target]
                sources = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                for name, value in zip(targets, sources):
                    if isinstance(name, ast.Name) and name.id in names:
                        values[name.id] = ast.literal_eval(value)
    missing = set(names) - set(values)
    if missing:
        raise RuntimeError(f"serve/settings.py no longer defines {', '.join(sorted(missing))}")
    return values


def noop_demo():
    """app.py's webcam components and stream settings with a handler that sends the frame straight back."""
    import gradio as gr

    app = app_settings()
    with gr.Blocks(title="no-op stream", analytics_enabled=False, delete_cache=(600, 1800)) as demo:
        with gr.Row():
            webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam",
                              elem_id="webcam-input", webcam_options=gr.WebcamOptions(
                                  mirror=True, constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
            live = gr.Image(label="Live", format="jpeg", interactive=False, elem_id="live-output")
        webcam.stream(lambda frame: frame, [webcam], [live], api_name="stream", stream_every=app["STREAM_EVERY"],
                      time_limit=app["STREAM_TIME_LIMIT"], concurrency_limit=app["STREAM_CONCURRENCY"])
    return demo


# ---------------------------------------------------------------- the benchmark section and the command


def clients_at(size: dict, url: str, pid: int, model_source: str, uploads: list[Upload]) -> dict:
    """run_clients() at FULL or SHORT size."""
    return run_clients(url, pid, model_source, uploads, size["clients"], size["seconds"], size["min_requests"],
                       size["max_seconds"], size["warm_up"])


def pages_at(size: dict, app_url: str, ceiling_url: str, folder: Path) -> dict:
    """stream_pages() at FULL or SHORT size."""
    return stream_pages(app_url, ceiling_url, size["pages"], size["stream_seconds"], folder, size["settle"])


def measure(model_source: str, size: dict, folder: Path, browser: bool = True) -> dict:
    """Both parts at `size` (FULL or SHORT) against one served app."""
    results: dict = {"model": model_source, "size": size, "app_environment": DEPLOYED_ENVIRONMENT}
    uploads = make_uploads(folder / "uploads")
    with serve_app(model_source, folder / "app.log") as (url, pid):
        results["clients"] = clients_at(size, url, pid, model_source, uploads)
        if browser and CHROMIUM.exists():
            try:  # a failing browser part must not lose the clients' figures
                with serve_noop(folder / "noop.log") as (ceiling_url, _):
                    results["browser"] = pages_at(size, url, ceiling_url, folder)
            except Exception as error:
                results["browser"] = {"error": f"{type(error).__name__}: {error}"[:500]}
        else:
            results["browser"] = {"skipped": f"{CHROMIUM} is not installed" if browser else "not asked for"}
    return results


def measured_models(context) -> list[str]:
    """The app's model and what its webcam tab streams with it (the live model when shipped)."""
    from serve.engine import EngineCache

    return [context.model_source, EngineCache(model=context.model_source).stream_source()]


def run(context) -> dict:
    """Benchmark section: the full size (--quick: the short one) against our model."""
    with tempfile.TemporaryDirectory() as folder:
        return measure(context.model_source, SHORT if context.settings.quick else FULL, Path(folder))


def table(results: dict) -> list[str]:
    clients = results["clients"]
    valid = clients["valid_latency"]
    lines = [f"{clients['clients']} clients, {clients['seconds']:.0f} s: {clients['requests']} requests "
             f"({clients['requests_per_second']:.1f}/s), {clients['valid_requests']} valid, "
             f"{clients['valid_errors']} errors on valid files",
             f"valid latency p50 / p95 / max: {valid['p50_ms']:.0f} / {valid['p95_ms']:.0f} / {valid['max_ms']:.0f} ms",
             f"app memory at start {clients['memory_start_bytes'] / GIB:.2f} GiB, after "
             f"{clients['warm_up_requests']} warm-up requests {(clients['memory_after_warm_up_bytes'] or 0) / GIB:.2f} GiB, "
             f"end {clients['memory_end_bytes'] / GIB:.2f} GiB "
             f"({(clients['memory_growth_after_warm_up'] or 0):+.1%} over {clients['requests_after_warm_up']} requests), "
             f"peak {clients['memory_peak_bytes'] / GIB:.2f} GiB"]
    lines += [f"{name}: {row['answer']}" for name, row in clients["files"].items()]
    browser = results["browser"]
    if "app_fps" in browser:
        lines.append(f"{browser['pages']} webcam pages at once: {', '.join(f'{fps:.1f}' for fps in browser['app_fps'])}"
                     f" fps (target >= {browser['target_fps']:.0f}); no-op ceiling page {browser['ceiling_fps']:.1f} fps")
    else:
        lines.append(f"browser: {browser.get('skipped') or 'FAILED: ' + browser.get('error', '')}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-noop", type=int, metavar="PORT", help="serve the no-op stream app on this port")
    parser.add_argument("--model", default="fer2013-cnn", help="the app's model (default: %(default)s)")
    parser.add_argument("--short", action="store_true", help="the short version (as in make test)")
    parser.add_argument("--no-browser", action="store_true", help="clients only")
    parser.add_argument("--output", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.serve_noop:
        noop_demo().queue().launch(server_name="127.0.0.1", server_port=args.serve_noop, share=False, show_error=False)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        results = measure(args.model, SHORT if args.short else FULL, Path(folder), browser=not args.no_browser)
    print("\n".join(table(results)))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
