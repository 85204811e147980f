"""Private mode (web/): the page in Debian's chromium against the Python pipeline. The same faces, model inputs
and probabilities (the page runs each model folder's own model.onnx, as OnnxModel does); the same Grad-CAM maps for a
model with class maps (OnnxModel.class_activation_maps); the pipeline on the main thread (?workers=0); no image
data leaving the page; working offline; served by the app and as a static site. The page is prepared into a temporary folder
(web.prepare.prepare(site=...)), so it is always the current page with the current models."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.faces import Box, Face
from app_server import ARTIFACTS, example_rgb, free_port, letterbox, private_mode_from_the_app, shared_app, two_faces
# The same Chromium with the same fake camera (Grace Hopper drifting, one face) as the app's browser tests.
from test_browser import CHROMIUM, browser, fake_camera, green_pixels  # noqa: F401 (pytest fixtures)

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB = REPO_ROOT / "web"
# page vs OnnxModel on the same frames: the same float32 model.onnx, in ONNX Runtime Web's WASM kernels and in
# ONNX Runtime's native ones (the views, their mean, the temperature and the softmax made in JS and in numpy).
FLOAT32_TOLERANCE = 1e-4
# The quantized file: the two builds' int8 kernels agreed to 1.2e-7 (2026-12-03); the margin is for a
# requantization step rounded apart, which moves a probability by far more than float32 noise.
INT8_TOLERANCE = 1e-3
# Page vs Python, each through its own YuNet run: landmarks a fraction of a pixel apart tilt the crop a little, and how
# far that moves a probability depends on the model (1.2e-3 seen with the first live model, 5.2e-3 with the one
# shipped 2026-12-03, on the face tilted 25 degrees); the strict checks are the two above and below it.
OWN_DETECTION_TOLERANCE = 1e-2
# Grad-CAM, page vs OnnxModel.class_activation_maps on the same frames (maps in 0..1): the class maps come from the two
# runtimes' float32 kernels and min-max normalization divides their few-ulp differences by the map's range; the
# upsampling is OpenCV's own float INTER_LINEAR arithmetic (half-pixel centers, edge handling) re-done in JS.
GRAD_CAM_TOLERANCE = 1e-3
GAP_MODEL = "tiny-gap"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


def rotated(image: np.ndarray, angle: float) -> np.ndarray:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderValue=(128, 128, 128))


def small_face() -> np.ndarray:
    """A face whose crop is under 48 px, so preprocessing enlarges it (the INTER_LINEAR path)."""
    canvas = np.full((480, 640, 3), 128, np.uint8)
    face = letterbox(example_rgb(), 160, 120)
    canvas[100:220, 200:360] = face
    return canvas


def grid() -> np.ndarray:
    """Four faces, two of them small: a 2x2 grid of 320x240 tiles."""
    grace, astronaut = letterbox(example_rgb(), 320, 240), letterbox(example_rgb("astronaut.jpg"), 320, 240)
    return np.concatenate([np.concatenate([grace, astronaut], 1), np.concatenate([astronaut, grace], 1)], 0)


IMAGES = {
    "one face": lambda: letterbox(example_rgb(), 640, 480),
    "two faces, 960x480": two_faces,
    "tilted 20 degrees": lambda: rotated(letterbox(example_rgb(), 640, 480), 20),
    "tilted -25 degrees": lambda: rotated(letterbox(example_rgb(), 640, 480), -25),
    "a small face": small_face,
    "four faces": grid,
    "no face": lambda: np.full((480, 640, 3), 90, np.uint8),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The page prepared into a temporary folder from the bundled models (ONNX Runtime Web taken from web/runtime/
    when `make web` has fetched it, else fetched as `make web` does; skipped when it cannot be had)."""
    from web.prepare import PrepareError, fetch_runtime, prepare

    folder = tmp_path_factory.mktemp("site")
    if (WEB / "runtime" / "VERSION").is_file():
        shutil.copytree(WEB / "runtime", folder / "runtime")
    try:
        fetch_runtime(folder)  # reused when the copy is of the pinned version
    except (PrepareError, OSError) as error:
        pytest.skip(f"ONNX Runtime Web is not available: {error}")
    return prepare(site=folder)


@pytest.fixture(scope="module")
def settings(site) -> dict:
    return json.loads((site / "models" / "pipeline.json").read_text())


