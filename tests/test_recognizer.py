"""Faces and prediction: detection on a real photo, a frame with no face, batching, to_dict, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer.faces import Box, HaarFaceDetector
from fer.recognizer import Recognizer


@pytest.fixture(scope="module")
def recognizer(tiny_model):
    return Recognizer(tiny_model)


def test_detects_the_face_in_a_real_photo(recognizer, face_photo):
    frame = recognizer.read(face_photo)
    boxes = recognizer.detect(frame)
    assert len(boxes) == 1
    box = boxes[0]
    # Grace Hopper's face sits in the upper middle of the 512x600 portrait.
    assert 100 < box.x + box.width / 2 < 400 and 100 < box.y + box.height / 2 < 350
    assert 120 < box.width < 400
    assert box.x >= 0 and box.y >= 0 and box.x + box.width <= 512 and box.y + box.height <= 600


def test_predict_returns_fer_compatible_dicts(recognizer, face_photo_path):
    faces = recognizer.predict(face_photo_path)
    assert len(faces) == 1
    result = faces[0].to_dict()
    assert set(result) == {"box", "emotions"} and len(result["box"]) == 4
    assert list(result["emotions"]) == list(recognizer.labels)
    assert sum(result["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    assert faces[0].label in recognizer.labels and faces[0].score == max(result["emotions"].values())


def test_frame_without_face_gives_empty_list(recognizer):
    landscape = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))
    assert recognizer.predict(np.dstack([landscape] * 3)) == []
    assert recognizer.predict(np.zeros((1, 1, 3), np.uint8)) == []


def test_all_faces_go_through_one_model_call(tiny_model, face_photo):
    calls = []

    class CountingModel:
        def __getattr__(self, name):
            return getattr(tiny_model, name)

        def predict_proba(self, batch, **kwargs):
            calls.append(len(batch))
            return tiny_model.predict_proba(batch, **kwargs)

    recognizer = Recognizer(tiny_model)
    recognizer.model = CountingModel()
    frame = np.concatenate([recognizer.read(face_photo)] * 2, axis=1)  # two faces side by side
    faces = recognizer.predict(frame)
    assert len(faces) == 2 and calls == [2]
    assert faces[0].box.x < faces[1].box.x


def test_color_order_and_input_kinds_agree(recognizer, face_photo, face_photo_path):
    from PIL import Image

    from_path = recognizer.predict(face_photo_path)[0]
    from_pil = recognizer.predict(Image.open(face_photo_path))[0]
    from_bgr = recognizer.predict(face_photo[:, :, ::-1].copy(), color_order="bgr")[0]
    assert from_path.box == from_pil.box == from_bgr.box
    np.testing.assert_allclose(list(from_path.probabilities.values()), list(from_bgr.probabilities.values()),
                               rtol=1e-5)


def test_flip_tta_changes_the_computation(recognizer, face_photo):
    with_tta = recognizer.predict(face_photo, flip_tta=True)[0].probabilities
    without = recognizer.predict(face_photo, flip_tta=False)[0].probabilities
    assert with_tta != without


def test_box_expansion_is_clipped():
    assert Box(5, 5, 10, 10).expanded(1.0, 20, 18) == Box(0, 0, 20, 18)
    assert Box(40, 40, 10, 10).expanded(0.1, 100, 100) == Box(39, 39, 12, 12)


def test_max_faces_keeps_the_largest(tiny_model, face_photo):
    recognizer = Recognizer(tiny_model, max_faces=1)
    small = face_photo[::2, ::2]
    padded = np.zeros_like(face_photo)
    padded[: small.shape[0], : small.shape[1]] = small
    frame = np.concatenate([padded, face_photo], axis=1)
    boxes = recognizer.detect(recognizer.read(frame))
    assert len(boxes) == 1 and boxes[0].x >= face_photo.shape[1]
    with pytest.raises(ValueError, match="max_faces"):
        Recognizer(tiny_model, max_faces=0)


def test_detector_rejects_colour_input():
    with pytest.raises(ValueError, match="2-D uint8 grey"):
        HaarFaceDetector().detect(np.zeros((10, 10, 3), np.uint8))


def test_cli_predict_json_and_errors(tiny_model_dir, face_photo_path, tmp_path, capsys):
    from fer.__main__ import main

    assert main(["predict", str(face_photo_path), "--model", str(tiny_model_dir), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    faces = output[str(face_photo_path)]
    assert len(faces) == 1 and sum(faces[0]["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    assert main(["predict", str(broken), "--model", str(tiny_model_dir)]) == 1
    assert "not a recognised image format" in capsys.readouterr().err
    assert main(["predict", str(face_photo_path), "--model", "hf://bad"]) == 2
    assert "malformed Hugging Face source" in capsys.readouterr().err
