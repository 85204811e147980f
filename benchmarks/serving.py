"""Section: serving without TensorFlow. Every shipped model exported to ONNX and LiteRT (float32 and int8) and
checked against Keras; then faces/s and per-frame latency of Keras, ONNX Runtime and LiteRT beside the fer
package's TFLite model, and the import time and install size of each path.

The section has an untimed part (exporting, the agreement check, PublicTest accuracy) and a timed part. In
`python -m benchmarks.run` both run in one go; `python -m benchmarks.serving --part exports` then
`--part timed` run them as two commands (the exports kept in a folder between them), so that only the timed
one needs a quiet machine; `--part timed` merges the whole section into the results file.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import frames, latency, provenance, report  # noqa: E402
from benchmarks.context import Context  # noqa: E402
from benchmarks.processes import REPO_ROOT, child_environment  # noqa: E402
from benchmarks.timing import measure_interleaved  # noqa: E402
from fer.runtime.export import ExportedModel  # noqa: E402
from fer.runtime.base import FaceModel  # noqa: E402
from fer.pipeline import Recognizer  # noqa: E402
from training import export  # noqa: E402

HERE = Path(__file__).resolve().parent
EXPORTS_FOLDER = HERE / "cache" / "serving"  # --part exports writes here, --part timed reads
EXPORTS_FILE = "exports.json"  # in that folder: the untimed part's figures

VARIANTS = (("onnx", False), ("onnx", True), ("litert", False), ("litert", True))  # (format, int8)
BATCH_SIZES = (1, 8, 64)
FACE_COUNTS = (1, 4)
# What each path installs on top of the Python standard library (the venv's installed distributions).
CORE = ["numpy", "opencv-python-headless", "pillow", "huggingface-hub", "tqdm"]
INSTALLS = {"keras": CORE + ["tensorflow-cpu", "keras"], "onnx": CORE + ["onnxruntime"],
            "litert": CORE + ["ai-edge-litert"],
            # the full install that exports (".[export]"): Keras, the converters and both runtimes
            "export": CORE + ["tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"]}
# Import fer, load the model, tag the faces of one photo: seconds to each step, and whether TensorFlow came in.
FIRST_PREDICTION = """
import json, sys, time
start = time.perf_counter()
import fer
from fer.pipeline import Recognizer
from fer.model.sources import load_model
imported = time.perf_counter()
recognizer = Recognizer(load_model(sys.argv[1], runtime=sys.argv[3]))
loaded = time.perf_counter()
faces = recognizer.predict(sys.argv[2])
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported, "first_predict_s": done - loaded,
                  "faces": len(faces), "tensorflow": "tensorflow" in sys.modules}))
"""


def keras_model(model: FaceModel) -> FaceModel:
    """The Keras EmotionModel of a loaded model: load_model() serves a model folder on ONNX Runtime when it has
    its checked model.onnx, and this section exports and checks against Keras."""
    return model.keras_model() if hasattr(model, "keras_model") else model


def variant_name(export_format: str, int8: bool) -> str:
    return f"{export_format}{'-int8' if int8 else ''}"


def calibration_frames(context: Context, count: int) -> tuple[np.ndarray, str]:
    """FER-2013 Training faces when the data is here (never the test rows), else the example faces."""
    model = context.model
    if context.has_data:
        from fer.data import load_fer2013

        training = load_fer2013(frames.FER2013_CSV, "Training")
        rows = np.random.default_rng(0).choice(len(training), count, replace=False)
        return model.preprocess(training.images[np.sort(rows)]), f"{count} FER-2013 Training faces"
    return export.example_faces(model), "faces of the example photos"


def publictest(name: str, model):
    """PublicTest with the model's labels (FER+ majority labels for FER+ models), or None without the data."""
    from fer.data import load_dataset
    from fer.labels import FERPLUS_LABELS

    ferplus = frames.DATA_DIR / "fer2013new.csv"
    if list(model.labels) == list(FERPLUS_LABELS):
        return load_dataset(frames.FER2013_CSV, "PublicTest", ferplus) if ferplus.is_file() else None
    return load_dataset(frames.FER2013_CSV, "PublicTest")