@pytest.fixture(scope="module")
def gap_site(tmp_path_factory, site) -> Path:
    """The page prepared with a tiny network ending in global average pooling (so its model.onnx has class maps,
    like the coming live model) as its only, default model."""
    from conftest import make_model_folder
    from web.prepare import prepare

    folder = make_model_folder(tmp_path_factory.mktemp("gap") / GAP_MODEL, input_size=40, onnx=True, seed=5,
                               dense_units=(), global_pool=True, grad_cam_block=None)
    out = tmp_path_factory.mktemp("gap-site")
    shutil.copytree(site / "runtime", out / "runtime")
    return prepare(site=out, sources=[str(folder)])


@pytest.fixture(scope="module")
def static_site(site):
    """The prepared page served by `python -m http.server`, exactly as a plain static host would (no special
    headers)."""
    with serve_static(site) as url:
        yield url


@pytest.fixture(scope="module")
def gap_static_site(gap_site):
    with serve_static(gap_site) as url:
        yield url


@contextlib.contextmanager
def serve_static(folder: Path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def load(page, url: str | None = None):
    """Go to `url` (None: the page is already navigating) and wait until the models are loaded."""
    page.set_default_timeout(60_000)
    if url is not None:
        page.goto(url)
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#status")
    return page


def open_page(context, url: str):
    return load(context.new_page(), url)


@pytest.fixture(scope="module")
def page(browser, static_site):
    context = browser.new_context()
    yield open_page(context, static_site + "index.html")
    context.close()


@pytest.fixture(scope="module")
def model_pages(browser, static_site):
    """page_for(model, precision): the page running that model (one page each, opened on first use)."""
    context, pages = browser.new_context(), {}

    def page_for(model: str, precision: str = "float32"):
        if (model, precision) not in pages:
            pages[model, precision] = open_page(context, f"{static_site}index.html?model={model}"
                                                         f"&precision={precision}&workers=1")
        return pages[model, precision]

    yield page_for
    context.close()


def in_page(page, method: str, image: np.ndarray, *extra):
    height, width = image.shape[:2]
    data = base64.b64encode(np.ascontiguousarray(image).tobytes()).decode("ascii")
    return page.evaluate(f"([args]) => window.ferPrivate.{method}(...args)", [[data, width, height, *extra]])


def iou(first: list[int], box: dict) -> float:
    second = [box["x"], box["y"], box["width"], box["height"]]
    left, top = max(first[0], second[0]), max(first[1], second[1])
    right = min(first[0] + first[2], second[0] + second[2])
    bottom = min(first[1] + first[3], second[1] + second[3])
    intersection = max(0, right - left) * max(0, bottom - top)
    return intersection / (first[2] * first[3] + second[2] * second[3] - intersection)


def python_model(site: Path, model: str, precision: str = "float32"):
    """The Python side of a page model: fer.model.sources.load_model on the page's copy of the folder (an OnnxModel)."""
    from fer.model.sources import load_model
    from fer.runtime.onnx import OnnxModel

    model = load_model(site / "models" / model, precision=precision)
    assert isinstance(model, OnnxModel)
    return model


def python_recognizer(site: Path, model: str):
    """The Python side: the page's model as the live paths run it (int8 where within its limit, as the page's
    default does) with the app's webcam settings."""
    from fer.pipeline import Recognizer
    from serve.engine import MAX_STREAM_FACES, STREAM_DETECTION_SIDE, stream_tta

    live = python_model(site, model, "auto")
    return Recognizer(live, tta=stream_tta(live.config), max_side=STREAM_DETECTION_SIDE, max_faces=MAX_STREAM_FACES)


def classify_in_page(page, frames: np.ndarray, tta: str | None = None) -> dict:
    """The page's model alone on (N, *face_input_shape) uint8 frames: {logits, probabilities} as arrays."""
    data = base64.b64encode(np.ascontiguousarray(frames, np.uint8).tobytes()).decode("ascii")
    got = page.evaluate("([args]) => window.ferPrivate.classifyFrames(...args)", [[data, len(frames), tta]])
    return {key: np.array(value, np.float64) for key, value in got.items()}


def comparison_frames(model) -> np.ndarray:
    """Model inputs to compare on: four real faces (the Python Recognizer's frames) and four random frames."""
    from fer.pipeline import Recognizer

    faces = Recognizer(model).analyze(grid()).inputs
    noise = np.random.default_rng(0).integers(0, 256, (4, *model.face_input_shape), dtype=np.uint8)
    return np.concatenate([faces, noise])


def test_page_settings_are_read_from_the_python_code(site, settings):
    """pipeline.json from the Python objects; the webcam's model first; each model the folder's own checked files."""
    from serve.engine import EngineCache
    from fer.model.sources import resolve_source
    from web.prepare import PAGE_FILES, model_name, pipeline_settings

    expected = pipeline_settings(settings["models"][0]["source"])
    assert {key: settings[key] for key in expected} == expected
    assert settings["default_model"] == settings["models"][0]["name"] == model_name(EngineCache().stream_source())
    for entry in settings["models"]:
        source, copy = resolve_source(entry["source"]), site / "models" / entry["folder"]
        record = json.loads((source / "config.json").read_text())["runtimes"]["onnx"]
        files = ["config.json", record["file"], *([record["int8"]["file"]] if "int8" in record else [])]
        assert sorted(p.name for p in copy.iterdir()) == sorted(files)  # no export graphs, no export.json
        for name in files:
            assert (copy / name).read_bytes() == (source / name).read_bytes(), f"{entry['name']}/{name}"
    page_files = {p.name for p in WEB.iterdir() if p.suffix in (".html", ".js", ".css", ".md")}
    assert page_files == set(PAGE_FILES)  # a static copy (prepare --site) takes every page file


def test_the_page_views_and_precision_choice_are_python_s(page, site, settings):
    """pipeline.js's frameShape / viewOffsets against fer.model.config / fer.runtime.base for every model and TTA mode (and
    a crop_pct 1 model), and which ONNX file it picks for each precision asked."""
    from fer.model.config import ModelConfig
    from fer.runtime.base import view_offsets

    configs = [json.loads((site / "models" / e["folder"] / "config.json").read_text()) for e in settings["models"]]
    configs.append({**configs[0], "crop_pct": 1.0, "tta": "flip"})
    for data in configs:
        config = ModelConfig.from_dict(data)
        for tta in ("none", "flip", "ten_crop"):
            got = page.evaluate("""([config, tta]) => import('./pipeline.js').then((m) => {
                try { return {shape: m.frameShape(config), views: m.viewOffsets(config, tta)}; }
                catch (error) { return {error: error.message}; } })""", [data, tta])
            try:
                views = [list(view) for view in view_offsets(config, tta)]
            except ValueError:
                assert "crop_pct" in got["error"], got
                continue
            assert got == {"shape": config.face_input_shape, "views": views}, (data["crop_pct"], tta)
    record = configs[0]["runtimes"]["onnx"]
    choose = """([config, asked]) => import('./pipeline.js').then((m) => {
        try { return m.onnxFile(config, asked); } catch (error) { return {error: error.message}; } })"""
    int8 = dict(record.get("int8") or {"file": "model.int8.onnx"}, within_limit=True)
    usable = {**configs[0], "runtimes": {"onnx": {**record, "int8": int8}}}
    assert page.evaluate(choose, [usable, "int8"]) == {"file": int8["file"], "precision": "int8"}
    assert page.evaluate(choose, [usable, "float32"]) == {"file": record["file"], "precision": "float32", "why": ""}
    beyond = {**usable, "runtimes": {"onnx": {**record, "int8": {**int8, "within_limit": False}}}}
    assert page.evaluate(choose, [beyond, "int8"])["precision"] == "float32"
    bare = {**usable, "runtimes": {"onnx": {key: value for key, value in record.items() if key != "int8"}}}
    assert page.evaluate(choose, [bare, "int8"]) == {"file": record["file"], "precision": "float32",
                                                     "why": "it has no int8 file"}
    assert "precision must be" in page.evaluate(choose, [usable, "float16"])["error"]
    assert "records no ONNX file" in page.evaluate(choose, [{**usable, "runtimes": {}}, "float32"])["error"]


def test_the_page_model_is_python_s_onnx_model(model_pages, site, settings):
    """Each model on the same frames, page vs fer.model.sources.load_model(folder) (OnnxModel): mean logits and probabilities
    within FLOAT32_TOLERANCE, in every TTA mode the model has (so the views are made alike)."""
    worst = 0.0
    for entry in settings["models"]:
        page, model = model_pages(entry["name"]), python_model(site, entry["name"])
        info = page.evaluate("window.ferPrivate.model")
        assert info["name"] == entry["name"] and info["precision"] == "float32" and info["file"] == "model.onnx"
        assert info["tta"] == settings["stream"]["tta"] and info["frameShape"] == list(model.face_input_shape)
        frames = comparison_frames(model)
        modes = ["none", "flip"] + (["ten_crop"] if model.config.crop_pct < 1 else [])
        for tta in [None, *modes]:  # None: the webcam's mode, the page's own
            got = classify_in_page(page, frames, tta)
            mode = tta or settings["stream"]["tta"]
            for key, expected in (("logits", model.logits(frames, mode)),
                                  ("probabilities", model.predict_proba(frames, tta=mode))):
                assert got[key].shape == expected.shape
                difference = float(np.abs(got[key] - expected).max())
                assert difference <= FLOAT32_TOLERANCE, f"{entry['name']}, {mode}: {key} differ by {difference:.2e}"
                worst = max(worst, difference)
        assert classify_in_page(page, frames[:0])["probabilities"].size == 0  # no face: no session call
    print(f"page vs OnnxModel on the same frames: max difference {worst:.2e}")


def test_the_page_runs_the_int8_file_when_asked(model_pages, site, settings):
    """?precision=int8: the page runs model.int8.onnx when config.json records it within its limit (and says so),
    agreeing with load_model(folder, precision="int8") within INT8_TOLERANCE; else float32, saying why."""
    checked = 0
    for entry in settings["models"]:
        page = model_pages(entry["name"], "int8")
        info = page.evaluate("window.ferPrivate.model")
        record = json.loads((site / "models" / entry["folder"] / "config.json").read_text())["runtimes"]["onnx"]
        if not (record.get("int8") or {}).get("within_limit"):
            assert info["precision"] == "float32" and info["fallback"], info
            continue
        assert info["precision"] == "int8" and info["file"] == record["int8"]["file"] and info["fallback"] is None
        assert page.evaluate("window.ferPrivate.stats().precision") == "int8"
        model = python_model(site, entry["name"], "int8")
        frames = comparison_frames(model)
        got = classify_in_page(page, frames)
        expected = model.predict_proba(frames, tta=settings["stream"]["tta"])
        difference = float(np.abs(got["probabilities"] - expected).max())
        assert difference <= INT8_TOLERANCE, f"{entry['name']} int8: probabilities differ by {difference:.2e}"
        print(f"{entry['name']} int8: page vs OnnxModel max |dp| = {difference:.2e}")
        checked += 1
    if not checked:
        pytest.skip("no prepared model records an int8 file within its limit")


def test_page_agrees_with_the_python_recognizer(page, site, settings):
    """Boxes IoU >= 0.9 against Recognizer(model, tta="flip", max_side=320); given the same face (box and
    landmarks), the page's model input is identical to fer.model.preprocessing's, pixel for pixel, and its
    probabilities are within FLOAT32_TOLERANCE of Python's."""
    recognizer = python_recognizer(site, settings["default_model"])
    worst = {"probability": 0.0, "detected": 0.0, "iou": 1.0}
    for name, make in IMAGES.items():
        image = np.ascontiguousarray(make())
        expected = recognizer.analyze(image)
        got = in_page(page, "analyzeRGB", image)
        assert got["labels"] == list(recognizer.labels)
        assert len(got["faces"]) == expected.kept, name
        assert got["found"] == expected.found, name
        # YuNet runs in ONNX Runtime Web on the page and in OpenCV's DNN here, so a box or landmark may land a
        # little apart (seen: equal boxes, landmarks tilting a small face's crop); the classification is compared
        # on the page's own faces, the detection by IoU.
        page_faces = [Face(Box(*(face["box"][key] for key in ("x", "y", "width", "height"))), face["score"],
                           tuple(tuple(point) for point in face["landmarks"])) for face in got["faces"]]
        same_faces = recognizer.classify_faces(recognizer.read(image), page_faces)
        for index, (face, prediction) in enumerate(zip(got["faces"], expected.faces)):
            overlap = iou(prediction.box.to_list(), face["box"])
            assert overlap >= 0.9, f"{name}, face {index}: IoU {overlap:.3f}"
            difference = float(np.abs(np.array(face["probabilities"]) - same_faces.probabilities[index]).max())
            assert difference <= FLOAT32_TOLERANCE, f"{name}, face {index}: probabilities differ by {difference:.2e}"
            changed = int((np.array(got["inputs"][index], np.uint8) != same_faces.inputs[index].ravel()).sum())
            assert changed == 0, f"{name}, face {index}: {changed} input pixels differ"
            # Through each side's own detector: landmarks a little apart tilt a small face's crop.
            detected = float(np.abs(np.array(face["probabilities"]) - expected.probabilities[index]).max())
            assert detected <= OWN_DETECTION_TOLERANCE, f"{name}, face {index}: {detected:.2e} apart"
            # The same face (Python's box and landmarks) -> the same 48x48 input, bit for bit.
            given = {"box": dict(zip(("x", "y", "width", "height"), prediction.box.to_list())),
                     "landmarks": [list(point) for point in prediction.landmarks]}
            frame = np.array(in_page(page, "prepareFace", image, given), np.uint8)
            assert np.array_equal(frame, expected.inputs[index].ravel()), f"{name}, face {index}: inputs differ"
            worst = {"probability": max(worst["probability"], difference), "iou": min(worst["iou"], overlap),
                     "detected": max(worst["detected"], detected)}
    print(f"agreement over {len(IMAGES)} images: same faces max |p_page - p_python| = {worst['probability']:.2e}, "
          f"each side's own detection {worst['detected']:.2e}, min IoU {worst['iou']:.3f}")


def test_the_other_model_agrees_too(model_pages, site, settings):
    """?model=NAME: the page switches to that model; on its own faces it agrees with Python's within
    FLOAT32_TOLERANCE."""
    if len(settings["models"]) < 2:
        pytest.skip("only one model prepared")
    name = settings["models"][1]["name"]
    page, recognizer = model_pages(name), python_recognizer(site, name)
    image = letterbox(example_rgb(), 640, 480)
    got = in_page(page, "analyzeRGB", image)
    assert got["labels"] == list(recognizer.labels) and len(got["faces"]) == 1
    faces = [Face(Box(*(face["box"][key] for key in ("x", "y", "width", "height"))), face["score"],
                  tuple(tuple(point) for point in face["landmarks"])) for face in got["faces"]]
    expected = recognizer.classify_faces(recognizer.read(image), faces).probabilities[0]
    assert np.abs(np.array(got["faces"][0]["probabilities"]) - expected).max() <= FLOAT32_TOLERANCE


@pytest.fixture(scope="module")
def gap_page(browser, gap_static_site):
    context = browser.new_context()
    yield open_page(context, gap_static_site + "index.html?workers=1")
    context.close()


def gradcam_in_page(page, frames: np.ndarray, tta: str | None = None) -> dict:
    """The page's Grad-CAM of each frame's predicted class: {classes, maps (N, *face_input_shape[:2])}."""
    data = base64.b64encode(np.ascontiguousarray(frames, np.uint8).tobytes()).decode("ascii")
    got = page.evaluate("([args]) => window.ferPrivate.gradCamFrames(...args)", [[data, len(frames), tta]])
    maps = np.array(got["maps"], np.float32).reshape(len(frames), *frames.shape[1:3])
    return {"classes": got["classes"], "maps": maps}


def compare_maps(got: np.ndarray, expected: np.ndarray, where: str) -> tuple[float, int]:
    """The largest difference (asserted within GRAD_CAM_TOLERANCE) and how many expected maps are not all zero."""
    assert got.shape == expected.shape, where
    difference = float(np.abs(got - expected).max())
    assert difference <= GRAD_CAM_TOLERANCE, f"{where}: Grad-CAM maps differ by {difference:.2e}"
    return difference, int(sum(bool(m.any()) for m in expected))


def test_the_page_grad_cam_is_python_s_class_activation_maps(gap_page, gap_site, settings):
    """A model with class maps: the page's Grad-CAM of each frame's predicted class equals
    OnnxModel.class_activation_maps(frames, classes) within GRAD_CAM_TOLERANCE, in every TTA mode (the maps are
    the center view's, taken from the same session call as the logits, whichever view it is in the batch)."""
    model = python_model(gap_site, GAP_MODEL)
    assert model.has_class_maps and gap_page.evaluate("window.ferPrivate.model")["classMaps"] is True
    frames = comparison_frames(model)
    worst, shown = 0.0, 0
    for tta in (None, "none", "flip", "ten_crop"):  # None: the webcam's mode, the page's own
        got = gradcam_in_page(gap_page, frames, tta)
        mode = tta or settings["stream"]["tta"]
        assert got["classes"] == model.logits(frames, mode).argmax(axis=1).tolist(), mode
        difference, nonzero = compare_maps(got["maps"], model.class_activation_maps(frames, got["classes"]), mode)
        worst, shown = max(worst, difference), shown + nonzero
    assert shown >= 4  # most predicted classes have positive evidence somewhere: real maps were compared
    print(f"Grad-CAM page vs OnnxModel.class_activation_maps: max difference {worst:.2e}")


def test_the_camera_path_makes_grad_cam_from_the_same_model_call(gap_page, gap_site):
    """analyze with cam (a frame where Grad-CAM is due): each face's predicted class and its map, equal to Python's
    on the page's own model inputs; its cost in timings.cam; without cam no maps and no cost."""
    model = python_model(gap_site, GAP_MODEL)
    image = grid()
    got = in_page(gap_page, "analyzeRGB", image, {"cam": True})
    assert len(got["faces"]) == len(got["cams"]) == 4
    targets = [cam["target"] for cam in got["cams"]]
    assert targets == [int(np.argmax(face["probabilities"])) for face in got["faces"]]
    inputs = np.array(got["inputs"], np.uint8).reshape(-1, *model.face_input_shape)
    maps = np.array([cam["map"] for cam in got["cams"]], np.float32).reshape(-1, *model.face_input_shape[:2])
    difference, _ = compare_maps(maps, model.class_activation_maps(inputs, targets), "camera path")
    assert got["timings"]["cam"] >= 0
    plain = in_page(gap_page, "analyzeRGB", image)
    assert plain["cams"] is None and "cam" not in plain["timings"]
    print(f"camera path Grad-CAM vs OnnxModel: max difference {difference:.2e}")


def test_the_page_shows_grad_cam_every_n_frames_with_a_toggle(browser, gap_static_site):
    """On the camera: a strip of face tiles under their colored maps every ?cam_every frames, its cost in the timing
    line; the toggle hides it and stops making it."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 1000})
    try:
        page = open_page(context, gap_static_site + "index.html?cam_every=2&workers=1")
        assert page.is_enabled("#gradcam") and page.is_checked("#gradcam")
        assert "every 2 analyzed frames" in page.inner_text("#cam-note")
        page.click("#camera")
        page.wait_for_function("window.ferPrivate.stats().cams >= 3 && window.ferPrivate.stats().faces === 1")
        stats = page.evaluate("window.ferPrivate.stats()")
        assert stats["gradCam"] == "on" and stats["camMs"] >= 0
        assert abs(stats["cams"] - math.ceil(stats["frames"] / 2)) <= 1, stats  # frames 0, 2, 4, ...
        assert re.search(r"Grad-CAM \d+ ms", page.inner_text("#fps")), page.inner_text("#fps")
        side = page.evaluate("window.ferPrivate.settings.grad_cam.tile")
        assert page.evaluate("(({width, height}) => [width, height])(document.getElementById('cam-strip'))") == [side, side]
        strip = page.locator("#cam-strip").screenshot()
        tile = cv2.imdecode(np.frombuffer(strip, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].astype(int)  # RGB
        # JET's blue (low evidence, and the frame's border the network does not see) over a face: skin is never blue.
        assert (tile[..., 2] - tile[..., 0] > 40).mean() > 0.05
        page.screenshot(path=str(ARTIFACTS / "web-private-mode-grad-cam.png"), full_page=True)
        page.click("#gradcam")
        assert page.is_hidden("#cam-strip") and page.evaluate("window.ferPrivate.stats().gradCam") == "off"
        before = page.evaluate("window.ferPrivate.stats()")
        page.wait_for_function(f"window.ferPrivate.stats().frames >= {before['frames'] + 4}")
        assert page.evaluate("window.ferPrivate.stats().cams") == before["cams"]
        assert "Grad-CAM" not in page.inner_text("#fps")
        page.click("#camera")
    finally:
        context.close()


def test_a_model_without_class_maps_says_grad_cam_needs_global_pooling(page, site, settings):
    model = python_model(site, settings["default_model"])
    if model.has_class_maps:
        pytest.skip(f"{settings['default_model']} has class maps")
    assert page.is_disabled("#gradcam") and page.is_hidden("#cam-strip")
    assert "Grad-CAM needs a global-pooling model" in page.inner_text("#cam-note")
    assert page.evaluate("window.ferPrivate.stats().gradCam") == "unsupported"
    frames = np.zeros((1, *model.face_input_shape), np.uint8)
    with pytest.raises(sync_api.Error, match="Grad-CAM needs a global-pooling model"):
        gradcam_in_page(page, frames)


def test_workers_0_runs_the_whole_pipeline_on_the_main_thread(browser, static_site, site, settings):
    """?workers=0: no Web Worker at all; the camera's face is analyzed, and a face's probabilities are Python's."""
    context = browser.new_context(permissions=["camera"])
    try:
        page = open_page(context, static_site + "index.html?workers=0")
        page.click("#camera")
        page.wait_for_function("window.ferPrivate.stats().frames >= 3 && window.ferPrivate.stats().faces === 1")
        stats = page.evaluate("window.ferPrivate.stats()")
        assert stats["workers"] == 0 and "main thread" in page.inner_text("#fps")
        assert "Face #1 (smoothed)" in page.inner_text("#bars-title")
        page.click("#camera")
        recognizer, image = python_recognizer(site, settings["default_model"]), letterbox(example_rgb(), 640, 480)
        got = in_page(page, "analyzeRGB", image)
        assert len(got["faces"]) == 1
        faces = [Face(Box(*(face["box"][key] for key in ("x", "y", "width", "height"))), face["score"],
                      tuple(tuple(point) for point in face["landmarks"])) for face in got["faces"]]
        expected = recognizer.classify_faces(recognizer.read(image), faces).probabilities[0]
        assert np.abs(np.array(got["faces"][0]["probabilities"]) - expected).max() <= FLOAT32_TOLERANCE
        assert page.workers == []  # nothing ran in a worker (ONNX Runtime Web with one thread starts none)
    finally:
        context.close()


def test_no_image_data_leaves_the_page_and_it_works_offline(browser, static_site):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900})
    requests, sockets = [], []
    context.on("request", lambda request: requests.append(request))
    try:
        page = context.new_page()
        page.on("websocket", lambda socket: sockets.append(socket.url))
        load(page, static_site + "index.html?workers=2")  # two analysis workers: frames in flight at once
        loaded = len(requests)
        page.click("#camera")
        page.wait_for_function("window.ferPrivate.stats().frames >= 5 && window.ferPrivate.stats().faces === 1")
        context.set_offline(True)  # the network is gone: the page must not need it any more
        before = page.evaluate("window.ferPrivate.stats().frames")
        page.wait_for_function(f"window.ferPrivate.stats().frames >= {before + 10}")
        stats = page.evaluate("window.ferPrivate.stats()")
        assert stats["faces"] == 1 and stats["fps"] > 0 and stats["workers"] == 2
        assert "fps" in page.inner_text("#fps") and "Face #1 (smoothed)" in page.inner_text("#bars-title")
        view = page.locator("#view").screenshot()
        image = cv2.cvtColor(cv2.imdecode(np.frombuffer(view, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert green_pixels(image) > 300  # the face is boxed and labeled
        page.screenshot(path=str(ARTIFACTS / "web-private-mode.png"), full_page=True)
        page.click("#camera")
    finally:
        context.close()
    origin = static_site.rstrip("/")
    assert any(request.url.endswith(".onnx") for request in requests[:loaded])  # the workers' requests are seen too
    after_load = [request.url for request in requests[loaded:]]
    assert after_load == [], f"requests after the page loaded: {after_load}"
    assert sockets == []
    for request in requests:
        assert request.method == "GET" and request.post_data_buffer is None, request.url
        assert request.url.startswith(origin) or request.url.startswith("data:"), request.url
        assert request.is_navigation_request() or "?" not in request.url, request.url  # no data in a query


def test_the_app_links_to_private_mode_and_serves_it_cross_origin_isolated(browser, tiny_model_dir):
    from serve.private_mode import is_prepared

    if not is_prepared(WEB):  # the app serves web/ itself
        pytest.skip("web/ is not prepared: run `make web` (python -m web.prepare)")
    with private_mode_from_the_app(browser, shared_app(tiny_model_dir)) as private:
        page = load(private)
        # Same origin as the app, isolated: ONNX Runtime Web may use its threads there.
        assert page.evaluate("crossOriginIsolated") is True
        faces = in_page(page, "analyzeRGB", letterbox(example_rgb(), 640, 480))["faces"]
        assert len(faces) == 1
