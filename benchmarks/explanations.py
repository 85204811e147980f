"""Section 3: explanation latency per face for each method of fer.explain (skipped when it is absent)."""

from __future__ import annotations

import importlib.util

from benchmarks.context import Context
from benchmarks.timing import measure

GRADCAM_TARGET_MS = 30.0


def available() -> bool:
    return importlib.util.find_spec("fer.explain") is not None


def measured_models(context: Context) -> list[str]:
    return [context.model_source]


def run(context: Context) -> dict:
    if not available():
        return {"skipped": "fer/explain.py is not in this checkout"}
    from fer.explain import METHODS, Explainer

    explainer = Explainer(context.model)
    face = context.model.preprocess([context.faces[0].image])[0]
    class_index = int(context.model.predict_proba(face[None]).argmax())
    rows = []
    for method, title in METHODS.items():
        timing = measure(lambda: explainer.explain(face, method, class_index),
                         repeats=context.settings.explain_repeats, warmup=1)
        rows.append({"method": method, "title": title, **timing.to_dict()})
    from fer.model.sources import load_model

    served = load_model(context.model_source)  # the folder as the app serves it (ONNX Runtime when it can)
    if getattr(served, "has_gradcam", False):  # Grad-CAM from gradcam.onnx or class maps: what the app's photo runs
        timing = measure(lambda: served.class_activation_maps(face[None], [class_index]),
                         repeats=context.settings.explain_repeats, warmup=1)
        rows.append({"method": "gradcam", "title": "Grad-CAM on ONNX Runtime (served)", "runtime": "onnx",
                     **timing.to_dict()})
    gradcam = min((row for row in rows if row["method"] == "gradcam"), key=lambda row: row["median_ms"],
                  default=None)
    return {"model": context.model_note, "rows": rows,
            "gradcam_target_ms": GRADCAM_TARGET_MS,
            "gradcam_meets_target": None if gradcam is None else gradcam["median_ms"] <= GRADCAM_TARGET_MS}


def table(results: dict) -> list[str]:
    if "skipped" in results:
        return [f"skipped: {results['skipped']}"]
    lines = ["method | ms per face (median)"]
    lines += [f"{row['title']} | {row['median_ms']:.1f}" for row in results["rows"]]
    if results["gradcam_meets_target"] is not None:
        verdict = "meets" if results["gradcam_meets_target"] else "MISSES"
        lines.append(f"Grad-CAM {verdict} the {results['gradcam_target_ms']:.0f} ms target")
    return lines
