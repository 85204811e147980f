"""fer.explain: every method on a tiny model, and on a planted model where the right answer is known."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fer.explain import METHODS, Explainer, check_method, overlay

# tf-keras-vis hands Keras 3 a list of one input; Keras warns and handles it (fer.explain filters it outside tests).
pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match:UserWarning")


@pytest.fixture(scope="module")
def explainer(tiny_model):
    return Explainer(tiny_model, smooth_samples=8)


@pytest.fixture(scope="module")
def face_input(tiny_model, face_photo):
    """Grace Hopper's face as the tiny model's (48, 48, 1) input."""
    from fer.pipeline import Recognizer

    return Recognizer(tiny_model).analyze(face_photo).inputs[0]


def planted_model():
    """A 2-class model whose answer lives in one half of the image: 'left' reads the bright left half
    (channel 0 = pixel), 'right' reads the dark right half (channel 1 = 1 - pixel). Every method must
    put the heat on that class's half."""
    import keras
    from keras import layers

    from fer.runtime.keras import EmotionModel
    from fer.model.config import ModelConfig

    inputs = keras.Input((48, 48, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(2, 1, name="planted_conv")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("planted_conv").set_weights([np.array([[[[1.0, -1.0]]]], np.float32),
                                                 np.array([0.0, 1.0], np.float32)])
    kernel = np.zeros((48, 48, 2, 2), np.float32)
    kernel[:, :24, 0, 0] = 4.0 / (48 * 24)  # 'left' logit: mean of channel 0 over the left half
    kernel[:, 24:, 1, 1] = 4.0 / (48 * 24)  # 'right' logit: mean of channel 1 over the right half
    model.get_layer("logits").set_weights([kernel.reshape(-1, 2), np.zeros(2, np.float32)])
    config = ModelConfig("planted", ["left", "right"], [48, 48, 1], "planted_conv", tta="none")
    return EmotionModel(model, config)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_normalised_map_of_the_input_size(explainer, face_input, method):
    heatmap = explainer.explain(face_input, method, target=3)
    assert heatmap.shape == (48, 48)
    assert heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    assert heatmap.max() - heatmap.min() > 0.1  # a real map, not a constant


@pytest.mark.parametrize("method", list(METHODS))
def test_planted_model_maps_point_at_the_half_that_decides_the_class(method):
    explainer = Explainer(planted_model(), smooth_samples=4)
    face = np.zeros((48, 48, 1), np.uint8)
    face[:, :24] = 255  # bright left half, dark right half
    left, right = explainer.explain_batch(np.stack([face, face]), method, [0, 1])
    assert left[:, :24].mean() > left[:, 24:].mean() + 0.2, "class 'left' must heat the left half"
    assert right[:, 24:].mean() > right[:, :24].mean() + 0.2, "class 'right' must heat the right half"


def test_batch_gives_one_map_per_face_for_its_own_class(explainer, face_input):
    batch = np.stack([face_input, face_input])
    maps = explainer.explain_batch(batch, "gradcam", [3, 0])
    assert maps.shape == (2, 48, 48)
    np.testing.assert_allclose(maps[0], explainer.explain(face_input, "gradcam", 3), atol=1e-5)
    np.testing.assert_allclose(maps[1], explainer.explain(face_input, "gradcam", 0), atol=1e-5)
    assert not np.allclose(maps[0], maps[1], atol=1e-3), "different classes must give different maps"


def test_batched_smoothgrad_equals_tf_keras_vis_smoothgrad(tiny_model, face_input):
    import tensorflow as tf
    from tf_keras_vis.saliency import Saliency

    explainer = Explainer(tiny_model, smooth_samples=6, smooth_noise=0.2)
    batch = np.stack([face_input, face_input[::-1]])
    ours = explainer.explain_batch(batch, "smoothgrad", [3, 5])
    targets = tf.one_hot([3, 5], 7)
    np.random.seed(0)  # tf-keras-vis draws its noise from numpy's global generator
    reference = Saliency(tiny_model.model, clone=False)(lambda output: tf.reduce_sum(output * targets, axis=-1),
                                                        batch.astype(np.float32), smooth_samples=6, smooth_noise=0.2)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    np.testing.assert_array_equal(ours, explainer.explain_batch(batch, "smoothgrad", [3, 5]))  # reproducible


def test_compiled_gradcam_equals_tf_keras_vis_gradcam(tiny_model, face_input):
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam

    explainer = Explainer(tiny_model)
    batch = np.stack([face_input, face_input[::-1]])
    ours = explainer.explain_batch(batch, "gradcam", [3, 5])
    targets = tf.one_hot([3, 5], 7)
    reference = Gradcam(tiny_model.model, clone=False)(
        lambda output: tf.reduce_sum(output * targets, axis=-1), batch.astype(np.float32),
        penultimate_layer=tiny_model.config.last_conv_layer, seek_penultimate_conv_layer=False)
    assert ours.shape == reference.shape == (2, 48, 48)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_cam_layer_comes_from_the_config(tiny_model, face_input):
    import copy

    from fer.runtime.keras import EmotionModel

    assert Explainer(tiny_model).layer == tiny_model.config.last_conv_layer == "block2_relu2"
    config = copy.deepcopy(tiny_model.config)
    config.last_conv_layer = "block1_relu2"  # a different (48x48) layer must change the map
    other = Explainer(EmotionModel(tiny_model.model, config))
    assert other.layer == "block1_relu2"
    assert not np.allclose(other.explain(face_input, "gradcam", 3),
                           Explainer(tiny_model).explain(face_input, "gradcam", 3), atol=1e-3)


def test_unknown_method_lists_the_accepted_ones(explainer, face_input):
    with pytest.raises(ValueError, match="accepted: saliency, smoothgrad, gradcam, gradcam\\+\\+, scorecam"):
        explainer.explain(face_input, "lime", 0)
    assert check_method("Grad-CAM++") == "gradcam++"
    assert check_method(" GradCAM ") == "gradcam"


def test_bad_class_index_and_shape_are_value_errors(explainer, face_input):
    with pytest.raises(ValueError, match="out of range for 7 classes"):
        explainer.explain(face_input, "gradcam", 7)
    with pytest.raises(ValueError, match="expected a batch of shape"):
        explainer.explain_batch(np.zeros((1, 32, 32, 1), np.uint8), "gradcam", 0)
    with pytest.raises(ValueError, match="2 classes for 1 faces"):
        explainer.explain_batch(face_input[None], "gradcam", [0, 1])
    assert explainer.explain_batch(np.zeros((0, 48, 48, 1), np.uint8), "gradcam", []).shape == (0, 48, 48)


def test_scorecam_prints_no_progress_bar(explainer, face_input, capsys):
    explainer.explain(face_input, "scorecam", 3)
    assert capsys.readouterr().out == ""


def test_concurrent_calls_match_sequential_ones(explainer, face_input):
    expected = explainer.explain(face_input, "gradcam++", 4)
    results, errors = [], []

    def work():
        try:
            results.append(explainer.explain(face_input, "gradcam++", 4))
        except Exception as error:  # collected, then asserted below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_overlay_colours_hot_pixels_red_and_cold_pixels_blue():
    face = np.full((60, 80), 128, np.uint8)  # grey face: overlay returns RGB
    heatmap = np.zeros((48, 48), np.float32)
    heatmap[:, :24] = 1.0
    blended = overlay(face, heatmap)
    assert blended.shape == (60, 80, 3) and blended.dtype == np.uint8
    hot, cold = blended[:, :30].reshape(-1, 3).mean(0), blended[:, 50:].reshape(-1, 3).mean(0)
    assert hot[0] > hot[2] + 50, "hot half should be red"
    assert cold[2] > cold[0] + 50, "cold half should be blue"
    np.testing.assert_array_equal(overlay(face, heatmap, alpha=0.0), np.repeat(face[:, :, None], 3, axis=2))


def test_overlay_rejects_bad_inputs():
    with pytest.raises(ValueError, match="alpha"):
        overlay(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4)), alpha=1.5)
    with pytest.raises(ValueError, match="2-D"):
        overlay(np.zeros((8, 8, 3), np.uint8), np.zeros((1, 4, 4)))


