"""`python app.py` served on 127.0.0.1 and called over HTTP with gradio_client, as an API user would."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from app_server import REPO_ROOT, example_rgb, letterbox, shared_app


def overlay_side(width: int, height: int) -> int:
    """The explanation overlay's side: the face crop's, enlarged when small, capped when large."""
    from serve.settings import MAX_CROP_SIDE, MIN_CROP_SIDE

    return min(max(width, height, MIN_CROP_SIDE), MAX_CROP_SIDE)


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    from gradio_client import Client

    return Client(shared_app(tiny_model_dir), verbose=False)


def test_predict_returns_boxes_probabilities_and_an_explanation(client, tiny_model_dir, face_photo_path):
    from gradio_client import handle_file

    result = client.predict(handle_file(str(face_photo_path)), str(tiny_model_dir), "gradcam", api_name="/predict")
    annotated_path, faces, explanation_path, face_picker, class_picker, *panels = result
    assert len(faces) == 1
    x, y, width, height = faces[0]["box"]
    assert 140 < x < 210 and 80 < y < 150 and 150 < width < 250 and len(faces[0]["landmarks"]) == 5
    assert len(faces[0]["emotions"]) == 7
    assert sum(faces[0]["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    with Image.open(annotated_path) as annotated, Image.open(face_photo_path) as original:
        assert annotated.size == original.size
    with Image.open(explanation_path) as explanation:
        side = overlay_side(width, height)  # the overlay covers the square, aligned face crop
        assert explanation.size == (side, side) and explanation.mode == "RGB"
    assert face_picker["value"] == 0 and class_picker["value"] == "(predicted)"
    assert panels[0]["visible"] is True and panels[0]["label"] == "Face #1"
    assert panels[0]["value"]["label"] == max(faces[0]["emotions"], key=faces[0]["emotions"].get)


def test_predict_over_plain_http_as_the_benchmark_times_it(tiny_model_dir, face_photo_path):
    """benchmarks.app_start.http_predict (the round trip without gradio_client's 50-ms checks) gets the real
    outputs: the face, its boxes and probabilities."""
    import httpx

    from benchmarks.app_start import http_predict

    with httpx.Client(timeout=60) as http:
        annotated, faces, explanation, *_ = http_predict(http, shared_app(tiny_model_dir), face_photo_path,
                                                         str(tiny_model_dir))
    assert len(faces) == 1 and len(faces[0]["emotions"]) == 7
    assert annotated["path"] and explanation["path"]


def test_a_client_sharing_one_ssl_context_gets_the_same_answer(client, tiny_model_dir, face_photo_path):
    """The benchmark also times gradio_client with one SSL context for all its connections (passed through
    ssl_verify to httpx): it must reach the app and get the same faces as the client as it comes."""
    from gradio_client import handle_file

    from benchmarks.app_start import photo_client, shared_ssl_context

    arguments = (str(tiny_model_dir), "gradcam")
    shared = photo_client(shared_app(tiny_model_dir), shared_ssl_context())
    _, faces, explanation, *_ = shared.predict(handle_file(str(face_photo_path)), *arguments, api_name="/predict")
    _, expected, *_ = client.predict(handle_file(str(face_photo_path)), *arguments, api_name="/predict")
    assert faces == expected and len(faces) == 1 and explanation


def test_the_scripting_examples_in_the_docs_run_against_the_app(tiny_model_dir, monkeypatch):
    """docs/app.md's gradio_client examples, pointed at the test app, run as written: the model and method values
    they pass are ones /predict takes (the method once read "Grad-CAM", a label the app rejects)."""
    section = (REPO_ROOT / "docs" / "app.md").read_text().split("## Scripting it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(REPO_ROOT)  # the example's photo path is relative to the repository
    namespace: dict = {}
    for block in blocks:
        exec(block.replace("http://127.0.0.1:7860/", shared_app(tiny_model_dir)), namespace)
    assert len(namespace["faces"]) == 1 and namespace["explanation"]
    assert namespace["client"].endpoints  # the second example's client reached the app (it reads its API on creation)


def test_explanations_use_the_session_state_of_the_last_photo(client, tiny_model_dir, face_photo_path):
    from gradio_client import handle_file

    faces = client.predict(handle_file(str(face_photo_path)), str(tiny_model_dir), "gradcam", api_name="/predict")[1]
    _, _, width, height = faces[0]["box"]
    gallery = client.predict(0, "happy", api_name="/explain_all")
    assert sorted(item["caption"].split(" · ")[:2] for item in gallery) == sorted(  # most faithful first
        [title, "happy"] for title in ("Vanilla Saliency", "SmoothGrad", "Grad-CAM", "Grad-CAM++", "Score-CAM"))
    sizes = set()
    for item in gallery:
        with Image.open(item["image"]) as image:
            sizes.add(image.size)
    assert sizes == {(overlay_side(width, height),) * 2}
    explanation = client.predict(0, "sad", "scorecam", api_name="/explain")
    with Image.open(explanation) as image:
        assert image.size == (overlay_side(width, height),) * 2 and np.asarray(image).std() > 5


def test_non_image_upload_is_a_readable_error(client, tiny_model_dir, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "holiday.png"
    fake.write_text("definitely not a png")
    with pytest.raises(AppError, match="holiday.png cannot be read as a photo: it is not an image"):
        client.predict(handle_file(str(fake)), str(tiny_model_dir), "gradcam", api_name="/predict")
    # ... and the app keeps serving.
    assert "accuracy **50.0%**" in client.predict(str(tiny_model_dir), api_name="/model_info")


def test_api_lists_named_endpoints(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/predict", "/explain", "/explain_all", "/analyze_video", "/model_info", "/stream"} <= set(endpoints)


def test_video_endpoint_returns_a_playable_webm_and_a_timeline(client, tiny_model_dir, tmp_path):
    import cv2
    from gradio_client import handle_file

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(10):
        writer.write(np.ascontiguousarray(letterbox(example_rgb(), 320, 240)[:, :, ::-1]))
    writer.release()
    video, timeline, summary = client.predict(handle_file(str(path)), str(tiny_model_dir), 5,
                                              api_name="/analyze_video")
    video = video["video"] if isinstance(video, dict) else video
    assert video.endswith(".webm")
    capture = cv2.VideoCapture(video)
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == 10
    assert timeline is not None and timeline["type"] == "matplotlib"
    assert summary.startswith("Analyzed 2 of 10 frames (1 in 5")
