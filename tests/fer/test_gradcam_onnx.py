"""gradcam.onnx: Grad-CAM of a dense-head network on ONNX Runtime (fer.runtime.gradcam_writer writes the backward
pass as forward ops), the same maps as the Keras Explainer's, and the photo path's Grad-CAM without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT, make_model_folder

from fer.errors import ModelSourceError
from fer.model.sources import load_model
from fer.pipeline import Recognizer
from fer.runtime.onnx import GRADCAM_FILE, NETWORK_FILE, gradcam_record
from fer.runtime.onnx_writer import TOLERANCE


@pytest.fixture(scope="module")
def dense_head_folder(tmp_path_factory):
    """A crop model (40 of 48) with a dense head: block 1's ReLU is its Grad-CAM layer, so the backward pass
    crosses max pooling, convolutions with BatchNormalization, a flatten and two dense layers."""
    return make_model_folder(tmp_path_factory.mktemp("gradcam") / "dense", input_size=40, onnx=True, gradcam=True,
                             seed=4, grad_cam_block=1)


def frames_and_classes(model, face_photo_path, extra: int = 7):
    analysis = Recognizer(model).analyze(face_photo_path)
    noise = np.random.default_rng(3).integers(0, 256, (extra, *model.face_input_shape), dtype=np.uint8)
    frames = np.concatenate([analysis.inputs, noise])
    return frames, [int(i) % model.config.num_classes for i in range(2, 2 + len(frames))]


def test_the_writer_records_a_small_checked_file_that_reads_model_onnx_weights(dense_head_folder):
    served = load_model(dense_head_folder)
    record = gradcam_record(served.config)
    assert served.has_gradcam and not served.has_class_maps
    assert record["file"] == GRADCAM_FILE and record["weights_file"] == NETWORK_FILE
    assert record["faces_within_tolerance"] >= 0.99 and record["layer"] == served.config.last_conv_layer
    # The kernels are read from model.onnx: the file holds the graph and a few small vectors.
    assert (dense_head_folder / GRADCAM_FILE).stat().st_size < (dense_head_folder / NETWORK_FILE).stat().st_size / 4


def test_onnx_grad_cam_is_the_explainer_s(dense_head_folder, face_photo_path):
    from fer.explain import Explainer

    served = load_model(dense_head_folder)
    frames, classes = frames_and_classes(served, face_photo_path)
    ours = served.class_activation_maps(frames, classes)
    reference = Explainer(served).explain_batch(frames, "gradcam", classes)
    assert ours.shape == reference.shape == (len(frames), *served.face_input_shape[:2])
    per_face = np.abs(ours - reference).reshape(len(frames), -1).max(axis=1)
    # A max-pooling window whose two largest values tie within float rounding may route one face differently.
    assert np.sum(per_face > TOLERANCE) <= 1 and per_face.max() < 0.05, per_face
    assert sum(map_.any() for map_ in ours) >= 2  # maps with content were compared, not only empty ones


def test_the_max_pool_gradient_goes_to_each_window_s_first_maximum_as_tensorflow_sends_it():
    import tensorflow as tf

    from fer.runtime.gradcam_writer import _max_pool_backward

    rng = np.random.default_rng(0)
    inputs = np.maximum(rng.normal(size=(2, 5, 7, 3)), 0.0).astype(np.float32)  # ReLU zeros: tied windows
    inputs[0, :2, :2, 0] = 1.0  # a window of four equal maxima
    tensor = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        pooled = tf.nn.max_pool2d(tensor, 2, 2, "VALID")
    upstream = tf.constant(rng.normal(size=pooled.shape).astype(np.float32))
    expected = tape.gradient(pooled, tensor, output_gradients=upstream).numpy()
    got = _max_pool_backward(tensor, upstream, (2, 2)).numpy()
    np.testing.assert_array_equal(got, expected)


def test_networks_with_class_maps_or_other_layers_get_no_gradcam_file(tmp_path):
    import keras

    from fer.runtime.gradcam_writer import UnsupportedLayerError, layers_after

    pooled = make_model_folder(tmp_path / "gap", input_size=40, onnx=True, gradcam=True, seed=5, dense_units=(),
                               global_pool=True, grad_cam_block=None)
    assert not (pooled / GRADCAM_FILE).exists() and gradcam_record(load_model(pooled).config) is None
    assert load_model(pooled).has_gradcam  # from its class maps
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Activation("tanh", name="squash")(x)
    outputs = keras.layers.Dense(3, name="logits")(keras.layers.Flatten()(x))
    with pytest.raises(UnsupportedLayerError, match="squash"):
        layers_after(keras.Model(inputs, outputs), "relu")


def test_a_changed_gradcam_file_is_refused(dense_head_folder, tmp_path):
    import shutil

    folder = shutil.copytree(dense_head_folder, tmp_path / "copy")
    (folder / GRADCAM_FILE).write_bytes((folder / GRADCAM_FILE).read_bytes() + b"\0")
    with pytest.raises(ModelSourceError, match="sha256"):
        load_model(folder).class_activation_maps(np.zeros((1, 48, 48, 1), np.uint8), [0])


PHOTO_SCRIPT = """
import json, sys
from serve.engine import Engine
engine = Engine.load("ferplus-cnn")
analysis = engine.recognizer.analyze(sys.argv[1])
explanation = engine.explain_face(analysis, 0, "gradcam")
from fer.__main__ import main
code = main(["explain", sys.argv[1], "--method", "gradcam", "--faithfulness", "--json"])
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {"tensorflow", "keras", "tf_keras_vis"})
print(json.dumps({"heavy": heavy, "label": explanation.label, "evidence": explanation.evidence,
                  "shape": list(explanation.image.shape), "code": code}))
"""


def test_the_photo_path_s_grad_cam_of_the_default_model_loads_no_tensorflow(face_photo_path, tmp_path):
    """The bundled ferplus-cnn carries gradcam.onnx: the app's photo handler and `python -m fer explain --method
    gradcam --faithfulness` explain with it, TensorFlow unloaded, and the map is the Keras explainer's."""
    from fer.explain import Explainer

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", PHOTO_SCRIPT, str(face_photo_path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["evidence"] and result["code"] == 0
    served = load_model("ferplus-cnn")
    analysis = Recognizer(served).analyze(face_photo_path)
    assert result["label"] == analysis.faces[0].label
    target = [served.labels.index(result["label"])]
    ours = served.class_activation_maps(analysis.inputs[:1], target)
    reference = Explainer(served).explain_batch(analysis.inputs[:1], "gradcam", target)
    np.testing.assert_allclose(ours, reference, atol=TOLERANCE)
