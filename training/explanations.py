"""The explanation table of a model card: for each method, how faithful its maps are (mean deletion and insertion
areas against random orders, fer.explain.faithfulness), whether it passes the model-randomization sanity check
(fer.explain.sanity) and its time per face, over a fixed sample of selection-split faces; and the model's default
method chosen from it. `python -m training.finalize FOLDER --explanations-only` refreshes it."""

from __future__ import annotations

import time

import numpy as np

from fer.explain import METHODS

SAMPLE_FACES = 100
# SmoothGrad and Score-CAM take several times longer per face: fewer faces keep the table within minutes.
SLOW_METHODS = {"smoothgrad": 25, "scorecam": 25}


def sample_rows(count: int, total: int, seed: int = 0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(total, min(count, total), replace=False))


def explanation_table(model, frames: np.ndarray, split: str, sample: int = SAMPLE_FACES,
                      methods=tuple(METHODS), progress=print, served_without_tensorflow=frozenset()) -> dict:
    """{"split", "faces", "methods": {method: figures}, "default": method, "why": text} for an EmotionModel
    (or OnnxModel) on a fixed sample of its preprocessed `frames`; each face explained for its predicted class.
    `served_without_tensorflow`: the methods the model's folder explains on ONNX Runtime (choose_default)."""
    from fer.explain.faithfulness import faithfulness
    from fer.explain.maps import Explainer
    from fer.explain.sanity import sanity_check

    rows = sample_rows(sample, len(frames))
    inputs = model.network_inputs(frames[rows])
    classes = [int(c) for c in np.argmax(model.predict_proba(frames[rows], tta="none"), axis=1)]
    explainer = Explainer(model)
    counts = {method: min(len(rows), SLOW_METHODS.get(method, len(rows))) for method in methods}
    table = {}
    for method in methods:
        count = counts[method]
        start = time.perf_counter()
        maps = explainer.explain_batch(inputs[:count], method, classes[:count])
        seconds = (time.perf_counter() - start) / count
        scores = [faithfulness(model, inputs[i], maps[i], classes[i]).to_dict() for i in range(count)]
        table[method] = {key: round(float(np.mean([s[key] for s in scores])), 4)
                         for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc")}
        table[method].update(faces=count, ms_per_face=round(1000 * seconds, 1))
        progress(f"{method}: {table[method]}")
    for result in sanity_check(model, inputs, classes, methods, counts):
        table[result.method]["sanity"] = result.to_dict()
        progress(f"{result.method}: sanity {'passed' if result.passed else 'FAILED'} {result.spearman}")
    default, why = choose_default(table, served_without_tensorflow)
    return {"split": split, "faces": len(rows), "methods": table, "default": default, "why": why}


def faithfulness_gain(figures: dict) -> float:
    """How much better than random the maps are: deletion below random plus insertion above random."""
    return (figures["random_deletion_auc"] - figures["deletion_auc"]) + (
        figures["insertion_auc"] - figures["random_insertion_auc"])


def choose_default(table: dict, served_without_tensorflow=frozenset()) -> tuple[str, str]:
    """The method with the largest faithfulness gain among those that pass the sanity check (all, if none
    does). Among the methods within 0.01 of it, one the folder serves without TensorFlow wins (the app then
    never loads TensorFlow for its photos: seconds at start-up and about 0.6 GiB); when none is, one at least 5x
    faster wins, since the app draws one per photo. 0.01 is about what 100 faces can tell apart."""
    passing = [m for m in table if table[m].get("sanity", {}).get("passed", True)] or list(table)
    best = max(passing, key=lambda m: faithfulness_gain(table[m]))
    close = [m for m in passing if faithfulness_gain(table[m]) >= faithfulness_gain(table[best]) - 0.01]
    light = [m for m in close if m in served_without_tensorflow]
    if light:
        chosen = best if best in light else min(light, key=lambda m: table[m]["ms_per_face"])
    else:
        fast = min(close, key=lambda m: table[m]["ms_per_face"])
        chosen = fast if table[fast]["ms_per_face"] * 5 <= table[best]["ms_per_face"] else best
    failed = [m for m in table if m not in passing]
    if chosen == best:
        why = (f"{METHODS[chosen]}: the largest faithfulness gain over random orders "
               f"({faithfulness_gain(table[chosen]):+.3f})")
    elif chosen in light:
        why = (f"{METHODS[chosen]}: within 0.01 of the most faithful ({METHODS[best]}, "
               f"{faithfulness_gain(table[best]):+.3f} against {faithfulness_gain(table[chosen]):+.3f}) and served "
               "without TensorFlow (on ONNX Runtime)")
    else:
        why = f"{METHODS[chosen]}: within 0.01 of the most faithful ({METHODS[best]}) at a fifth of its time or less"
    why += " among the methods that pass the sanity check" + (f" ({', '.join(failed)} fail it)" if failed else "")
    return chosen, why + "."
