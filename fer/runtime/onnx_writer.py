"""Writes a model folder's ONNX files (the reader is fer.runtime.onnx): the network exported by Keras, checked
against Keras on every TTA mode the model serves, and recorded in config.json with its sha256. Optionally an
int8 copy (static QDQ quantization by ONNX Runtime), recorded with how far it moves from the float network.
Needs Keras, TensorFlow and tf2onnx (requirements-export.txt); serving needs none of them."""

from __future__ import annotations

import datetime
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fer.errors import ModelSourceError
from fer.model.config import CONFIG_FILE
from fer.runtime.onnx import (INT8_FILE, NETWORK_FILE, RUNTIME_KEY, OnnxModel, file_sha256,
                              open_session)

TOLERANCE = 1e-4  # the largest probability difference a float32 export may show against Keras
# gradcam.onnx's maps: within TOLERANCE of TensorFlow's on nearly every face. On the rest a max-pooling window whose
# two largest values lie within float rounding of each other (the runtimes differ by ~1e-6 in activations) sends
# the gradient to the other one, and the map of that face moves by however much that window mattered: on 1024
# PublicTest faces that was 2-4 faces (up to 0.014 apart), on another model one face of 256 at 0.059. A mistake in
# the backward pass moves every face, so the fraction is the test; the worst face is recorded.
GRADCAM_MIN_AGREEMENT = 0.99
CALIBRATION_BATCH = 32


def require_onnx():
    """The onnx package (model files are written with it and tf2onnx), or a RuntimeError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise RuntimeError("writing ONNX needs the onnx and tf2onnx packages: pip install -r "
                           "requirements-export.txt") from None
    return onnx


def require_tf2onnx():
    """tf2onnx, patched for NumPy 2 as Keras's own export patches it, or a RuntimeError saying how to install it."""
    try:
        import tf2onnx
    except ImportError:
        raise RuntimeError("writing ONNX needs the onnx and tf2onnx packages: pip install -r "
                           "requirements-export.txt") from None
    try:  # Keras's fix of tf2onnx for NumPy 2 (np.object, np.cast), as graph.export applies it
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
        patch_tf2onnx()
    except ImportError:
        pass
    return tf2onnx


def supported_modes(config) -> list[str]:
    """Every TTA mode a model of this config can serve (ten_crop only for models of crops of a larger frame)."""
    from fer.model.config import TTA_MODES

    return [mode for mode in TTA_MODES if mode != "ten_crop" or config.crop_pct < 1.0]


def serving_network(network, config):
    """The network with named outputs: "logits", and for a network that ends in global average pooling and its
    logits layer, "class_maps" (N, h, w, classes): the last convolution's maps weighted by each class's logit
    weights (a 1x1 convolution with the logits kernel). For such a network Grad-CAM of a class is its
    normalized ReLU map (the gradient of a logit w.r.t. the pooled maps is the class weight over h x w), so
    runtimes without gradients (ONNX Runtime, the private page) explain it with one forward pass."""
    import keras

    from fer.model.architectures import GLOBAL_POOL_NAME, LOGITS_NAME

    outputs = {"logits": network.outputs[0]}
    names = {layer.name for layer in network.layers}
    if GLOBAL_POOL_NAME in names and config.last_conv_layer in names:
        logits_layer = network.get_layer(LOGITS_NAME)
        kernel = keras.ops.convert_to_numpy(logits_layer.kernel)
        features = network.get_layer(config.last_conv_layer).output
        if features.shape[-1] == kernel.shape[0]:
            weigh = keras.layers.Conv2D(kernel.shape[1], 1, use_bias=False, name="class_maps")
            outputs["class_maps"] = weigh(features)
            weigh.set_weights([kernel[None, None]])
    return keras.Model(network.inputs, outputs, name="serving_network")


def export_network(network, path: Path, config=None) -> None:
    """The network's ONNX export (tf2onnx): (N, *input_shape) raw pixels -> logits (and class maps,
    see serving_network, when `config` is given)."""
    import keras

    graph = network if config is None else serving_network(network, config)
    with warnings.catch_warnings():  # the input-structure notice of calling a one-input model on a bare array
        warnings.simplefilter("ignore", UserWarning)
        graph(np.zeros((1, *network.inputs[0].shape[1:]), np.float32))  # Keras exports only called models
    if keras.backend.backend() == "tensorflow":
        _export_tf_function(graph, path)
    else:
        graph.export(str(path), format="onnx", verbose=False)


