"""fer.runtime.onnx: a model folder's checked model.onnx serves predictions without TensorFlow, equal to Keras."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_model_folder

from fer.model.config import ModelConfig
from fer.errors import ModelSourceError
from fer.model.sources import bundled_models, load_model
from fer.pipeline import Recognizer
from fer.runtime.onnx import NETWORK_FILE, NO_SPINNING, OnnxModel
from fer.runtime.onnx_writer import TOLERANCE


@pytest.fixture(scope="module")
def onnx_crop_dir(tmp_path_factory):
    """A tiny model of 40-px crops of 48-px frames (serves none, flip and ten_crop) with its model.onnx."""
    return make_model_folder(tmp_path_factory.mktemp("onnx") / "tiny-crops", input_size=40, onnx=True, seed=3)


def test_a_folder_with_its_export_loads_on_onnx_runtime_and_agrees_with_keras(onnx_crop_dir):
    served, keras_model = load_model(onnx_crop_dir), load_model(onnx_crop_dir, runtime="keras")
    assert isinstance(served, OnnxModel) and type(keras_model).__name__ == "EmotionModel"
    frames = np.random.default_rng(1).integers(0, 256, (7, *served.face_input_shape), dtype=np.uint8)
    for tta in ("none", "flip", "ten_crop"):
        np.testing.assert_allclose(served.predict_proba(frames, tta=tta), keras_model.predict_proba(frames, tta=tta),
                                   atol=TOLERANCE)
        np.testing.assert_allclose(served.logits(frames, tta=tta), keras_model.logits(frames, tta=tta), atol=1e-4)
    record = ModelConfig.load(onnx_crop_dir / "config.json").runtimes["onnx"]
    assert record["max_abs_difference"] <= TOLERANCE and set(record["modes"]) == {"none", "flip", "ten_crop"}


def test_sessions_let_idle_threads_sleep(onnx_crop_dir):
    from fer.faces.yunet import YuNetFaceDetector

    sessions = [load_model(onnx_crop_dir).session]
    detector = YuNetFaceDetector()
    if detector.runtime == "onnx":
        sessions.append(detector._session)
    key, value = NO_SPINNING
    for session in sessions:
        assert session.get_session_options().get_session_config_entry(key) == value


def test_all_faces_and_views_of_an_image_are_one_network_call(onnx_crop_dir, monkeypatch):
    model = load_model(onnx_crop_dir)
    calls = []
    original = model.network_logits
    monkeypatch.setattr(model, "network_logits", lambda inputs: calls.append(len(inputs)) or original(inputs))
    frames = np.zeros((3, *model.face_input_shape), np.uint8)
    assert model.predict_proba(frames, tta="ten_crop").shape == (3, len(model.labels))
    assert calls == [30]  # 3 faces x 10 views



def test_predicting_in_batches_counts_each_faces_views_against_the_batch(onnx_crop_dir, monkeypatch):
    model = load_model(onnx_crop_dir)
    calls = []
    original = model.network_logits
    monkeypatch.setattr(model, "network_logits", lambda inputs: calls.append(len(inputs)) or original(inputs))
    frames = np.random.default_rng(2).integers(0, 256, (23, *model.face_input_shape), dtype=np.uint8)
    batched = model.predict_in_batches(frames, batch_size=50, tta="ten_crop")
    assert max(calls) <= 50 and sum(calls) == 230  # 5 faces x 10 views per call, not 50 faces
    np.testing.assert_allclose(batched, model.predict_proba(frames, tta="ten_crop"), atol=1e-6)

def test_a_changed_onnx_file_is_refused_with_the_way_to_fix_it(onnx_crop_dir, tmp_path):
    import shutil

    folder = shutil.copytree(onnx_crop_dir, tmp_path / "stale")
    (folder / NETWORK_FILE).write_bytes((folder / NETWORK_FILE).read_bytes() + b"\0")
    with pytest.raises(ModelSourceError, match="sha256.*--onnx-only"):
        load_model(folder)
    assert type(load_model(folder, runtime="keras")).__name__ == "EmotionModel"  # Keras still loads it


def test_a_folder_without_an_export_falls_back_to_keras_unless_onnx_is_required(tiny_model_dir):
    assert type(load_model(tiny_model_dir)).__name__ == "EmotionModel"
    with pytest.raises(ModelSourceError, match="no float32 ONNX file"):
        load_model(tiny_model_dir, runtime="onnx")
    with pytest.raises(ValueError, match="runtime must be"):
        load_model(tiny_model_dir, runtime="tflite")


def test_explanations_of_an_onnx_served_model_use_its_keras_network(onnx_crop_dir, face_photo_path):
    from fer.explain import Explainer

    served = load_model(onnx_crop_dir)
    analysis = Recognizer(served).analyze(face_photo_path)
    explainer = Explainer(served)
    assert explainer.model is served.keras_model()
    heatmap = explainer.explain(analysis.inputs[0], "gradcam", 0)
    assert heatmap.shape == tuple(served.face_input_shape[:2])


def test_an_export_folder_gets_a_clear_message_from_the_explainer(tiny_model, tmp_path):
    from fer.explain import Explainer
    from training import export

    folder = export.export_model(tiny_model, tmp_path / "export", "onnx", modes=["flip"])
    with pytest.raises(ModelSourceError, match="no Keras network to explain"):
        Explainer(load_model(folder))


@pytest.mark.parametrize("name", bundled_models())
def test_every_shipped_model_serves_its_checked_export(name, face_photo_path):
    """fp32 ONNX and Keras agree within 1e-4 for every shipped model; an int8 file states its accuracy change."""
    served, keras_model = load_model(name), load_model(name, runtime="keras")
    assert isinstance(served, OnnxModel)
    frames = Recognizer(keras_model).analyze(face_photo_path).inputs
    frames = np.concatenate([frames, frames[:, :, ::-1], np.random.default_rng(0).integers(
        0, 256, (4, *served.face_input_shape), dtype=np.uint8)])
    for tta in ("none", "flip") + (("ten_crop",) if served.config.crop_pct < 1 else ()):
        np.testing.assert_allclose(served.predict_proba(frames, tta=tta), keras_model.predict_proba(frames, tta=tta),
                                   atol=TOLERANCE)
    record = json.loads((served.folder / "config.json").read_text())["runtimes"]["onnx"]
    if "int8" in record:
        assert {"accuracy_change", "within_limit", "split"} <= set(record["int8"])
        assert record["int8"]["within_limit"] == (abs(record["int8"]["accuracy_change"]) <= record["int8"]["limit"])


def test_a_global_pooling_network_explains_itself_in_one_forward_pass(tmp_path, face_photo_path):
    """Its ONNX file carries class maps; their Grad-CAM equals fer.explain's (gradient-based) Grad-CAM up to the
    upsampling (OpenCV's linear resize here, scipy's zoom in tf-keras-vis)."""
    from fer.explain import Explainer

    folder = make_model_folder(tmp_path / "gap", input_size=40, onnx=True, seed=5, dense_units=(),
                               global_pool=True, grad_cam_block=None)
    served = load_model(folder)
    assert served.has_class_maps
    analysis = Recognizer(served).analyze(face_photo_path)
    frames = np.concatenate([analysis.inputs, np.random.default_rng(2).integers(
        0, 256, (3, *served.face_input_shape), dtype=np.uint8)])
    classes = [0, 3, 5, 6]
    ours = served.class_activation_maps(frames, classes)
    reference = Explainer(served).explain_batch(frames, "gradcam", classes)
    assert ours.shape == reference.shape == (4, *served.face_input_shape[:2])
    compared = 0
    for got, want in zip(ours, reference):
        if not want.any():  # no positive evidence for the class: both say so
            assert not got.any()
            continue
        compared += 1
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.95
        assert np.abs(got - want).mean() < 0.05
    assert compared >= 2


def test_class_maps_are_refused_clearly_for_other_networks(onnx_crop_dir):
    with pytest.raises(ModelSourceError, match="global average pooling"):
        load_model(onnx_crop_dir).class_activation_maps(np.zeros((1, 48, 48, 1), np.uint8), [0])


def test_the_webcam_draws_grad_cam_of_a_global_pooling_network_without_an_explainer(tmp_path, face_photo_path):
    from fer.live import LiveSession

    folder = make_model_folder(tmp_path / "gap", input_size=40, onnx=True, seed=5, dense_units=(),
                               global_pool=True, grad_cam_block=None)
    recognizer = Recognizer(load_model(folder), tta="flip")
    session = LiveSession(cam_every=2)
    frame = recognizer.read(face_photo_path)
    shown = [session.step(recognizer, frame, explainer=None).cam is not None for _ in range(4)]
    assert shown == [True, False, True, False]