def export_all(context: Context, folder: Path) -> dict:
    """Every shipped model in every variant (its config's TTA mode) written under folder/MODEL/VARIANT and
    checked against Keras; Keras's own figures (check set, PublicTest) are computed once per model."""
    calibration, calibration_note = calibration_frames(context, 512 if not context.settings.quick else 128)
    check_source = "FER-2013 PublicTest" if context.has_data else "examples/ photos"
    rows, keras_rows = [], {}
    for name, model in context.models().items():
        model = keras_model(model)
        check = (model.preprocess([face.image for face in context.faces[:512]]) if context.has_data
                 else export.example_faces(model))
        reference = export.keras_reference(model, check, [model.config.tta])
        test = publictest(name, model) if context.has_data and not context.settings.quick else None
        keras_scores = export.scores(model, test) if test is not None else None
        if keras_scores is not None:
            keras_rows[name] = {"split": test.splits[0], "n": len(test), "tta": model.config.tta, **keras_scores}
        for export_format, int8 in VARIANTS:
            variant = variant_name(export_format, int8)
            out = export.export_model(model, folder / name / variant, export_format, int8, [model.config.tta],
                                      calibration if int8 else None)
            served = ExportedModel(out, threads=os.cpu_count())
            checked = export.check(model, served, check, check_source, int8, reference)
            row = {"model": name, "variant": variant, "tta": model.config.tta, "check_faces": len(check),
                   **checked["modes"][model.config.tta], "passed": checked["passed"],
                   "size_bytes": sum(path.stat().st_size for path in served.files.values())}
            if test is not None:
                row["publictest"] = export.accuracy_change(model, served, test, keras_scores)
            rows.append(row)
    note = (f"check: max |p_export - p_keras| on {check_source} faces "
            f"(float32 must be <= {export.TOLERANCE:g}); int8 calibrated on {calibration_note}")
    return {"rows": rows, "keras_publictest": keras_rows, "note": note}


def load_exports(folder: Path, name: str) -> dict[str, ExportedModel]:
    """The exports of one model that export_all wrote, by variant."""
    return {variant_name(export_format, int8): ExportedModel(folder / name / variant_name(export_format, int8),
                                                            threads=os.cpu_count())
            for export_format, int8 in VARIANTS}


def runtimes(context: Context, sides: dict[str, FaceModel], with_fer: bool = True) -> tuple[dict, dict]:
    """The model call alone, preprocessed faces in: the given runtimes by name (and fer's TFLite), every runtime
    at every batch size in one round-robin (so a burst of background load falls on all alike). Median faces/s,
    and the (slowest, fastest) run's faces/s."""
    crops = [face.image for face in context.faces[:max(BATCH_SIZES)]]
    crops = [crops[i % len(crops)] for i in range(max(BATCH_SIZES))]
    calls = {}
    for size in BATCH_SIZES:
        calls.update({(name, size): (lambda model=model, batch=model.preprocess(crops[:size]):
                                     model.predict_proba(batch))
                      for name, model in sides.items()})
        if with_fer and context.pypi_tflite is not None:
            calls[("fer-tflite", size)] = lambda batch=context.pypi_tflite.preprocess(crops[:size]): \
                context.pypi_tflite.predict(batch)
    repeats = max(context.settings.throughput_repeats.values())
    speeds, ranges = {}, {}
    for (name, size), timing in zip(calls, measure_interleaved(list(calls.values()), repeats, warmup=2)):
        speeds.setdefault(name, {})[size] = round(size / timing.median, 1)
        ranges.setdefault(name, {})[size] = [round(size / seconds, 1) for seconds in reversed(timing.spread)]
    return speeds, ranges


def all_runtimes(context: Context, exported: dict[str, ExportedModel],
                 others: dict[str, dict[str, ExportedModel]]) -> tuple[dict, dict]:
    """Our model's runtimes beside fer's, then each further shipped model's in a round-robin of its own, under
    "MODEL RUNTIME" (with all of them in one round-robin every runtime ran slower in a first try)."""
    speeds, ranges = runtimes(context, {"keras": keras_model(context.model), **exported})
    for name, their_exports in others.items():
        sides = {f"{name} {runtime}": model
                 for runtime, model in {"keras": keras_model(context.models()[name]), **their_exports}.items()}
        their_speeds, their_ranges = runtimes(context, sides, with_fer=False)
        speeds.update(their_speeds)
        ranges.update(their_ranges)
    return speeds, ranges


def frame_latency(context: Context, exported: dict[str, ExportedModel]) -> tuple[dict, dict]:
    """Whole 640x480 frames: detection + crops + the model, ours per runtime (same detector) and fer's TFLite,
    every runtime and face count in one round-robin. Median ms, and the (fastest, slowest) run's ms."""
    faces = latency.detectable_faces(context, max(FACE_COUNTS))
    sides = {name: Recognizer(model, context.detector)
             for name, model in {"keras": keras_model(context.model), **exported}.items()}
    calls = {}
    for count in FACE_COUNTS:
        frame = frames.compose(faces[:count])
        calls.update({(name, count): (lambda r=recognizer, image=frame.image: r.analyze_frame(image))
                      for name, recognizer in sides.items()})
        if context.pypi_tflite is not None:
            calls[("fer-tflite", count)] = lambda bgr=frame.bgr: context.pypi_tflite.detect_emotions(bgr)
    rows, ranges = {}, {}
    timings = measure_interleaved(list(calls.values()), context.settings.repeats, context.settings.warmup)
    for (name, count), timing in zip(calls, timings):
        rows.setdefault(count, {})[name] = round(timing.median_ms, 2)
        ranges.setdefault(count, {})[name] = [round(seconds * 1000, 2) for seconds in timing.spread]
    return rows, ranges