def _export_tf_function(graph, path: Path) -> None:
    """tf2onnx on a plain inference tf.function of the graph. Keras's own export (its ExportArchive) traces a
    network with a Resizing layer (the keras.applications backbones) so that BatchNormalization's update ops stay
    in the graph; tf2onnx then cannot freeze it, and its fallback writes a different network (a ResNet50 came out
    0.79 off in probability)."""
    import tensorflow as tf

    tf2onnx = require_tf2onnx()
    pixels = graph.inputs[0]
    spec = [tf.TensorSpec((None, *pixels.shape[1:]), tf.float32, name=pixels.name)]
    function = tf.function(lambda inputs: graph(inputs, training=False), input_signature=spec)
    tf2onnx.convert.from_function(function, spec, output_path=str(path))


def quantize(float_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """Static int8 quantization (QDQ) of the convolutions and dense layers, activations calibrated on
    `calibration` (network inputs). A quantized softmax would round probabilities to 1/255, so only Conv and
    MatMul/Gemm are quantized; reduce_range (7-bit weights) because x86 int8 kernels saturate with full-range
    weights (the agreement with Keras it buys is measured by training.export's check)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = open_session(float_path).get_inputs()[0].name
    calibration = np.asarray(calibration, np.float32)

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.starts = iter(range(0, len(calibration), CALIBRATION_BATCH))

        def get_next(self):
            start = next(self.starts, None)
            return None if start is None else {input_name: calibration[start:start + CALIBRATION_BATCH]}

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out_path), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv", "MatMul", "Gemm"])


def _versions() -> dict[str, str]:
    import keras

    versions = {"keras": keras.__version__}
    for name in ("tensorflow", "tf2onnx", "onnx", "onnxruntime"):
        try:
            versions[name] = getattr(__import__(name), "__version__", "installed")
        except ImportError:
            versions[name] = "not installed"
    return versions


def write_onnx(model, folder: str | Path, check_face_inputs: np.ndarray, check_source: str,
               calibration_frames: np.ndarray | None = None) -> dict[str, Any]:
    """Export `model` (an EmotionModel of the folder) to folder/model.onnx, check it against Keras on
    `check_face_inputs` (preprocess() output) under every TTA mode, and record it in the folder's config.json.
    With `calibration_frames`, also write model.int8.onnx (its agreement is recorded, not required).
    Raises ModelSourceError when the float export differs from Keras by more than TOLERANCE."""
    folder = Path(folder)
    config = model.config
    check_face_inputs = np.asarray(check_face_inputs)
    path = folder / NETWORK_FILE
    with tempfile.TemporaryDirectory(dir=folder) as staging:
        staged = Path(staging) / NETWORK_FILE
        export_network(model.model, staged, config)
        onnx = require_onnx()
        opset = max(entry.version for entry in onnx.load(str(staged)).opset_import if entry.domain in ("", "ai.onnx"))
        record: dict[str, Any] = {"file": NETWORK_FILE, "sha256": file_sha256(staged), "opset": opset,
                                  "input": "raw 0-255 pixels, (N, *input_shape); test-time views are made outside",
                                  "outputs": [output.name for output in open_session(staged).get_outputs()]}
        config.runtimes[RUNTIME_KEY] = record
        staged.replace(path)
    onnx_model = OnnxModel(folder, config)
    check = agreement(model, onnx_model, check_face_inputs)
    worst = max(figures["max_abs_difference"] for figures in check.values())
    record.update(checked_on=f"{len(check_face_inputs)} {check_source}", tolerance=TOLERANCE, max_abs_difference=worst,
                  modes=check, written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  versions=_versions())
    if worst > TOLERANCE:
        path.unlink(missing_ok=True)
        config.runtimes.pop(RUNTIME_KEY, None)
        config.save(folder / CONFIG_FILE)
        raise ModelSourceError(f"{path}: ONNX Runtime differs from Keras by {worst:.2e} > {TOLERANCE:g}; not kept")
    if calibration_frames is not None:
        int8_path = folder / INT8_FILE
        inputs = model.network_inputs(np.asarray(calibration_frames))
        quantize(path, int8_path, inputs)
        record["int8"] = {"file": INT8_FILE, "sha256": file_sha256(int8_path),
                          "calibrated_on": f"{len(inputs)} faces"}
        int8_model = OnnxModel(folder, config, precision="int8")
        record["int8"]["modes"] = agreement(model, int8_model, check_face_inputs)
    config.save(folder / CONFIG_FILE)
    return record


def write_gradcam_onnx(model, folder: str | Path, check_face_inputs: np.ndarray,
                       check_source: str) -> dict[str, Any] | None:
    """folder/gradcam.onnx (fer.runtime.gradcam_writer: Grad-CAM's activations and gradients, reading its weights
    from the folder's model.onnx), its maps checked against TensorFlow's gradient tape on `check_face_inputs`
    (preprocess() output), each face for its predicted class (GRADCAM_MIN_AGREEMENT of them within TOLERANCE),
    and recorded in config.json
    under runtimes.onnx.gradcam. None, with nothing written, for networks that do not need it (class maps) or
    that it does not cover (gradcam_writer.UnsupportedLayerError: a residual backbone). Raises
    ModelSourceError when the maps differ by more."""
    import keras
    import tensorflow as tf

    from fer.explain import gradcam_from_gradients
    from fer.runtime.gradcam_writer import UnsupportedLayerError, export_gradcam, layers_after
    from fer.runtime.onnx import GRADCAM_FILE, GRADCAM_INPUTS, GRADCAM_OUTPUTS

    folder, config = Path(folder), model.config
    served = OnnxModel(folder, config)
    record = config.runtimes[RUNTIME_KEY]
    record.pop("gradcam", None)
    path = folder / GRADCAM_FILE
    path.unlink(missing_ok=True)
    if served.has_class_maps:
        config.save(folder / CONFIG_FILE)
        return None
    try:
        layers_after(model.model, config.last_conv_layer)
    except UnsupportedLayerError:
        config.save(folder / CONFIG_FILE)
        return None
    export_gradcam(model.model, config.last_conv_layer, path, weights_file=served.path)
    inputs = model.network_inputs(np.asarray(check_face_inputs)).astype(np.float32)
    classes = model.predict_in_batches(np.asarray(check_face_inputs)).argmax(axis=1)
    targets = np.eye(config.num_classes, dtype=np.float32)[classes]
    network = model.model
    tape_model = keras.Model(network.inputs, [network.get_layer(config.last_conv_layer).output, network.outputs[0]])
    with tf.GradientTape() as tape:
        activations, logits = tape_model(tf.constant(inputs), training=False)
        score = tf.reduce_sum(logits * targets, axis=-1)
    gradients = tape.gradient(score, activations).numpy()
    size = tuple(config.input_shape[:2])
    expected = gradcam_from_gradients(activations.numpy(), gradients, size)
    got_activations, got_gradients = open_session(path).run(list(GRADCAM_OUTPUTS),
                                                            dict(zip(GRADCAM_INPUTS, (inputs, targets))))
    got = gradcam_from_gradients(got_activations, got_gradients, size)
    per_face = np.abs(got - expected).reshape(len(inputs), -1).max(axis=1)
    worst, agreeing = float(per_face.max()), float(np.mean(per_face <= TOLERANCE))
    config.runtimes[RUNTIME_KEY]["gradcam"] = {
        "file": GRADCAM_FILE, "sha256": file_sha256(path), "weights_file": served.path.name,
        "weights_sha256": file_sha256(served.path), "layer": config.last_conv_layer,
        "checked_on": f"{len(inputs)} {check_source}, each for its predicted class", "tolerance": TOLERANCE,
        "faces_within_tolerance": agreeing, "max_abs_map_difference": worst,
        "max_abs_gradient_difference": float(np.abs(got_gradients - gradients).max()),
        "gradient_scale": float(np.abs(gradients).max())}
    if agreeing < GRADCAM_MIN_AGREEMENT:
        path.unlink(missing_ok=True)
        config.runtimes[RUNTIME_KEY].pop("gradcam")
        config.save(folder / CONFIG_FILE)
        raise ModelSourceError(f"{path}: its Grad-CAM maps agree with TensorFlow's within {TOLERANCE:g} on "
                               f"{agreeing:.1%} of the faces (at most {worst:.2e} apart); not kept")
    config.save(folder / CONFIG_FILE)
    return config.runtimes[RUNTIME_KEY]["gradcam"]


def agreement(model, other, frames: np.ndarray) -> dict[str, dict[str, float]]:
    """Per TTA mode the model serves: the largest probability difference from Keras and the top-1 agreement."""
    result = {}
    for mode in supported_modes(model.config):
        expected = model.predict_in_batches(frames, tta=mode)
        got = other.predict_in_batches(frames, tta=mode)
        result[mode] = {"max_abs_difference": float(np.abs(expected - got).max()),
                        "top1_agreement": float((expected.argmax(1) == got.argmax(1)).mean())}
    return result
