"""The served app under a short load (benchmarks.load at its short size): 3 gradio_client clients for 20 s with
real photos and hostile files, then two webcam pages streaming at once beside the no-op ceiling page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app_server import ARTIFACTS, shared_app
from benchmarks import load

# The answer each file gets: the error a hostile file raises, or the messages a valid one shows.
EXPECTED = {
    "grace_hopper.jpg": "1 face(s)",
    "two_faces.jpg": "2 face(s)",
    "many_faces.jpg": "info: Found 24 faces; classified the 20 largest.",
    "no_face.jpg": "info: No face found. The detector needs a face of at least about 12 pixels; try a closer",
    "tiny.png": "this image is tiny.",
    "large.jpg": "info: Large photo (6000×4500): analyzed at full size, shown at 1600×1200.",
    "corrupt.jpg": "warning: Cannot read this image: corrupt.jpg: cannot decode image (image file is truncated",
    "not_an_image.png": "not_an_image.png cannot be read as a photo: it is not an image. Try a JPEG or PNG file.",
    "empty.png": "empty.png cannot be read as a photo: it is not an image.",
    "bomb.png": "bomb.png cannot be read as a photo: it is too large.",
    "oversized.png": "HTTP 413: File size exceeded maximum allowed size of 20971520 bytes.",
}


def app_pid(url: str) -> int:
    """The `python app.py --port N` process serving `url` (app_server keeps only its URL)."""
    port = url.rstrip("/").rsplit(":", 1)[1]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "app.py" in words and "--port" in words and words[words.index("--port") + 1] == port:
            return int(cmdline.parent.name)
    raise RuntimeError(f"no app.py process on port {port}")


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    url = shared_app(tiny_model_dir)
    return url, app_pid(url)


def save(name: str, results: dict) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text(json.dumps(results, indent=2) + "\n")


def test_the_benchmark_serves_the_app_with_the_deployed_allocator_settings():
    """The load figures describe the app as the Dockerfile and `make app` run it (MALLOC_ARENA_MAX)."""
    import re

    root = Path(load.__file__).resolve().parent.parent
    for name, pattern in (("Dockerfile", r"ENV MALLOC_ARENA_MAX=(\d+)"), ("Makefile", r"MALLOC_ARENA_MAX=(\d+) ")):
        found = re.findall(pattern, (root / name).read_text())
        assert found == [load.DEPLOYED_ENVIRONMENT["MALLOC_ARENA_MAX"]], name


def test_short_load_answers_valid_files_without_errors_and_hostile_files_with_a_reason(served, tiny_model_dir,
                                                                                      tmp_path):
    url, pid = served
    size = load.SHORT
    results = load.clients_at(size, url, pid, str(tiny_model_dir), load.make_uploads(tmp_path))
    save("load-short.json", results)
    assert results["valid_errors"] == 0, results["valid_error_examples"]
    assert results["requests"] >= 3 * size["clients"] and results["seconds"] < size["max_seconds"] + 2 * 60
    for name, expected in EXPECTED.items():
        assert expected in results["files"][name]["answer"], name
    for name, row in results["files"].items():
        if not row["valid"]:  # turned away with an error or a warning, every time
            assert row["refused"] == row["requests"], f"{name} was answered as if it were a photo"
        else:
            assert row["refused"] == 0, name
    assert results["valid_latency"]["p50_ms"] <= results["valid_latency"]["p95_ms"] <= results["valid_latency"]["max_ms"]
    # Memory is read from /proc (the growth limit is checked at full size, over 1,000 requests, in the benchmark).
    assert 100 * 2**20 < results["memory_start_bytes"] <= results["memory_peak_bytes"]
    assert results["memory_after_warm_up_bytes"] and results["memory_end_bytes"] <= results["memory_peak_bytes"]


@pytest.mark.browser
@pytest.mark.skipif(not load.CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_webcam_pages_stream_at_once_beside_the_no_op_ceiling(served, tmp_path):
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    url, _ = served
    size = load.SHORT
    with load.serve_noop(tmp_path / "noop.log") as (ceiling_url, _):
        results = load.pages_at(size, url, ceiling_url, tmp_path)
    save("load-short-browser.json", results)
    # Every page keeps getting processed frames back while the others stream (rates depend on the machine:
    # the full-size figures are in docs/reliability.md).
    assert len(results["app_fps"]) == size["pages"] and len(results["frames_in_window"]) == size["pages"] + 1
    assert min(results["frames_in_window"]) >= 2, results
