"""fer.explain.faithfulness and fer.explain.sanity on models whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from fer.explain.faithfulness import area, faithfulness
from fer.explain.sanity import CASCADE, cascade_layers, sanity_check, spearman, ssim


def quadrant_model():
    """A 2-class model whose 'top-left' logit is 4 x (the mean edge energy of the top-left quadrant - 1): a 3x3
    Laplacian with ReLU (the Grad-CAM layer), then a dense layer that reads only that quadrant; 'other' is a
    constant 0. Only the top-left texture decides the class; blurring or flattening it removes the evidence."""
    import keras
    from keras import layers

    from fer.runtime.keras import EmotionModel
    from fer.model.config import ModelConfig

    inputs = keras.Input((48, 48, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(1, 3, padding="same", activation="relu", name="planted_conv")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs)
    laplacian = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32).reshape(3, 3, 1, 1)
    model.get_layer("planted_conv").set_weights([laplacian, np.zeros(1, np.float32)])
    kernel = np.zeros((48, 48, 2), np.float32)
    kernel[:24, :24, 0] = 4.0 / (24 * 24)
    model.get_layer("logits").set_weights([kernel.reshape(-1, 2), np.array([-4.0, 0.0], np.float32)])
    return EmotionModel(model, ModelConfig("planted", ["top-left", "other"], [48, 48, 1], "planted_conv", tta="none"))


def textured_face(seed: int = 0) -> np.ndarray:
    """Faint noise with a 0/255 checkerboard in the top-left quadrant."""
    face = np.random.default_rng(seed).integers(0, 30, (48, 48, 1)).astype(np.uint8)
    rows, cols = np.indices((24, 24))
    face[:24, :24, 0] = np.where((rows + cols) % 2 == 0, 255, 0)
    return face


def test_area_is_the_trapezoid_rule():
    assert area(np.array([0.0, 0.5, 1.0]), np.array([1.0, 1.0, 0.0])) == pytest.approx(0.75)


def test_grad_cam_of_the_quadrant_model_points_there_and_deletes_faster_than_random():
    from fer.explain import Explainer

    model, face = quadrant_model(), textured_face()
    heatmap = Explainer(model).explain(face, "gradcam", 0)
    assert heatmap[:24, :24].mean() > heatmap[24:, :].mean() + 0.3 and heatmap[:24, :24].mean() > heatmap[:24, 24:].mean() + 0.3
    result = faithfulness(model, face, heatmap, 0)
    assert result.deletion_auc < result.random_deletion_auc - 0.2
    assert result.insertion_auc > result.random_insertion_auc + 0.2
    assert result.deletion[0] == pytest.approx(result.insertion[-1], abs=1e-6)  # both ends are the face itself
    # A map that points away from the quadrant deletes no faster than chance.
    wrong = faithfulness(model, face, 1.0 - heatmap, 0)
    assert wrong.deletion_auc >= wrong.random_deletion_auc - 0.02


def test_every_curve_step_goes_through_the_network_in_one_call(monkeypatch):
    from fer.explain import faithfulness as module

    model, calls = quadrant_model(), []
    original = module.network_probabilities
    monkeypatch.setattr(module, "network_probabilities", lambda m, x: calls.append(len(x)) or original(m, x))
    result = faithfulness(model, textured_face(), np.random.default_rng(0).random((48, 48)), 0, steps=10,
                          random_orders=2)
    assert calls == [(2 + 2 * 2) * 11] and len(result.deletion) == 11


def test_bad_inputs_are_value_errors():
    model = quadrant_model()
    with pytest.raises(ValueError, match="expected one face input"):
        faithfulness(model, np.zeros((40, 40, 1)), np.zeros((40, 40)), 0)
    with pytest.raises(ValueError, match="out of range"):
        faithfulness(model, textured_face(), np.zeros((48, 48)), 5)


def test_similarity_measures():
    rng = np.random.default_rng(0)
    a = rng.random((40, 40))
    assert spearman(a, a) == pytest.approx(1.0) and ssim(a, a) == pytest.approx(1.0)
    assert spearman(a, np.zeros_like(a)) == 0.0
    assert abs(spearman(a, rng.random((40, 40)))) < 0.2


def test_cascade_goes_from_the_logits_down_to_the_grad_cam_block(tiny_model):
    points = cascade_layers(tiny_model.model, tiny_model.config.last_conv_layer)
    assert list(points) == list(CASCADE)
    assert points[CASCADE[0]] == ["logits"]
    assert "dense1" in points[CASCADE[1]] and not any(name.startswith("block") for name in points[CASCADE[1]])
    assert "block2_conv2" in points[CASCADE[2]] and "block1_conv1" not in points[CASCADE[2]]


def test_grad_cam_passes_the_sanity_check_and_a_map_blind_to_the_weights_fails(tiny_model, monkeypatch):
    from fer.explain import maps

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (6, 48, 48, 1)).astype(np.uint8)
    classes = [0, 1, 2, 3, 4, 5]
    original = maps.Explainer.explain_batch

    def explain_batch(self, batch, method="gradcam", targets=0):
        if method == "edges":  # a "method" that reads only the image: the same map whatever the weights
            return np.stack([np.abs(np.diff(face[:, :, 0].astype(np.float32), axis=1, append=0)) / 255
                             for face in batch])
        return original(self, batch, method, targets)

    monkeypatch.setattr(maps.Explainer, "explain_batch", explain_batch)
    results = {r.method: r for r in sanity_check(tiny_model, faces, classes, ["gradcam", "edges"])}
    assert results["gradcam"].passed and results["gradcam"].spearman[CASCADE[1]] < 0.5
    assert not results["edges"].passed and results["edges"].spearman[CASCADE[1]] == pytest.approx(1.0)
    assert set(results["gradcam"].to_dict()) >= {"passed", "spearman", "ssim", "ms_per_face"}
