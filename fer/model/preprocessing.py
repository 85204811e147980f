"""preprocess_face(): the one function that turns a face crop into model input, for training and serving."""

from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np

from fer.model.config import face_input_shape
from fer.errors import ImageError

COLOR_ORDERS = ("rgb", "bgr")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Map uint8 / uint16 / bool / float pixels onto 0..255 uint8 without changing the shape."""
    if not image.dtype.isnative:
        # Big-endian pixels (e.g. from FITS or raw PNG rows) must be scaled like native ones, not clipped.
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if image.dtype == np.uint16:
        return (image.astype(np.uint32) // 257).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise ImageError("image has NaN or infinite pixel values")
        # Floats in 0..1 are the usual convention (skimage, matplotlib); anything larger is read as 0..255.
        scale = 255.0 if image.size and float(image.max()) <= 1.0 else 1.0
        return np.clip(np.rint(image * scale), 0, 255).astype(np.uint8)
    if image.dtype.kind in "iu":  # not issubdtype(integer): numpy counts timedelta64 as an integer
        return np.clip(image, 0, 255).astype(np.uint8)
    raise ImageError(f"unsupported pixel type {image.dtype}; use uint8, uint16 or float")


def _as_channels_last(image: np.ndarray) -> np.ndarray:
    """Return (H, W, C) with C in 1, 3, 4; reject other shapes with a clear message."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {tuple(image.shape)}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image is empty: shape {tuple(image.shape)}")
    return image


def standardize_image(image: np.ndarray, color_order: str = "rgb") -> np.ndarray:
    """Any supported image -> uint8 (H, W, 1) grey or (H, W, 3) RGB; alpha dropped, BGR flipped to RGB."""
    if color_order not in COLOR_ORDERS:
        raise ValueError(f"color_order must be one of {COLOR_ORDERS}, got {color_order!r}")
    image = to_uint8(_as_channels_last(np.asarray(image)))
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[2] == 3 and color_order == "bgr":
        image = image[:, :, ::-1]
    return image


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 1 or 3) uint8 from standardize_image() -> (H, W) grey uint8."""
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def preprocess_face(
    face: np.ndarray,
    input_shape: Sequence[int] = (48, 48, 1),
    color_order: str = "rgb",
    crop_pct: float = 1.0,
) -> np.ndarray:
    """Turn one face crop into a uint8 array of `input_shape` (height, width, channels).

    Accepts grey, RGB/BGR or RGBA/BGRA crops in uint8, uint16 or float. Pixels stay in 0..255:
    scaling to the network's range is a layer inside the model, so saved models take raw pixels.
    With crop_pct < 1 the face is resized to the larger frame input_size / crop_pct and its center kept,
    as models trained on random crops of the 48x48 FER-2013 faces expect.
    """
    if crop_pct != 1.0:
        frame = preprocess_face(face, face_input_shape(input_shape, crop_pct), color_order)
        return center_crop(frame, input_shape)
    height, width, channels = (int(v) for v in input_shape)
    image = standardize_image(face, color_order)
    if channels == 1 and image.shape[2] == 3:
        image = to_grey(image)[:, :, None]
    elif channels == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] > height or image.shape[1] > width
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)
        if image.ndim == 2:
            image = image[:, :, None]
    return np.ascontiguousarray(image, dtype=np.uint8)


def center_crop(images: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """The central (height, width) window of one (H, W, C) image or an (N, H, W, C) batch."""
    height, width = int(input_shape[0]), int(input_shape[1])
    rows, cols = images.shape[-3], images.shape[-2]
    if height > rows or width > cols:
        raise ValueError(f"cannot crop {height}x{width} from {rows}x{cols}")
    top, left = (rows - height) // 2, (cols - width) // 2
    return np.ascontiguousarray(images[..., top:top + height, left:left + width, :])


def preprocess_faces(
    faces: Iterable[np.ndarray],
    input_shape: Sequence[int] = (48, 48, 1),
    color_order: str = "rgb",
    crop_pct: float = 1.0,
) -> np.ndarray:
    """preprocess_face() over many crops, stacked into one (N, H, W, C) uint8 batch."""
    batch = [preprocess_face(face, input_shape, color_order, crop_pct) for face in faces]
    if not batch:
        return np.zeros((0, *[int(v) for v in input_shape]), dtype=np.uint8)
    return np.stack(batch)