def test_classes_can_be_named_by_label(explainer, face_input):
    np.testing.assert_array_equal(explainer.explain(face_input, "gradcam", "happy"),
                                  explainer.explain(face_input, "gradcam", 3))
    with pytest.raises(ValueError, match="unknown class 'bored'; this model's labels are: angry"):
        explainer.explain(face_input, "gradcam", "bored")


def test_crop_models_map_the_whole_frame_with_zeros_outside_the_centre(tmp_path):
    from conftest import make_model_folder
    from fer.model.config import ModelConfig
    from fer.model.sources import load_model

    folder = make_model_folder(tmp_path / "crop", input_size=40)
    config = ModelConfig.load(folder / "config.json")
    assert config.face_input_shape == [48, 48, 1]
    model = load_model(folder)
    frame = np.random.default_rng(0).integers(0, 255, (48, 48, 1), dtype=np.uint8)
    heatmap = Explainer(model).explain(frame, "saliency", 0)
    assert heatmap.shape == (48, 48) and heatmap[:4].max() == 0 and heatmap[4:44, 4:44].max() > 0
    center = Explainer(model).explain(frame[4:44, 4:44], "saliency", 0)
    np.testing.assert_allclose(heatmap[4:44, 4:44], center, atol=1e-6)


def test_explain_face_overlays_the_map_of_one_face_on_its_crop(explainer, tiny_model, face_photo):
    from fer.faces import to_rgb
    from fer.pipeline import Recognizer

    analysis = Recognizer(tiny_model).analyze(face_photo)
    predicted = explainer.explain_face(analysis, 0)
    assert predicted.label == analysis.faces[0].label  # no target: the predicted label
    heatmap = explainer.explain(analysis.inputs[0], "gradcam", predicted.label)
    np.testing.assert_array_equal(predicted.image, overlay(to_rgb(analysis.crops[0]), heatmap))
    assert predicted.image.shape == (*analysis.crops[0].shape[:2], 3)
    assert predicted.evidence == bool(heatmap.any())
    other = next(label for label in tiny_model.labels if label != predicted.label)
    assert explainer.explain_face(analysis, 0, "saliency", other).label == other
    with pytest.raises(ValueError):
        explainer.explain_face(analysis, 0, "gradcam", "no-such-label")
