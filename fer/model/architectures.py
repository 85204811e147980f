"""The one registry of architectures: build_model(name, ...) and list_models()."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np
from keras import layers

# Pixels enter every model raw (0..255); each builder scales them inside the graph.
INPUT_NAME = "pixels"
LOGITS_NAME = "logits"
GLOBAL_POOL_NAME = "global_pool"


@dataclasses.dataclass(frozen=True)
class BuiltModel:
    """A freshly built network and the facts its config.json will need."""

    model: keras.Model
    last_conv_layer: str
    options: dict[str, Any]


_REGISTRY: dict[str, Callable[..., BuiltModel]] = {}


def register(name: str) -> Callable:
    def decorator(builder: Callable[..., BuiltModel]) -> Callable[..., BuiltModel]:
        _REGISTRY[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Names accepted by build_model()."""
    return sorted(_REGISTRY)


def build_model(
    name: str,
    num_classes: int,
    input_shape: Sequence[int] = (48, 48, 1),
    **options: Any,
) -> BuiltModel:
    """Build a registered architecture that maps raw 0..255 pixels to `num_classes` logits."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        raise ValueError(f"input_shape must be (height, width, 1 or 3), got {input_shape}")
    return _REGISTRY[name](num_classes=num_classes, input_shape=input_shape, **options)


@register("cnn")
def build_cnn(
    num_classes: int,
    input_shape: tuple[int, int, int],
    filters: Sequence[int] = (32, 64, 128, 256),
    convs_per_block: int = 2,
    dense_units: Sequence[int] = (256,),
    block_dropout: float = 0.1,
    head_dropout: float = 0.3,
    weight_decay: float = 0.0,
    grad_cam_block: int | None = None,
    global_pool: bool = False,
) -> BuiltModel:
    """VGG-style network for small grey faces: blocks of 3x3 conv + BatchNorm + ReLU, max-pool, dropout.

    The seeds' variants are options: filters=(128, 256, 512, 512), dense_units=(512, 256), or (32, 64, 128).
    grad_cam_block: the block whose last ReLU Grad-CAM reads (default: the second-to-last block, whose maps
    are finer than the last block's and rarely empty for the predicted class).
    global_pool: end with global average pooling of the last block's ReLU (no pooling after it, no hidden
    dense layer) and the logits layer right after it. Grad-CAM of the last block is then a forward
    computation (the logits layer's class weights times the feature maps: a class activation map), which
    runtimes without gradients (ONNX, the private page) can compute.
    """
    filters, dense_units = [int(f) for f in filters], [int(u) for u in dense_units]
    if global_pool and dense_units:
        raise ValueError("global_pool puts the logits right after the pooled features: pass dense_units=()")
    if not filters or min(filters) < 1 or convs_per_block < 1:
        raise ValueError("cnn needs at least one block with a positive number of filters")
    if min(input_shape[:2]) < 2 ** len(filters):
        raise ValueError(f"input {input_shape[:2]} is too small for {len(filters)} pooling blocks")
    grad_cam_block = int(grad_cam_block or (len(filters) if global_pool else max(1, len(filters) - 1)))
    if not 1 <= grad_cam_block <= len(filters):
        raise ValueError(f"grad_cam_block must be between 1 and {len(filters)}, got {grad_cam_block}")
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    inputs = keras.Input(shape=input_shape, name=INPUT_NAME)
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for block, width in enumerate(filters, start=1):
        for conv in range(1, convs_per_block + 1):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_regularizer=regularizer,
                              name=f"block{block}_conv{conv}")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = layers.ReLU(name=f"block{block}_relu{conv}")(x)
        if global_pool and block == len(filters):
            break
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
        if block_dropout:
            x = layers.Dropout(block_dropout, name=f"block{block}_dropout")(x)
    if global_pool:
        x = layers.GlobalAveragePooling2D(name=GLOBAL_POOL_NAME)(x)
        if head_dropout:
            x = layers.Dropout(head_dropout, name="head_dropout")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, use_bias=False, kernel_regularizer=regularizer, name=f"dense{index}")(x)
        x = layers.BatchNormalization(name=f"dense{index}_bn")(x)
        x = layers.ReLU(name=f"dense{index}_relu")(x)
        if head_dropout:
            x = layers.Dropout(head_dropout, name=f"dense{index}_dropout")(x)
    outputs = layers.Dense(num_classes, name=LOGITS_NAME)(x)
    options = dict(filters=filters, convs_per_block=convs_per_block, dense_units=dense_units,
                   block_dropout=block_dropout, head_dropout=head_dropout, weight_decay=weight_decay,
                   grad_cam_block=grad_cam_block, global_pool=global_pool)
    return BuiltModel(keras.Model(inputs, outputs, name="cnn"), f"block{grad_cam_block}_relu{convs_per_block}", options)


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass for one input, counted over the convolution and dense layers (the rest
    is small beside them)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            kernel = layer.get_weights()[0]
            height, width = layer.output.shape[1:3]
            per_position = int(np.prod(kernel.shape))
            total += int(height) * int(width) * per_position
        elif isinstance(layer, layers.Dense):
            total += int(np.prod(layer.get_weights()[0].shape))
    return total


@dataclasses.dataclass(frozen=True)
class _Backbone:
    application: Callable[..., keras.Model]
    last_conv_layer: str
    min_size: int
    # "caffe": RGB->BGR and ImageNet mean subtraction on 0..255; "tf": scale to -1..1.
    preprocessing: str


_BACKBONES = {
    "resnet50": _Backbone(keras.applications.ResNet50, "conv5_block3_out", 32, "caffe"),
    "vgg16": _Backbone(keras.applications.VGG16, "block5_conv3", 32, "caffe"),
    "inception_v3": _Backbone(keras.applications.InceptionV3, "mixed10", 75, "tf"),
    "inception_resnet_v2": _Backbone(keras.applications.InceptionResNetV2, "conv_7b_ac", 75, "tf"),
}
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def _backbone_input(inputs: keras.KerasTensor, backbone: _Backbone, size: int) -> keras.KerasTensor:
    """Grey -> 3 channels, resize to the backbone's size, then the backbone's own preprocessing as layers."""
    x = inputs
    if inputs.shape[-1] == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    if tuple(inputs.shape[1:3]) != (size, size):
        x = layers.Resizing(size, size, name="resize")(x)
    if backbone.preprocessing == "caffe":
        # keras.applications' caffe mode subtracts the ImageNet mean from 0..255 pixels. Faces here are
        # grey repeated to 3 channels, so the RGB->BGR flip of that mode changes nothing and is left out.
        # A Rescaling offset, not Normalization(mean, variance): that layer keeps its constants as tensors made
        # at build time, which Keras's ONNX export turned into extra graph inputs instead of constants.
        x = layers.Rescaling(1.0, offset=[-value for value in _IMAGENET_BGR_MEAN], name="imagenet_norm")(x)
    else:
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
    return x


def _build_transfer(
    name: str,
    num_classes: int,
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    backbone_size: int | None = None,
    head_dropout: float = 0.3,
) -> BuiltModel:
    backbone = _BACKBONES[name]
    size = int(backbone_size or max(backbone.min_size, *input_shape[:2]))
    if size < backbone.min_size:
        raise ValueError(f"{name} needs inputs of at least {backbone.min_size}px, got backbone_size={size}")
    inputs = keras.Input(shape=input_shape, name=INPUT_NAME)
    x = _backbone_input(inputs, backbone, size)
    # input_tensor= makes the backbone's layers part of this graph (flat), so Grad-CAM can reach them.
    features = backbone.application(include_top=False, weights=weights, input_tensor=x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(features.output)
    if head_dropout:
        x = layers.Dropout(head_dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, name=LOGITS_NAME)(x)
    model = keras.Model(inputs, outputs, name=name)
    options = dict(backbone_size=size, head_dropout=head_dropout)
    return BuiltModel(model, backbone.last_conv_layer, options)


def backbone_layer_names(name: str, model: keras.Model) -> list[str]:
    """Names of the pretrained backbone's layers in a built transfer model (for freezing)."""
    if name not in _BACKBONES:
        return []
    own = {INPUT_NAME, "grey_to_rgb", "resize", "imagenet_norm", "rescale", "avg_pool", "head_dropout", LOGITS_NAME}
    return [layer.name for layer in model.layers if layer.name not in own]


for _name in _BACKBONES:
    register(_name)(lambda _n=_name, **kwargs: _build_transfer(_n, **kwargs))
