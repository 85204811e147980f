"""The one preprocessing function: every input kind, and training and serving giving identical arrays."""

from __future__ import annotations

import numpy as np
import pytest

from fer.errors import ImageError
from fer.model.preprocessing import preprocess_face, preprocess_faces


def test_shapes_and_dtype_for_every_input_kind():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (64, 50, 3), dtype=np.uint8)
    inputs = {
        "grey": rgb[:, :, 0],
        "grey_channel": rgb[:, :, :1],
        "rgb": rgb,
        "rgba": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "uint16": rgb.astype(np.uint16) * 257,
        "float01": rgb / 255.0,
        "float255": rgb.astype(np.float32),
    }
    for name, image in inputs.items():
        out = preprocess_face(image, (48, 48, 1))
        assert out.shape == (48, 48, 1) and out.dtype == np.uint8, name
        assert preprocess_face(image, (32, 40, 3)).shape == (32, 40, 3), name


def test_value_mapping_is_consistent_across_dtypes():
    rgb = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    reference = preprocess_face(rgb)
    np.testing.assert_array_equal(preprocess_face(rgb.astype(np.uint16) * 257), reference)
    np.testing.assert_array_equal(preprocess_face(rgb / 255.0), reference)
    np.testing.assert_array_equal(preprocess_face(np.dstack([rgb, rgb[:, :, :1]])), reference)


def test_bgr_order_is_flipped_before_grey_conversion():
    red = np.zeros((48, 48, 3), np.uint8)
    red[:, :, 0] = 255  # red in RGB order, blue in BGR order
    as_rgb = preprocess_face(red, color_order="rgb")[0, 0, 0]
    as_bgr = preprocess_face(red, color_order="bgr")[0, 0, 0]
    assert as_rgb == 76 and as_bgr == 29  # ITU-R BT.601 weights of red and blue


def test_grey_48x48_passes_through_unchanged():
    grey = np.random.default_rng(2).integers(0, 256, (48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(preprocess_face(grey)[:, :, 0], grey)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4,), np.uint8), "expected an image of shape"),
    (np.zeros((5, 5, 2), np.uint8), "expected an image of shape"),
    (np.zeros((0, 5), np.uint8), "image is empty"),
    (np.full((5, 5), np.nan), "NaN"),
    (np.zeros((5, 5), np.complex64), "unsupported pixel type"),
])
def test_bad_inputs_raise_image_error(bad, message):
    with pytest.raises(ImageError, match=message):
        preprocess_face(bad)


def test_training_and_serving_paths_give_identical_arrays(tiny_model, face_photo):
    """The training CLI and the Recognizer must turn the same crop into the same model input."""
    from fer.faces import Box
    from fer.pipeline import Recognizer

    recognizer = Recognizer(tiny_model)
    frame = recognizer.read(face_photo)
    box = Box(120, 70, 260, 260)
    crop = box.crop(frame)
    # Serving: what Recognizer.classify feeds the network.
    served = tiny_model.preprocess([crop])
    # Training: what training.train feeds the network (grey 48x48 dataset images through preprocess_faces).
    from fer.data import FER2013_SIZE

    training_image = preprocess_face(crop, (FER2013_SIZE, FER2013_SIZE, 1))[:, :, 0]  # how a folder image is stored
    trained = preprocess_faces(training_image[None], tiny_model.config.input_shape)
    np.testing.assert_array_equal(served, trained)
    assert served.shape == (1, 48, 48, 1)
