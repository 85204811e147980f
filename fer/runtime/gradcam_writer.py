"""Writes a model folder's `gradcam.onnx` (the reader is fer.runtime.onnx): Grad-CAM's activations and gradients as
one forward graph, so ONNX Runtime explains a network with a dense head without TensorFlow.

tf2onnx cannot convert a gradient tape (ReluGrad, MaxPoolGrad and their kin have no ONNX ops), so the backward pass
from the logits to the Grad-CAM layer is written here with forward ops, layer by layer: a dense layer's gradient is
a product with its kernel, a convolution's a transposed convolution with the same kernel, BatchNormalization (in
inference) a scale, ReLU a mask, max pooling a one-hot of each window's first maximum (where TensorFlow routes
it). It covers the chains our cnn builds (Conv2D, BatchNormalization, ReLU, MaxPooling2D, Dropout, Flatten,
GlobalAveragePooling2D, Dense); any other layer after the Grad-CAM layer (a residual backbone's Add, ...) raises
UnsupportedLayerError and the model keeps explaining through Keras. The written file is checked against
TensorFlow's gradient tape before it is kept (fer.runtime.onnx_writer.write_gradcam_onnx).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from fer.runtime.onnx import GRADCAM_INPUTS, GRADCAM_OUTPUTS

(FACES_INPUT, TARGETS_INPUT), (ACTIVATIONS_OUTPUT, GRADIENTS_OUTPUT) = GRADCAM_INPUTS, GRADCAM_OUTPUTS


class UnsupportedLayerError(ValueError):
    """A layer between the Grad-CAM layer and the logits whose gradient this module does not write."""


def layers_after(network, layer_name: str) -> list:
    """The layers from the one after `layer_name` to the network's output, checked to be a plain chain of layers
    whose gradients backward_step() writes (UnsupportedLayerError otherwise)."""
    names = [layer.name for layer in network.layers]
    if layer_name not in names:
        raise ValueError(f"the network has no layer {layer_name!r}")
    previous = network.get_layer(layer_name)
    chain = network.layers[names.index(layer_name) + 1:]
    for layer in chain:
        _check_supported(layer)
        if layer.input is not previous.output:
            raise UnsupportedLayerError(f"{layer.name} does not read {previous.name}'s output: the layers after "
                                        f"{layer_name} are not a plain chain")
        previous = layer
    if not chain or chain[-1].output is not network.outputs[0]:
        raise UnsupportedLayerError(f"the chain after {layer_name} does not end at the network's output")
    return chain


def _check_supported(layer) -> None:
    import keras

    kind = type(layer).__name__
    config = layer.get_config()
    problem = None
    if kind in ("Dropout", "SpatialDropout2D", "Flatten"):
        return
    if kind == "Dense":
        problem = None if layer.activation is keras.activations.linear else "a fused activation"
    elif kind == "BatchNormalization":
        problem = None if config["axis"] in (-1, len(layer.input.shape) - 1) else f"axis {config['axis']}"
    elif kind == "ReLU":
        plain = config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold")
        problem = None if plain else "a capped, leaky or thresholded ReLU"
    elif kind == "GlobalAveragePooling2D":
        problem = None if not config.get("keepdims") and config["data_format"] == "channels_last" else "keepdims"
    elif kind == "MaxPooling2D":
        plain = (tuple(config["pool_size"]) == tuple(config["strides"]) and config["data_format"] == "channels_last"
                 and config["padding"] == "valid")
        problem = None if plain else "overlapping windows or padding"
    elif kind == "Conv2D":
        plain = (tuple(config["strides"]) == (1, 1) and tuple(config["dilation_rate"]) == (1, 1)
                 and config.get("groups", 1) == 1 and config["data_format"] == "channels_last"
                 and layer.activation is keras.activations.linear)
        problem = None if plain else "strides, dilation, groups or a fused activation"
    else:
        problem = "no gradient rule written for it"
    if problem:
        raise UnsupportedLayerError(f"{layer.name} ({kind}): {problem}")


def batch_norm_scale(layer):
    """What BatchNormalization multiplies its input by in inference, computed as tf.nn.batch_normalization does."""
    import tensorflow as tf

    scale = tf.math.rsqrt(layer.moving_variance + layer.epsilon)
    return scale if layer.gamma is None else scale * layer.gamma


def backward_step(layer, inputs, gradient, scale=None):
    """The gradient w.r.t. `layer`'s inputs from the gradient w.r.t. its output, in TensorFlow forward ops (the
    layer's own variables, so the export stores each kernel once). `scale`: the BatchNormalization right after a
    Conv2D, whose gradient is taken with the convolution's: tf2onnx folds that scale into the forward kernel, and
    the same product here lets the export keep one copy of it (dedupe_initializers)."""
    import tensorflow as tf

    kind = type(layer).__name__
    if kind in ("Dropout", "SpatialDropout2D"):  # identity in inference
        return gradient
    if kind == "Flatten":
        return tf.reshape(gradient, tf.shape(inputs))
    if kind == "Dense":  # (kernel @ gradient^T)^T: the forward's kernel as stored, not a transposed copy
        return tf.transpose(tf.matmul(layer.kernel, gradient, transpose_b=True))
    if kind == "BatchNormalization":
        return gradient * batch_norm_scale(layer)
    if kind == "ReLU":
        return tf.where(inputs > 0, gradient, tf.zeros_like(gradient))
    if kind == "GlobalAveragePooling2D":
        height, width = inputs.shape[1], inputs.shape[2]
        return tf.ones_like(inputs) * gradient[:, None, None, :] / float(height * width)
    if kind == "MaxPooling2D":
        return _max_pool_backward(inputs, gradient, tuple(layer.get_config()["pool_size"]))
    if kind == "Conv2D":
        padding = layer.get_config()["padding"].upper()
        kernel = layer.kernel if scale is None else layer.kernel * scale
        return tf.nn.conv2d_transpose(gradient, kernel, tf.shape(inputs), strides=1, padding=padding)
    raise UnsupportedLayerError(f"{layer.name} ({kind}): no gradient rule written for it")


def _max_pool_backward(inputs, gradient, pool_size):
    """Each window's gradient to its first maximum in row-major order (as TensorFlow's MaxPoolGrad routes it, ties
    included: after a ReLU a window is often all zeros); rows and columns no window covers get zero."""
    import tensorflow as tf

    pool_h, pool_w = pool_size
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    out_h, out_w = height // pool_h, width // pool_w
    covered = inputs[:, :out_h * pool_h, :out_w * pool_w, :]
    windows = tf.reshape(covered, (-1, out_h, pool_h, out_w, pool_w, channels))
    windows = tf.reshape(tf.transpose(windows, (0, 1, 3, 2, 4, 5)), (-1, out_h, out_w, pool_h * pool_w, channels))
    first_max = tf.one_hot(tf.argmax(windows, axis=3), pool_h * pool_w, axis=3, dtype=gradient.dtype)
    routed = tf.reshape(first_max * gradient[:, :, :, None, :], (-1, out_h, out_w, pool_h, pool_w, channels))
    routed = tf.reshape(tf.transpose(routed, (0, 1, 3, 2, 4, 5)), (-1, out_h * pool_h, out_w * pool_w, channels))
    return tf.pad(routed, [[0, 0], [0, height - out_h * pool_h], [0, width - out_w * pool_w], [0, 0]])


def gradcam_function(network, layer_name: str):
    """A tf.function (faces, one-hot targets) -> (the layer's activations, d(sum of targets * logits) / d
    activations), the pair fer.explain's Grad-CAM reads from a gradient tape, computed without one."""
    import keras
    import tensorflow as tf

    chain = layers_after(network, layer_name)
    features = keras.Model(network.inputs, network.get_layer(layer_name).output)
    num_classes = int(network.outputs[0].shape[-1])
    signature = [tf.TensorSpec((None, *network.inputs[0].shape[1:]), tf.float32, name=FACES_INPUT),
                 tf.TensorSpec((None, num_classes), tf.float32, name=TARGETS_INPUT)]

    @tf.function(input_signature=signature)
    def gradcam(faces, targets):
        activations = features(faces, training=False)
        inputs, x = [], activations
        for layer in chain:
            inputs.append(x)
            x = layer(x, training=False)
        gradient = targets  # d(sum(targets * logits)) / d logits
        position = len(chain) - 1
        while position >= 0:
            layer = chain[position]
            before = chain[position - 1] if position > 0 else None
            if type(layer).__name__ == "BatchNormalization" and type(before).__name__ == "Conv2D":
                gradient = backward_step(before, inputs[position - 1], gradient, batch_norm_scale(layer))
                position -= 2
            else:
                gradient = backward_step(layer, inputs[position], gradient)
                position -= 1
        return {ACTIVATIONS_OUTPUT: tf.identity(activations, name=ACTIVATIONS_OUTPUT),
                GRADIENTS_OUTPUT: tf.identity(gradient, name=GRADIENTS_OUTPUT)}

    return gradcam, signature


