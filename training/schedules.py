"""Learning-rate schedules that save with the optimizer, so a resumed run continues at the same point."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then cosine decay to `floor` at `total_steps`."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, floor: float = 0.0) -> None:
        if total_steps < 1 or not 0 <= warmup_steps < total_steps:
            raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}")
        self.peak, self.total_steps, self.warmup_steps, self.floor = peak, total_steps, warmup_steps, floor

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(self.warmup_steps, "float32")
        warm_lr = self.peak * (step + 1.0) / ops.maximum(warmup, 1.0)
        progress = ops.clip((step - warmup) / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
        cosine_lr = self.floor + 0.5 * (self.peak - self.floor) * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, warm_lr, cosine_lr)

    def get_config(self) -> dict:
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "floor": self.floor}
