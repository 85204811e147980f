"""Helpers for the app tests: run `python app.py` on a free local port, and make test images and videos."""

from __future__ import annotations

import atexit
import contextlib
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.processes import child_environment, free_port, served  # noqa: E402, F401 (free_port: for the tests)

EXAMPLES = REPO_ROOT / "examples"
ARTIFACTS = REPO_ROOT / "test-artifacts"


@contextlib.contextmanager
def serve_app(model_dir: Path | str | None, timeout: float = 180.0, cwd: Path | None = None, python: str | None = None,
              env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `python app.py --host 127.0.0.1 --port N` (FER_MODEL=model_dir unless None) through the benchmarks'
    one server helper; yield its URL; stop it. cwd / python / env: another folder (a built Space), interpreter or
    environment."""
    environment = child_environment(**({"FER_MODEL": str(model_dir)} if model_dir is not None else {}))
    environment.update(env or {})
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"app-server-{time.monotonic_ns()}.log"
    with served([python or sys.executable, "app.py", "--host", "127.0.0.1", "--port"], log, cwd=cwd or REPO_ROOT,
                env=environment, timeout=timeout) as (url, _):
        serve_app.last_log = log
        yield url


@contextlib.contextmanager
def private_mode_from_the_app(browser, url: str) -> Iterator:
    """What a visitor does: the app at `url` serves /private/ cross-origin isolated, and its Private mode tab's
    link opens it; yields the opened page (its context closed afterwards)."""
    with urllib.request.urlopen(url + "private/") as answer:
        assert answer.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert answer.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("tab", name="Private mode").click()
        with context.expect_page() as opened:
            page.get_by_role("link", name="Open private mode").click()  # offered: the page was prepared
        private = opened.value
        private.wait_for_load_state()
        assert private.url == url + "private/"
        yield private
    finally:
        context.close()


_SHARED: dict[str, str] = {}


def shared_app(model_dir: Path) -> str:
    """One `python app.py` per test process and model, shared by the test modules, stopped at exit."""
    key = str(model_dir)
    if key not in _SHARED:
        stack = contextlib.ExitStack()
        _SHARED[key] = stack.enter_context(serve_app(model_dir))
        atexit.register(stack.close)
    return _SHARED[key]


def letterbox(image: np.ndarray, width: int = 640, height: int = 480, fill: int = 128) -> np.ndarray:
    """Fit an RGB image into width x height without distortion, padded with grey."""
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), fill, np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def example_rgb(name: str = "grace_hopper.jpg") -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES / name).convert("RGB"))


def two_faces() -> np.ndarray:
    """Grace Hopper and Eileen Collins side by side (both public domain): a 2-face photo."""
    return np.concatenate([letterbox(example_rgb("grace_hopper.jpg"), 480, 480),
                           letterbox(example_rgb("astronaut.jpg"), 480, 480)], axis=1)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A YUV4MPEG2 file (4:2:0, what Chrome's fake camera reads) from RGB frames of one even size."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as stream:
        stream.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            stream.write(b"FRAME\n")
            # I420 = the Y plane, then the quarter-size U and V planes: the byte order Y4M 4:2:0 expects.
            stream.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> str:
    """An MJPG .avi (OpenCV's wheels write it without ffmpeg) from RGB frames of one size."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return str(path)
