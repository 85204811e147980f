"""The registry: every architecture builds, runs forward, has named layers and a reachable last conv layer."""

from __future__ import annotations

import numpy as np
import pytest

from fer.model.architectures import INPUT_NAME, LOGITS_NAME, build_model, list_models


def test_registry_lists_required_models():
    assert {"cnn", "resnet50", "vgg16", "inception_v3", "inception_resnet_v2"} <= set(list_models())


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_and_runs_forward(name):
    built = build_model(name, 8, (48, 48, 1))  # transfer models: weights=None by default (no download)
    model = built.model
    batch = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 1)).astype(np.float32)
    logits = model(batch, training=False)
    assert tuple(logits.shape) == (2, 8)
    assert model.get_layer(INPUT_NAME) is not None and model.get_layer(LOGITS_NAME) is not None
    conv = model.get_layer(built.last_conv_layer)
    assert len(conv.output.shape) == 4  # a spatial map Grad-CAM can use
    # Flat graph: no nested sub-model, so Grad-CAM can reach the last conv layer.
    assert not any(hasattr(layer, "layers") for layer in model.layers)


def test_cnn_expresses_the_seed_variants():
    wide = build_model("cnn", 7, filters=(128, 256, 512, 512), dense_units=(512, 256))
    assert [layer.name for layer in wide.model.layers if layer.name.startswith("dense")][:1] == ["dense1"]
    assert wide.model.get_layer("block4_conv2").filters == 512
    small = build_model("cnn", 7, filters=(32, 64, 128))
    assert small.last_conv_layer == "block2_relu2"  # the second-to-last block by default
    assert build_model("cnn", 7).last_conv_layer == "block3_relu2"  # the layer the shipped models use
    chosen = build_model("cnn", 7, grad_cam_block=4)
    assert chosen.last_conv_layer == "block4_relu2" and chosen.options["grad_cam_block"] == 4
    assert small.model.count_params() < build_model("cnn", 7).model.count_params()


@pytest.mark.parametrize("call, message", [
    (lambda: build_model("alexnet", 7), "unknown model 'alexnet'; available: cnn"),
    (lambda: build_model("cnn", 1), "num_classes must be at least 2"),
    (lambda: build_model("cnn", 7, (48, 48, 2)), "input_shape must be"),
    (lambda: build_model("cnn", 7, (8, 8, 1)), "too small"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
