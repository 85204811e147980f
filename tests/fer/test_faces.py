"""fer.faces: YuNet on ONNX Runtime decodes exactly as OpenCV's FaceDetectorYN; the detector registry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app_server import example_rgb, two_faces
from fer.faces import DETECTORS, YuNetFaceDetector, make_detector


def scenes():
    photo, astronaut = example_rgb(), example_rgb("astronaut.jpg")
    crowd = np.full((480, 640, 3), 120, np.uint8)
    for index, (top, left) in enumerate([(10, 10), (10, 330), (250, 10), (250, 330)]):
        crowd[top:top + 220, left:left + 200] = cv2.resize(photo if index % 2 else astronaut, (200, 220))
    noise = np.random.default_rng(0).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    return {"photo": photo, "small": cv2.resize(photo, None, fx=0.25, fy=0.25), "two": two_faces(),
            "four": crowd, "noise": noise, "odd size": np.ascontiguousarray(astronaut[:301, :417])}


@pytest.mark.parametrize("name", list(scenes()))
def test_yunet_on_onnx_runtime_finds_what_opencv_finds(name):
    image = scenes()[name]
    ours, reference = YuNetFaceDetector(runtime="onnx").detect(image), YuNetFaceDetector(runtime="opencv").detect(image)
    assert [face.box.to_list() for face in ours] == [face.box.to_list() for face in reference]
    for got, want in zip(ours, reference):
        assert got.score == pytest.approx(want.score, abs=1e-5)
        np.testing.assert_allclose(got.landmarks, want.landmarks, atol=0.01)
    if name == "four":
        assert len(ours) == 4


def test_the_default_yunet_runs_on_onnx_runtime_and_runtimes_are_checked():
    assert YuNetFaceDetector().runtime == "onnx"
    with pytest.raises(ValueError, match="runtime must be"):
        YuNetFaceDetector(runtime="tflite")


def test_detectors_come_from_one_registry():
    assert set(DETECTORS) == {"yunet", "haar"}
    assert all(isinstance(make_detector(name), DETECTORS[name]) for name in DETECTORS)
    with pytest.raises(ValueError, match="choose one of yunet, haar"):
        make_detector("mtcnn")