def export_gradcam(network, layer_name: str, path: Path, weights_file: Path | None = None) -> None:
    """gradcam_function() converted by tf2onnx to `path` (UnsupportedLayerError for networks it does not cover).
    With `weights_file` (the folder's model.onnx, in the same folder), every weight tensor found there verbatim is
    read from it (share_weights) instead of stored again."""
    from fer.runtime.onnx_writer import require_onnx, require_tf2onnx

    tf2onnx = require_tf2onnx()
    function, signature = gradcam_function(network, layer_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        function(*(np.zeros((1, *spec.shape[1:]), np.float32) for spec in signature))
    graph, _ = tf2onnx.convert.from_function(function, signature)
    dedupe_initializers(graph)
    if weights_file is not None:
        share_weights(graph, Path(weights_file))
    require_onnx().save(graph, str(path))


SHARED_MIN_BYTES = 1024  # smaller tensors (biases, scales) stay in the file: a reference would not be shorter


def share_weights(graph, weights_file: Path) -> int:
    """Make each initializer of `graph` whose bytes occur exactly once in `weights_file` an ONNX external-data
    reference (location, offset, length) into that file, which must sit beside the saved graph. The forward
    pass's kernels are byte for byte the ones tf2onnx wrote into model.onnx, so gradcam.onnx stores almost none
    of its own (the cnn's 8.9 MB of weights become a 25 kB file). Returns the number of tensors shared."""
    from fer.runtime.onnx_writer import require_onnx

    external = require_onnx().TensorProto.EXTERNAL
    blob = weights_file.read_bytes()
    shared = 0
    for tensor in graph.graph.initializer:
        data = tensor.raw_data
        if len(data) < SHARED_MIN_BYTES:
            continue
        offset = blob.find(data)
        if offset < 0 or blob.find(data, offset + 1) >= 0:
            continue
        tensor.ClearField("raw_data")
        tensor.data_location = external
        for key, value in (("location", weights_file.name), ("offset", str(offset)), ("length", str(len(data)))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        shared += 1
    return shared


def dedupe_initializers(graph) -> int:
    """Point every node at one copy of each distinct weight tensor (equal dtype, shape and bytes) and drop the
    other copies: the forward and backward passes share their kernels. Returns the number dropped."""
    kept: dict[tuple, str] = {}
    renamed: dict[str, str] = {}
    unique = []
    for tensor in graph.graph.initializer:
        key = (tensor.data_type, tuple(tensor.dims), tensor.raw_data) if tensor.raw_data else None
        if key is not None and key in kept:
            renamed[tensor.name] = kept[key]
            continue
        if key is not None:
            kept[key] = tensor.name
        unique.append(tensor)
    if renamed:
        for node in graph.graph.node:
            node.input[:] = [renamed.get(name, name) for name in node.input]
        del graph.graph.initializer[:]
        graph.graph.initializer.extend(unique)
    return len(renamed)
