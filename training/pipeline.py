"""Input pipeline on any Keras backend: in-memory uint8 faces, class balancing, shuffled augmented batches."""

from __future__ import annotations

import functools
import math
from typing import Callable

import keras
import numpy as np

from training.augment import Augmentation, augment_batch, random_inputs
from training.teachers import mix_targets

__all__ = ["Augmentation", "augment_batch", "BALANCE_MODES", "balanced_indices", "class_weights", "FaceBatches",
           "make_dataset", "MIX_MODES", "mix_batch"]

BALANCE_MODES = ("none", "weights", "oversample", "undersample")
MIX_MODES = ("none", "mixup", "cutmix")


def mix_batch(images: np.ndarray, targets: np.ndarray, mode: str, alpha: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mixup (Zhang et al. 2018: a convex blend of each face with another of the batch) or CutMix (Yun et al. 2019:
    a random rectangle pasted from another face), with lambda ~ Beta(alpha, alpha); the targets are blended in the
    same proportion (for CutMix, the pasted area's exact share)."""
    partner = rng.permutation(len(images))
    share = float(rng.beta(alpha, alpha))
    if mode == "mixup":
        mixed = share * images + (1.0 - share) * images[partner]
    else:
        height, width = images.shape[1:3]
        cut_h, cut_w = int(round(height * np.sqrt(1.0 - share))), int(round(width * np.sqrt(1.0 - share)))
        top, left = int(rng.integers(0, height - cut_h + 1)), int(rng.integers(0, width - cut_w + 1))
        mixed = images.copy()
        mixed[:, top:top + cut_h, left:left + cut_w] = images[partner, top:top + cut_h, left:left + cut_w]
        share = 1.0 - (cut_h * cut_w) / (height * width)
    return mixed.astype(images.dtype), (share * targets + (1.0 - share) * targets[partner]).astype(targets.dtype)


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


class FaceBatches(keras.utils.PyDataset):
    """Batches of (float32 images, targets[, weights]) as numpy arrays, which every backend's fit() takes.

    Training batches are reshuffled each epoch and augmented with the keras.ops code in training.augment.
    Randomness comes from (seed, epoch, batch index), so it does not depend on which worker builds a batch."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, batch_size: int, training: bool,
                 augmentation: Augmentation | None = None, sample_weights: np.ndarray | None = None,
                 seed: int = 0, output_size: tuple[int, int] | None = None, epoch: int = 0,
                 drop_remainder: bool = False, workers: int = 1, mix: str = "none", mix_alpha: float = 0.0,
                 teacher: Callable[[np.ndarray], np.ndarray] | None = None, teacher_weight: float = 0.0) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        if len(images) != len(targets) or (sample_weights is not None and len(sample_weights) != len(images)):
            raise ValueError(f"images, targets and sample weights differ in length: {len(images)}, {len(targets)}, "
                             f"{None if sample_weights is None else len(sample_weights)}")
        if drop_remainder and len(images) < batch_size:
            raise ValueError(f"{len(images)} rows make no full batch of {batch_size}")
        self.images, self.targets, self.sample_weights = images, targets, sample_weights
        self.batch_size, self.training, self.seed, self.epoch = batch_size, training, seed, epoch
        self.augmentation = augmentation if training and augmentation is not None and augmentation.enabled else None
        self.output_shape = (*(output_size or images.shape[1:3]), images.shape[3])
        self.drop_remainder = drop_remainder
        if mix not in MIX_MODES:
            raise ValueError(f"mix must be one of {', '.join(MIX_MODES)}, got {mix!r}")
        if mix != "none" and not mix_alpha > 0:
            raise ValueError(f"{mix} needs a positive alpha, got {mix_alpha}")
        self.mix, self.mix_alpha = (mix, float(mix_alpha)) if training else ("none", 0.0)
        if teacher is not None and not 0.0 <= teacher_weight <= 1.0:
            raise ValueError(f"teacher weight must be in [0, 1], got {teacher_weight}")
        self.teacher, self.teacher_weight = (teacher, float(teacher_weight)) if training else (None, 0.0)
        self._order = self._epoch_order()
        if self.augmentation is not None:
            self._augment = compiled(functools.partial(augment_batch, augmentation=self.augmentation,
                                                       output_size=self.output_shape[:2]))

    def _epoch_order(self) -> np.ndarray:
        if not self.training:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple:
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.images[rows].astype(np.float32)
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            uniforms, noise = random_inputs(rng, len(rows), self.augmentation, self.output_shape)
            images = keras.ops.convert_to_numpy(self._augment(images, uniforms=uniforms, noise=noise))
        targets = self.targets[rows]
        if self.mix != "none":
            images, targets = mix_batch(images, targets, self.mix, self.mix_alpha,
                                        np.random.default_rng([self.seed, self.epoch, index, 1]))
        if self.teacher is not None:  # after augmentation and mixing: the teacher scores what the student sees
            targets = mix_targets(targets, self.teacher(images), self.teacher_weight)
        batch = (images, targets)
        return batch if self.sample_weights is None else (*batch, self.sample_weights[rows])

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._epoch_order()


def compiled(function):
    """The function compiled once where the backend can: its ~40 small ops then run as one program. On
    TensorFlow (tf.function) that costs a third of running them one by one on CPU; on JAX, eager ops would each
    compile on first use (a minute on a loaded 2-core CPU) and dispatch one by one on a GPU. Torch runs eagerly."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True)
    return function


def make_dataset(
    images: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None = None,
    sample_weights: np.ndarray | None = None,
    seed: int = 0,
    output_size: tuple[int, int] | None = None,
    epoch: int = 0,
    drop_remainder: bool = False,
    mix: str = "none",
    mix_alpha: float = 0.0,
    teacher: Callable[[np.ndarray], np.ndarray] | None = None,
    teacher_weight: float = 0.0,
) -> FaceBatches:
    """Batches of in-memory faces for model.fit(); `epoch` is the first epoch served (so a resumed run draws anew).
    `teacher` (e.g. training.teachers.OnlineTeacher) gives probabilities for each finished training batch, mixed
    into its targets with `teacher_weight`."""
    return FaceBatches(images, targets, batch_size, training, augmentation, sample_weights, seed, output_size,
                       epoch, drop_remainder, mix=mix, mix_alpha=mix_alpha, teacher=teacher,
                       teacher_weight=teacher_weight)
