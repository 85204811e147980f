"""Golden checks on the bundled models: each finds Grace Hopper's face, classifies it, and its Grad-CAM
map (on the layer its config names, which the builder chose) has positive evidence."""

from __future__ import annotations

import pytest

from fer.explain import Explainer
from fer.model.sources import bundled_models, load_model
from fer.model.architectures import build_model
from fer.pipeline import Recognizer


@pytest.mark.parametrize("name", bundled_models())
def test_shipped_model_finds_one_face_and_explains_it(name, face_photo_path):
    model = load_model(name)
    analysis = Recognizer(model).analyze(face_photo_path)
    assert analysis.found == 1
    face = analysis.faces[0]
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    heatmap = Explainer(model).explain(analysis.inputs[0], "gradcam", face.label)
    assert heatmap.max() > 0.5 and (heatmap > 0.1).mean() > 0.05


@pytest.mark.parametrize("name", bundled_models())
def test_builder_names_the_grad_cam_layer_the_shipped_config_uses(name):
    config = load_model(name).config
    options = {k: v for k, v in config.architecture_options.items() if k != "grad_cam_block"}
    rebuilt = build_model(config.architecture, config.num_classes, config.input_shape, **options)
    assert rebuilt.last_conv_layer == config.last_conv_layer


def test_the_bundled_models_are_there():
    assert {"fer2013-cnn", "ferplus-cnn"} <= set(bundled_models())
