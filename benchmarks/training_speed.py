"""Section 7: training images/s, our input pipeline (with augmentation) vs a naive model.fit on numpy."""

from __future__ import annotations

import time

import keras
import numpy as np

from benchmarks.context import Context
from fer.labels import FER2013_LABELS
from fer.model.architectures import build_model
from fer.model.preprocessing import preprocess_faces
from training import pipeline

BATCH = 64


def training_data(context: Context, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed uint8 faces and one-hot targets (real faces when present; speed does not depend on them)."""
    faces = [context.faces[i % len(context.faces)] for i in range(count)]
    images = preprocess_faces([face.image for face in faces], (48, 48, 1))
    labels = np.array([face.label or 0 for face in faces])  # example-photo faces carry no label
    return images, np.eye(len(FER2013_LABELS), dtype=np.float32)[labels]


def new_model() -> keras.Model:
    """The default cnn (the shipped architecture), compiled as for training."""
    keras.utils.set_random_seed(0)
    model = build_model("cnn", len(FER2013_LABELS), (48, 48, 1)).model
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def measured_models(context: Context) -> list[str]:
    return []  # a freshly built default cnn: no shipped model's figures


def run(context: Context) -> dict:
    settings = context.settings
    steps = settings.train_steps
    images, targets = training_data(context, steps * BATCH)
    ours_model, naive_model = new_model(), new_model()
    augmentation = pipeline.Augmentation()
    dataset = pipeline.make_dataset(images, targets, BATCH, training=True, augmentation=augmentation)
    floats = images.astype(np.float32)

    def ours(step_count: int) -> None:
        ours_model.fit(dataset, steps_per_epoch=step_count, epochs=1, verbose=0)

    def naive(step_count: int) -> None:
        naive_model.fit(floats[: step_count * BATCH], targets[: step_count * BATCH], batch_size=BATCH, epochs=1,
                        shuffle=True, verbose=0)

    ours(2)  # warm-up: builds the train function and the compiled augmentation
    naive(2)
    speeds: dict[str, list[float]] = {"ours": [], "naive": []}
    for _ in range(settings.train_repeats):  # interleaved, so background load falls on both alike
        for name, function in (("ours", ours), ("naive", naive)):
            start = time.perf_counter()
            function(steps)
            speeds[name].append(steps * BATCH / (time.perf_counter() - start))
    median = {name: float(np.median(values)) for name, values in speeds.items()}
    return {
        "model": "default cnn (32-64-128-256, the shipped architecture), batch 64, SGD",
        "steps_per_run": steps, "runs": settings.train_repeats,
        "ours": "training.pipeline.make_dataset (uint8 in memory, shuffle, batched keras.ops augmentation)",
        "naive": "model.fit on a float32 numpy array (no augmentation)",
        "images_per_second": {name: round(value, 1) for name, value in median.items()},
        "ours_over_naive": round(median["ours"] / median["naive"], 3),
    }


def table(results: dict) -> list[str]:
    speeds = results["images_per_second"]
    return ["input path | images/s (median)",
            f"input pipeline + augmentation | {speeds['ours']:.0f}",
            f"naive model.fit on numpy | {speeds['naive']:.0f}",
            f"ratio ours/naive | {results['ours_over_naive']:.2f}"]
