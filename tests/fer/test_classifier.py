"""EmotionModel inference: face frames, center crops, test-time augmentation views and the serving graph."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_model_folder
from fer.runtime.base import softmax, view_offsets
from fer.model.config import ModelConfig
from fer.model.sources import load_model
from fer.model.preprocessing import preprocess_faces


@pytest.fixture(scope="module")
def crop_model(tmp_path_factory):
    """A tiny model of 40x40 center crops of 48x48 frames, ten-crop TTA by config."""
    return load_model(make_model_folder(tmp_path_factory.mktemp("crop") / "crop40", input_size=40))


@pytest.fixture(scope="module")
def frames(crop_model):
    faces = np.random.default_rng(1).integers(0, 256, (5, 120, 100, 3), dtype=np.uint8)
    return crop_model.preprocess(list(faces))


def network(model, images: np.ndarray) -> np.ndarray:
    return model.model.predict_on_batch(images.astype(np.float32))


def test_frames_are_the_shared_preprocessing_and_their_centre_is_the_training_validation_input(crop_model, frames):
    assert frames.shape == (5, 48, 48, 1) and crop_model.face_input_shape == (48, 48, 1)
    faces = list(np.random.default_rng(1).integers(0, 256, (5, 120, 100, 3), dtype=np.uint8))
    # training/train.py scores validation faces with preprocess_faces(..., crop_pct): the same center.
    validation = preprocess_faces(faces, crop_model.input_shape, crop_pct=crop_model.config.crop_pct)
    np.testing.assert_array_equal(crop_model.network_inputs(frames), validation)
    np.testing.assert_array_equal(validation, frames[:, 4:44, 4:44])


def test_each_tta_mode_averages_the_logits_of_its_views(crop_model, frames):
    center = network(crop_model, frames[:, 4:44, 4:44])
    mirrored = network(crop_model, frames[:, 4:44, 4:44][:, :, ::-1])
    np.testing.assert_allclose(crop_model.logits(frames, "none"), center, atol=1e-5)
    np.testing.assert_allclose(crop_model.logits(frames, "flip"), (center + mirrored) / 2, atol=1e-5)
    views = []
    for top, left in ((0, 0), (0, 8), (8, 0), (8, 8), (4, 4)):
        crop = frames[:, top:top + 40, left:left + 40]
        views += [network(crop_model, crop), network(crop_model, crop[:, :, ::-1])]
    np.testing.assert_allclose(crop_model.logits(frames, "ten_crop"), np.mean(views, axis=0), atol=1e-5)
    np.testing.assert_allclose(crop_model.logits(frames), crop_model.logits(frames, "ten_crop"))  # config's mode
    probabilities = crop_model.predict_proba(frames, "flip", temperature=2.0)
    np.testing.assert_allclose(probabilities, softmax((center + mirrored) / 4), atol=1e-5)


def test_serving_model_is_the_same_computation(crop_model, frames):
    serving = crop_model.serving_model("ten_crop")
    np.testing.assert_allclose(serving.predict_on_batch(frames.astype(np.float32)),
                               crop_model.predict_proba(frames, "ten_crop"), atol=1e-6)


def test_view_offsets_and_config_checks(crop_model, tiny_model):
    assert view_offsets(tiny_model.config, "flip") == [(0, 0, False), (0, 0, True)]
    assert len(view_offsets(crop_model.config, "ten_crop")) == 10
    with pytest.raises(ValueError, match="ten_crop needs"):
        view_offsets(tiny_model.config, "ten_crop")
    with pytest.raises(ValueError, match="tta must be one of"):
        crop_model.logits(np.zeros((1, 48, 48, 1)), "twelve")
    with pytest.raises(ValueError, match="face inputs of shape"):
        crop_model.logits(np.zeros((1, 40, 40, 1)))
    legacy = ModelConfig.from_dict({"architecture": "cnn", "labels": ["a", "b"], "input_shape": [48, 48, 1],
                                    "last_conv_layer": "x", "flip_tta": False})
    assert legacy.tta == "none" and legacy.crop_pct == 1.0 and legacy.face_input_shape == [48, 48, 1]


def test_threads_calling_a_new_mode_at_once_build_its_graph_once(tmp_path, monkeypatch):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import fer.runtime.keras as classifier

    model = load_model(make_model_folder(tmp_path / "shared"))
    built, build = [], classifier.build_serving_model

    def slow_build(*args, **kwargs):
        built.append(threading.get_ident())
        time.sleep(0.2)  # widens the window in which an unguarded second thread would build its own graph
        return build(*args, **kwargs)

    monkeypatch.setattr(classifier, "build_serving_model", slow_build)
    frames = np.zeros((2, *model.face_input_shape), np.uint8)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: model.predict_proba(frames, tta="flip"), range(8)))
    assert len(built) == 1
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
