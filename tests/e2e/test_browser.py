"""The page in a real browser: Debian's chromium driven by Playwright, with a fake camera playing real faces."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_server import ARTIFACTS, example_rgb, letterbox, shared_app, write_y4m

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

BOX_GREEN = np.array([46, 204, 113])  # fer.annotate's color for face #1


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory) -> Path:
    """A 640x480 Y4M clip of Grace Hopper drifting a few pixels per frame (so each frame differs)."""
    base = letterbox(example_rgb(), 640, 480)
    frames = [np.roll(base, shift=(step % 10) * 2, axis=1) for step in range(20)]
    return write_y4m(tmp_path_factory.mktemp("camera") / "faces.y4m", frames, fps=10)


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    return shared_app(tiny_model_dir)


@pytest.fixture(scope="module")
def browser(fake_camera):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={fake_camera}"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["camera"])
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    page.get_by_text("FER Explain").first.wait_for()
    yield page
    context.close()


def fetch_image(page, selector: str) -> np.ndarray:
    """Download the image shown in an output component, as the browser got it."""
    source = page.locator(f"{selector} img").first.get_attribute("src")
    response = page.request.get(source)
    assert response.ok, f"cannot fetch {source}"
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def green_pixels(image: np.ndarray) -> int:
    return int((np.abs(image.astype(int) - BOX_GREEN).max(axis=2) < 40).sum())


def test_upload_a_photo_and_see_boxes_labels_and_explanation(page, face_photo_path):
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#photo-input input[type=file]").set_input_files(str(face_photo_path))
    page.locator("#faces-output img").wait_for()
    page.locator("#explanation-output img").wait_for()
    sync_api.expect(page.get_by_text("Face #1", exact=True)).to_be_visible()
    annotated = fetch_image(page, "#faces-output")
    assert annotated.shape == (600, 512, 3)
    assert green_pixels(annotated) > 500  # face #1's box and label were drawn
    explanation = fetch_image(page, "#explanation-output")
    assert 256 <= explanation.shape[0] <= 512 and explanation.shape[0] == explanation.shape[1]  # enlarged when small
    page.screenshot(path=str(ARTIFACTS / "browser-photo.png"), full_page=True)
    # Picking a bundled example analyses it too.
    previous = page.locator("#faces-output img").first.get_attribute("src")
    page.locator("img[src*='astronaut.jpg']").first.click()
    page.wait_for_function(
        "previous => { const img = document.querySelector('#faces-output img'); return img && img.src !== previous; }",
        arg=previous)
    astronaut = fetch_image(page, "#faces-output")
    assert astronaut.shape == (512, 512, 3) and green_pixels(astronaut) > 200


def test_webcam_stream_returns_labelled_frames(page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    record = page.locator("#webcam-input button.capture-button")
    record.wait_for()
    record.click()
    page.locator("#live-output img").wait_for()
    seen: set[str] = set()
    deadline = time.monotonic() + 45
    while len(seen) < 4 and time.monotonic() < deadline:
        source = page.locator("#live-output img").first.get_attribute("src")
        if source:
            seen.add(source)
        page.wait_for_timeout(200)
    assert len(seen) >= 4, f"only {len(seen)} distinct processed frames came back"
    frame = fetch_image(page, "#live-output")
    assert frame.shape == (480, 640, 3)
    assert green_pixels(frame) > 300  # the face is boxed and labeled
    sync_api.expect(page.locator("#live-probabilities")).to_contain_text("Face #1 (smoothed)")
    page.locator("#live-cam img").wait_for()  # the periodic Grad-CAM strip arrived too
    cam = fetch_image(page, "#live-cam")
    assert cam.shape[0] == 160 and cam.shape[1] % 160 == 0
    page.screenshot(path=str(ARTIFACTS / "browser-webcam.png"), full_page=True)
    record.click()  # stop streaming before the page closes