def first_prediction(sources: dict[str, str], repeats: int) -> dict:
    """Per path, in fresh interpreters (round-robin): import fer, load the model, tag one photo (median s).
    The "keras" path loads the model folder with runtime="keras"; the others are export folders."""
    photo = str(frames.EXAMPLES / "grace_hopper.jpg")
    runs: dict[str, list[dict]] = {name: [] for name in sources}
    for _ in range(repeats):
        for name, source in sources.items():
            runtime = "keras" if name == "keras" else "auto"
            done = subprocess.run([sys.executable, "-c", FIRST_PREDICTION, source, photo, runtime], cwd=REPO_ROOT,
                                  env=child_environment(PYTHONPATH=str(REPO_ROOT)), capture_output=True, text=True,
                                  timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: {done.stderr.strip().splitlines()[-1:]}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {name: {key: round(float(np.median([run[key] for run in items])), 3)
                   for key in ("import_s", "load_s", "first_predict_s")}
            | {"tensorflow_imported": items[0]["tensorflow"], "faces": items[0]["faces"]}
            for name, items in runs.items()}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def install_size(requirements: list[str]) -> tuple[int, list[str]]:
    """Bytes on disk of these installed distributions and everything they require (this environment's files)."""
    installed = {_canonical(dist.metadata["Name"]): dist for dist in importlib.metadata.distributions()}
    seen, todo = set(), [_canonical(name) for name in requirements]
    while todo:
        name = todo.pop()
        if name in seen or name not in installed:
            continue
        seen.add(name)
        for requirement in installed[name].requires or []:
            if "extra ==" in requirement:
                continue
            todo.append(_canonical(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]))
    total = 0
    for name in seen:
        dist = installed[name]
        for file in dist.files or []:
            path = Path(dist.locate_file(file))
            if path.is_file():
                total += path.stat().st_size
    return total, sorted(seen)


def timed(context: Context, folder: Path) -> dict:
    """The timed part, on the exports of our model under `folder` (written by export_all)."""
    ours = load_exports(folder, context.model_source if (folder / context.model_source).is_dir()
                        else next(path.name for path in sorted(folder.iterdir()) if path.is_dir()))
    first = ours["onnx"].folder.parent
    others = {name: load_exports(folder, name) for name in context.models()
              if name != first.name and (folder / name).is_dir()}
    started, seconds = report.stamp(), {}

    def step(name: str, function):
        start = time.perf_counter()
        value = function()
        seconds[name] = round(time.perf_counter() - start, 1)
        return value

    speeds, speed_ranges = step("faces_per_second", lambda: all_runtimes(context, ours, others))
    latencies, latency_ranges = step("frame_latency_ms", lambda: frame_latency(context, ours))
    results = {
        "threads": os.cpu_count(),
        "faces_per_second": speeds,
        "faces_per_second_slowest_fastest": speed_ranges,
        "frame_latency_ms": latencies,
        "frame_latency_ms_fastest_slowest": latency_ranges,
        "first_prediction": step("first_prediction", lambda: first_prediction(
            {"keras": context.model_source, "onnx": str(first / "onnx"), "litert": str(first / "litert")},
            repeats=1 if context.settings.quick else 3)),
        "install_bytes": step("install_bytes", lambda: {path: install_size(requirements)[0]
                                                        for path, requirements in INSTALLS.items()}),
        "note": (f"{context.model_note}, TTA {context.model.config.tta} (fer: one face per invoke, its default); "
                 f"ONNX Runtime and LiteRT with {os.cpu_count()} threads; latency: {context.detector} detection + "
                 "crops + the model on 640x480 frames (fer: its Haar pipeline)"
                 + (f"; faces/s also for {', '.join(others)} (rows named after the model), whose network may "
                    "differ" if others else "")),
    }
    results["timed_part"] = {"started": started, "ended": report.stamp(), "seconds": seconds}
    return results


def measured_models(context: Context) -> list[str]:
    return context.model_names()


def run(context: Context) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        exports = export_all(context, Path(folder))
        return {"exports": exports, **timed(context, Path(folder))}


