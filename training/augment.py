"""Batched train-time augmentation written once in keras.ops, so it runs the same on every Keras backend."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from keras import ops

# augment_batch() is a pure function of its inputs (so jax.jit / tf.function can compile it): the randomness
# comes in as uniform [0, 1) numbers, one row of RANDOM_COLUMNS per image plus one noise image for erasing.
# Every distribution is shaped here; the caller only draws uniform numbers (random_inputs(), from numpy).
RANDOM_COLUMNS = 11
_SCALE, _ZOOM, _CENTRE_Y, _CENTRE_X, _FLIP, _ANGLE, _AREA, _ASPECT, _TOP, _LEFT, _ERASE = range(RANDOM_COLUMNS)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random train-time transforms; each is off when its strength is 0 / False."""

    flip: bool = True
    rotation_degrees: float = 10.0
    zoom: float = 0.1  # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.1  # center shift as a fraction of the side
    crop_min: float = 40 / 48  # random square crop of crop_min..1 of the window, resized back
    erasing: float = 0.0  # probability of blanking a random rectangle with noise (random erasing)
    # Side of the output as a fraction of the input frame: 40/48 trains on 40x40 windows of 48x48 faces.
    window: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.flip or self.rotation_degrees or self.zoom or self.shift or self.crop_min < 1
                    or self.erasing or self.window < 1)


def random_inputs(rng: np.random.Generator, batch: int, augmentation: Augmentation,
                  output_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """The uniform numbers augment_batch() reads for a batch: (batch, RANDOM_COLUMNS) and the erasing noise."""
    uniforms = rng.random((batch, RANDOM_COLUMNS), dtype=np.float32)
    noise = rng.random((batch, *output_shape), dtype=np.float32) if augmentation.erasing else None
    return uniforms, noise


def augment_batch(images, augmentation: Augmentation, uniforms, noise=None,
                  output_size: tuple[int, int] | None = None):
    """Crop, zoom, shift and flip in one resampling, then rotate and erase; float32 (B, h, w, C).

    uniforms: (B, RANDOM_COLUMNS) in [0, 1); noise: (B, h, w, C) in [0, 1), read only when erasing.
    output_size defaults to the input's; a smaller one with window < 1 samples windows of the frame."""
    images = ops.cast(images, "float32")
    # Tensors already under tf.function / jax.jit; PyTorch runs eagerly, and mixing numpy arrays with its
    # tensors fails (numpy * Tensor), so the random numbers become tensors of the backend first.
    uniforms = ops.convert_to_tensor(uniforms, "float32")
    noise = None if noise is None else ops.convert_to_tensor(noise, "float32")
    height, width = output_size or (images.shape[1], images.shape[2])

    def between(column: int, low: float, high: float):
        return low + (high - low) * uniforms[:, column]

    scale = augmentation.window * between(_SCALE, augmentation.crop_min, 1.0)
    if augmentation.zoom:
        scale = scale * between(_ZOOM, 1 - augmentation.zoom, 1 + augmentation.zoom)
    center_y = 0.5 + between(_CENTRE_Y, -augmentation.shift, augmentation.shift)
    center_x = 0.5 + between(_CENTRE_X, -augmentation.shift, augmentation.shift)
    flip = (uniforms[:, _FLIP] < 0.5) if augmentation.flip else None
    images = _crop(images, center_y, center_x, scale, flip, (height, width))
    if augmentation.rotation_degrees:
        angles = between(_ANGLE, -1.0, 1.0) * (augmentation.rotation_degrees * math.pi / 180)
        images = _rotate(images, angles)
    if augmentation.erasing:
        if noise is None:
            raise ValueError("erasing needs a noise batch of the output's shape")
        images = _erase(images, augmentation.erasing, uniforms, 255.0 * noise)
    return images


def _crop(images, center_y, center_x, scale, flip, size: tuple[int, int]):
    """Resample the box (center, side scale, in fractions of the frame) to `size`; outside the frame is black.

    The same sampling grid as tf.image.crop_and_resize: corner pixels map to corner pixels of the box."""
    frame_h, frame_w = images.shape[1], images.shape[2]
    height, width = size
    top, left = center_y - scale / 2, center_x - scale / 2
    step_y = scale * (frame_h - 1) / max(height - 1, 1)
    step_x = scale * (frame_w - 1) / max(width - 1, 1)
    origin_x = left * (frame_w - 1)
    if flip is not None:
        # Walking the box right to left mirrors it: a free horizontal flip.
        origin_x = ops.where(flip, (left + scale) * (frame_w - 1), origin_x)
        step_x = ops.where(flip, -step_x, step_x)
    zeros = ops.zeros_like(scale)
    # Projective transforms map output (x, y) to input: x_in = a0 x + a1 y + a2, y_in = b0 x + b1 y + b2.
    transforms = ops.stack([step_x, zeros, origin_x, zeros, step_y, top * (frame_h - 1), zeros, zeros], axis=1)
    # affine_transform keeps the input's size: resample onto the frame-sized canvas and keep the top-left window.
    out = ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant",
                                     fill_value=0.0)[:, :height, :width, :]
    # Like crop_and_resize, a sample that falls outside the frame is black (bilinear filling would instead
    # fade the frame's edge pixels into black over one pixel).
    source_y = _column(top * (frame_h - 1)) + _column(step_y) * ops.arange(height, dtype="float32")[None, :, None]
    source_x = _column(origin_x) + _column(step_x) * ops.arange(width, dtype="float32")[None, None, :]
    inside = ops.logical_and(ops.logical_and(source_y >= 0, source_y <= frame_h - 1),
                             ops.logical_and(source_x >= 0, source_x <= frame_w - 1))
    return ops.where(ops.expand_dims(inside, -1), out, 0.0)


def _column(values):
    """(B,) -> (B, 1, 1), to broadcast one value per image over rows and columns."""
    return ops.reshape(values, (-1, 1, 1))


def _rotate(images, angles):
    """Rotate each image about its center; the corners fill by reflection."""
    height, width = images.shape[1], images.shape[2]
    cos, sin = ops.cos(angles), ops.sin(angles)
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
    zeros = ops.zeros_like(angles)
    transforms = ops.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)
    return ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="reflect")


def _erase(images, probability: float, uniforms, noise):
    """Random erasing (Zhong et al. 2017): a rectangle of 2-25% of the area, aspect 0.3-3.3, set to noise."""
    height, width = images.shape[1], images.shape[2]
    area = (0.02 + 0.23 * uniforms[:, _AREA]) * (height * width)
    aspect = ops.exp(math.log(0.3) + (math.log(1 / 0.3) - math.log(0.3)) * uniforms[:, _ASPECT])
    box_h = ops.minimum(ops.sqrt(area * aspect), float(height))
    box_w = ops.minimum(ops.sqrt(area / aspect), float(width))
    top = uniforms[:, _TOP] * (height - box_h)
    left = uniforms[:, _LEFT] * (width - box_w)
    rows = ops.reshape(ops.arange(height, dtype="float32"), (1, height, 1))
    cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, width))
    inside = ops.logical_and(
        ops.logical_and(rows >= _column(top), rows < _column(top + box_h)),
        ops.logical_and(cols >= _column(left), cols < _column(left + box_w)))
    inside = ops.logical_and(inside, _column(uniforms[:, _ERASE] < probability))
    return ops.where(ops.expand_dims(inside, -1), noise, images)
