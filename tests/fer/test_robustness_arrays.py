"""Property-based robustness: any array given to preprocess_face() or Recognizer.predict() either works
(right shape, dtype and probabilities) or raises our FerError — never an error from deep inside OpenCV/TF."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fer.errors import FerError, ImageError
from fer.faces import Box, Face
from fer.model.preprocessing import preprocess_face
from fer.pipeline import FacePrediction, Recognizer

# Few examples and no deadline: the suite must stay fast on two busy cores, and TF's first call is slow.
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any scalar dtype in either byte order (bool, ints, uints, floats, complex, datetime, timedelta).
ANY_DTYPE = hnp.scalar_dtypes()
# Mostly image-like shapes, but also 0-d, 1-d, 4-d, empty sides and odd channel counts.
ANY_SHAPE = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=40),
    st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 6)),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
)
TARGET_SHAPES = st.tuples(st.integers(1, 64), st.integers(1, 64), st.sampled_from([1, 3]))


@st.composite
def any_array(draw) -> np.ndarray:
    """An array of any dtype and shape, sometimes as a non-contiguous (transposed or flipped) view."""
    array = draw(hnp.arrays(ANY_DTYPE, ANY_SHAPE))
    layout = draw(st.sampled_from(["contiguous", "flipped", "transposed"]))
    if layout == "flipped" and array.ndim >= 2:
        array = array[::-1, ::-1]
    elif layout == "transposed" and array.ndim >= 2:
        array = np.swapaxes(array, 0, 1)
    return array


def is_valid_image(array: np.ndarray) -> bool:
    """The documented contract, written independently of the library: which arrays must be accepted."""
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))
    if not shape_ok or min(array.shape[:2]) < 1:
        return False
    if array.dtype.kind in "biu":
        return True
    return array.dtype.kind == "f" and bool(np.all(np.isfinite(array)))


@SETTINGS
@given(image=any_array(), target=TARGET_SHAPES, color_order=st.sampled_from(["rgb", "bgr"]))
def test_preprocess_face_accepts_or_raises_our_error(image, target, color_order):
    if not is_valid_image(image):
        with pytest.raises(FerError):
            preprocess_face(image, target, color_order)
        return
    result = preprocess_face(image, target, color_order)
    assert result.shape == target
    assert result.dtype == np.uint8
    assert result.flags.c_contiguous


@SETTINGS
@given(grey=hnp.arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30))),
       byte_order=st.sampled_from(["<", ">"]))
def test_uint16_pixels_are_scaled_like_uint8_in_either_byte_order(grey, byte_order):
    # 257 * v maps 0..255 onto 0..65535 exactly, so the 16-bit image must give the same face as the 8-bit one.
    wide = (grey.astype(np.uint32) * 257).astype(np.dtype(f"{byte_order}u2"))
    target = (*grey.shape, 1)
    np.testing.assert_array_equal(preprocess_face(wide, target), preprocess_face(grey, target))
    np.testing.assert_array_equal(preprocess_face(grey, target)[:, :, 0], grey)  # same size: identity


@SETTINGS
@given(value=st.floats(0.0, 1.0), shape=st.tuples(st.integers(1, 20), st.integers(1, 20)))
def test_float_images_in_0_to_1_are_scaled_to_0_to_255(value, shape):
    result = preprocess_face(np.full(shape, value, np.float32), (8, 8, 1))
    assert np.all(result == np.uint8(round(value * 255)))


def test_bad_color_order_is_a_value_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"color_order must be one of \('rgb', 'bgr'\), got 'hsv'"):
        preprocess_face(np.zeros((4, 4, 3), np.uint8), color_order="hsv")


class WholeImageDetector:
    """A stand-in detector that reports the whole frame as one face, to push any frame through the model."""

    def detect(self, image: np.ndarray) -> list[Face]:
        return [Face(Box(0, 0, image.shape[1], image.shape[0]))]


@pytest.fixture(scope="module")
def whole_image_recognizer(tiny_model) -> Recognizer:
    return Recognizer(tiny_model, detector=WholeImageDetector(), pad=0.0, min_face_size=1)


def check_predictions(faces: list, image_shape: tuple[int, ...], labels: tuple[str, ...]) -> None:
    assert isinstance(faces, list)
    for face in faces:
        assert isinstance(face, FacePrediction)
        assert tuple(face.probabilities) == labels
        probabilities = np.array(list(face.probabilities.values()))
        assert np.all(np.isfinite(probabilities)) and np.all(probabilities >= 0)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
        box = face.box
        assert 0 <= box.x and 0 <= box.y and box.width > 0 and box.height > 0
        assert box.x + box.width <= image_shape[1] and box.y + box.height <= image_shape[0]


@SETTINGS
@given(image=any_array(), color_order=st.sampled_from(["rgb", "bgr"]))
def test_recognizer_predict_accepts_or_raises_our_error(recognizer, whole_image_recognizer, image, color_order):
    if not is_valid_image(image):
        for candidate in (recognizer, whole_image_recognizer):
            with pytest.raises(FerError):
                candidate.predict(image, color_order)
        return
    check_predictions(recognizer.predict(image, color_order), image.shape, recognizer.labels)
    # The stand-in detector forces the crop -> preprocess -> model path for every valid array.
    faces = whole_image_recognizer.predict(image, color_order)
    assert len(faces) == 1
    assert faces[0].box == Box(0, 0, image.shape[1], image.shape[0])
    check_predictions(faces, image.shape, recognizer.labels)


@pytest.mark.parametrize(
    "source, message",
    [
        (None, "cannot read an image from NoneType"),
        (42, "cannot read an image from int"),
        ([[0, 1], [2, 3]], "cannot read an image from list"),
        (b"", "image data is empty"),
        (b"not an image", "image data: not a recognized image format"),
        ("no/such/file.jpg", "no/such/file.jpg: no such image file"),
        (np.array("text"), "expected an image of shape"),
        (np.zeros((3, 3), dtype=object), "unsupported pixel type object"),
        (np.full((3, 3), np.nan, np.float32), "NaN or infinite"),
        (np.zeros((0, 5, 3), np.uint8), "image is empty"),
        (np.zeros((5, 5, 2), np.uint8), "got (5, 5, 2)"),
    ],
    ids=["none", "int", "list", "empty-bytes", "text-bytes", "missing-path", "string-array", "object-array",
         "nan", "zero-height", "two-channels"],
)
def test_recognizer_rejects_unreadable_sources_with_a_clear_message(recognizer, source, message):
    with pytest.raises(ImageError) as raised:
        recognizer.predict(source)
    assert message in str(raised.value)