def table(results: dict) -> list[str]:
    lines = ["model | export | max |p - p_keras| | top-1 agreement | size MiB | PublicTest accuracy (Keras -> export)"]
    for row in results["exports"]["rows"]:
        change = row.get("publictest")
        accuracy = (f"{change['keras']['accuracy']:.4f} -> {change['export']['accuracy']:.4f} "
                    f"({change['accuracy_change']:+.4f})") if change else "-"
        lines.append(f"{row['model']} | {row['variant']} | {row['max_abs_difference']:.1e}"
                     f"{'' if row['passed'] else ' FAILED'} | {row['top1_agreement']:.1%} | "
                     f"{row['size_bytes'] / 2**20:.1f} | {accuracy}")
    lines.append(results["exports"]["note"])
    lines.append("runtime | faces/s at batch " + " / ".join(map(str, BATCH_SIZES)) + " | ms per frame with "
                 + " / ".join(map(str, FACE_COUNTS)) + " face(s)")
    for name, speeds in results["faces_per_second"].items():
        per_frame = " / ".join(f"{results['frame_latency_ms'][count][name]:.1f}" if name in
                               results["frame_latency_ms"][count] else "-" for count in FACE_COUNTS)
        lines.append(f"{name} | " + " / ".join(f"{speeds[size]:.0f}" for size in BATCH_SIZES) + f" | {per_frame}")
    lines.append("path | import s | load s | first photo s | TensorFlow imported | install MiB")
    for name, size in results["install_bytes"].items():
        row = results["first_prediction"].get(name)
        timing = (f"{row['import_s']:.2f} | {row['load_s']:.2f} | {row['first_predict_s']:.2f} | "
                  f"{row['tensorflow_imported']}") if row else "- | - | - | -"
        lines.append(f"{name} | {timing} | {size / 2**20:.0f}")
    lines.append(results["note"])
    return lines


def merge_section(path: Path, section: dict, key: str = "serving") -> None:
    """Replace one section of a results file, re-read just before writing (other runs write other sections)."""
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        results = {}
    results.setdefault("sections", {})[key] = section
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(results, indent=2, default=str) + "\n")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    from benchmarks import context as context_module
    from fer.faces import DEFAULT_DETECTOR, DETECTORS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", required=True, choices=["exports", "timed"],
                        help="exports: export, check and score on PublicTest (untimed; writes FOLDER/exports.json); "
                             "timed: the speed, import and install figures on those exports, then the whole "
                             "section merged into OUTPUT")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and faces, no PublicTest scoring")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR)
    parser.add_argument("--folder", type=Path, default=EXPORTS_FOLDER, help="where the exports live (default: "
                        "%(default)s)")
    parser.add_argument("--output", type=Path, help="results file for --part timed (default: benchmarks/results.json, "
                        "with --quick benchmarks/cache/results-quick.json); only its serving section is replaced")
    args = parser.parse_args(argv)
    output = args.output or (HERE / "cache" / "results-quick.json" if args.quick else HERE / "results.json")
    figures = args.folder / EXPORTS_FILE
    start = time.perf_counter()
    context = context_module.build(args.quick, args.detector)
    setup_seconds = round(time.perf_counter() - start, 1)
    if args.part == "exports":
        started = report.stamp()
        args.folder.mkdir(parents=True, exist_ok=True)
        figures.unlink(missing_ok=True)
        exports = export_all(context, args.folder)
        exports["measured"] = {"started": started, "ended": report.stamp(), "quick": args.quick}
        figures.write_text(json.dumps(exports, indent=2) + "\n")
        print(f"wrote {figures}")
        return 0 if all(row["passed"] for row in exports["rows"]) else 1
    try:
        exports = json.loads(figures.read_text())
    except FileNotFoundError:
        parser.error(f"{figures} not found: run --part exports first")
    if exports["measured"]["quick"] != args.quick:
        parser.error(f"{figures} was written {'with' if exports['measured']['quick'] else 'without'} --quick")
    section = {"exports": exports, **timed(context, args.folder)}
    section["timed_part"]["seconds"]["setup"] = setup_seconds  # loading the models and faces (not timed)
    lines = table(section)
    section["measured"] = report.stamp()
    section["machine"] = report.machine()
    section["run"] = "python -m benchmarks.serving --part exports, then --part timed"
    section["quick"] = args.quick
    section["models"] = provenance.measured(measured_models(context))
    merge_section(output, section)
    report.print_section(0, "Serving without TensorFlow", lines)
    print(f"merged the serving section into {output}")
    return 0 if all(row["passed"] for row in exports["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
