"""tf.data input pipeline: in-memory uint8 faces, class balancing, batched augmentation, prefetch."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

BALANCE_MODES = ("none", "weights", "oversample", "undersample")


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random train-time transforms; each is off when its strength is 0 / False."""

    flip: bool = True
    rotation_degrees: float = 10.0
    zoom: float = 0.1  # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.1  # centre shift as a fraction of the side
    crop_min: float = 40 / 48  # random square crop of crop_min..1 of the window, resized back
    erasing: float = 0.0  # probability of blanking a random rectangle with noise (random erasing)
    # Side of the output as a fraction of the input frame: 40/48 trains on 40x40 windows of 48x48 faces.
    window: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.flip or self.rotation_degrees or self.zoom or self.shift or self.crop_min < 1
                    or self.erasing or self.window < 1)


def augment_batch(images: tf.Tensor, augmentation: Augmentation, output_size: tuple[int, int] | None = None,
                  ) -> tf.Tensor:
    """Crop, zoom, shift and flip in one crop_and_resize, then rotate and erase; float32 (B, H, W, C).

    output_size defaults to the input's; a smaller one with window < 1 samples windows of the frame."""
    batch = tf.shape(images)[0]
    height, width = output_size or (images.shape[1], images.shape[2])
    scale = augmentation.window * tf.random.uniform([batch], augmentation.crop_min, 1.0)
    if augmentation.zoom:
        scale = scale * tf.random.uniform([batch], 1 - augmentation.zoom, 1 + augmentation.zoom)
    max_shift = augmentation.shift
    centre_y = 0.5 + tf.random.uniform([batch], -max_shift, max_shift)
    centre_x = 0.5 + tf.random.uniform([batch], -max_shift, max_shift)
    y1, y2 = centre_y - scale / 2, centre_y + scale / 2
    x1, x2 = centre_x - scale / 2, centre_x + scale / 2
    if augmentation.flip:
        # crop_and_resize mirrors the crop when x1 > x2: a free horizontal flip.
        flip = tf.random.uniform([batch]) < 0.5
        x1, x2 = tf.where(flip, x2, x1), tf.where(flip, x1, x2)
    boxes = tf.stack([y1, x1, y2, x2], axis=1)
    images = tf.image.crop_and_resize(images, boxes, tf.range(batch), (height, width), extrapolation_value=0.0)
    if augmentation.rotation_degrees:
        angle = tf.random.uniform([batch], -1.0, 1.0) * augmentation.rotation_degrees * np.pi / 180
        images = _rotate(images, angle)
    if augmentation.erasing:
        images = _erase(images, augmentation.erasing)
    return images


def _erase(images: tf.Tensor, probability: float) -> tf.Tensor:
    """Random erasing (Zhong et al. 2017): a rectangle of 2-25% of the area, aspect 0.3-3.3, set to noise."""
    shape = tf.shape(images)
    batch, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    area = tf.random.uniform([batch], 0.02, 0.25) * height * width
    aspect = tf.exp(tf.random.uniform([batch], np.log(0.3), np.log(1 / 0.3)))
    box_h = tf.minimum(tf.sqrt(area * aspect), height)
    box_w = tf.minimum(tf.sqrt(area / aspect), width)
    top = tf.random.uniform([batch]) * (height - box_h)
    left = tf.random.uniform([batch]) * (width - box_w)
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None]))
    inside &= (tf.random.uniform([batch]) < probability)[:, None, None]
    noise = tf.random.uniform(shape, 0.0, 255.0)
    return tf.where(inside[..., None], noise, images)


def _rotate(images: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    cos, sin = tf.cos(angles), tf.sin(angles)
    # Projective transform mapping output to input coordinates, rotating about the centre.
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
    zeros = tf.zeros_like(angles)
    transforms = tf.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT",
    )


def balanced_indices(labels: np.ndarray, mode: str, num_classes: int, seed: int) -> np.ndarray:
    """Row indices for one epoch: all rows, or resampled so every class appears equally often."""
    if mode not in BALANCE_MODES:
        raise ValueError(f"balance must be one of {', '.join(BALANCE_MODES)}, got {mode!r}")
    all_rows = np.arange(len(labels))
    if mode in ("none", "weights"):
        return all_rows
    rng = np.random.default_rng(seed)
    per_class = [all_rows[labels == c] for c in range(num_classes)]
    present = [rows for rows in per_class if len(rows)]
    target = max(map(len, present)) if mode == "oversample" else min(map(len, present))
    chosen = [rng.choice(rows, size=target, replace=len(rows) < target) for rows in present]
    return np.sort(np.concatenate(chosen))


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights with mean 1 over the rows (absent classes get weight 0)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


def make_dataset(
    images: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None = None,
    sample_weights: np.ndarray | None = None,
    seed: int = 0,
    output_size: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """A prefetching dataset of (float32 images, targets[, weights]) batches from in-memory arrays."""
    tensors = (images, targets) if sample_weights is None else (images, targets, sample_weights)
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if training:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_float(x, *rest):
        x = tf.cast(x, tf.float32)
        if training and augmentation is not None and augmentation.enabled:
            x = augment_batch(x, augmentation, output_size)
        return (x, *rest)

    return dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
