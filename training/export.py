"""python -m training.export MODEL --format onnx|litert [--int8] --out DIR: serving graphs that need no TensorFlow.

Each file is the model's Keras serving graph (EmotionModel.serving_model): raw 0..255 face frames in,
calibrated probabilities (TTA views, temperature, softmax inside) and the mean logits out. One file per
test-time augmentation mode, named in export.json, beside the model's config.json; fer.runtime.export runs them.
The export is checked against EmotionModel.predict_proba on a set of faces before it is kept.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from fer.runtime.keras import EmotionModel  # noqa: E402
from fer.model.config import TTA_MODES  # noqa: E402
from fer.errors import FerError  # noqa: E402
from fer.runtime.export import (CONFIG_FILE, EXPORT_FILE, EXPORT_FORMAT_VERSION, FORMATS, INPUT_NAME,  # noqa: E402
                          ExportedModel, is_export_folder)
from fer.model.sources import load_model  # noqa: E402
from fer.runtime.export_writer import export_graph  # noqa: E402
from fer.runtime import onnx_writer  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOLERANCE = 1e-4  # largest probability difference a float32 export may show against Keras
CHECK_FACES = 512
CALIBRATION_FACES = 512


def supported_modes(model: EmotionModel) -> list[str]:
    """Every TTA mode the model can serve (ten_crop only for models of crops of a larger frame)."""
    return onnx_writer.supported_modes(model.config)


def runtime_versions(export_format: str) -> dict[str, str]:
    import tensorflow as tf

    versions = {"keras": keras.__version__, "tensorflow": tf.__version__}
    modules = ("tf2onnx", "onnx", "onnxruntime") if export_format == "onnx" else ("ai_edge_litert",)
    for name in modules:
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "installed")
        except ImportError:
            versions[name] = "not installed"
    return versions


def export_model(model: EmotionModel, out: str | Path, export_format: str, int8: bool = False,
                 modes: list[str] | None = None, calibration: np.ndarray | None = None) -> Path:
    """Write one serving graph per TTA mode, the model's config.json and export.json into `out`; return `out`.

    int8 needs `calibration` frames (preprocess() output) to choose the activation ranges.
    """
    if export_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {export_format!r}")
    modes = list(dict.fromkeys(modes or supported_modes(model)))
    unsupported = [mode for mode in modes if mode not in supported_modes(model)]
    if unsupported:
        raise ValueError(f"this model cannot serve tta {', '.join(unsupported)} (it serves "
                         f"{', '.join(supported_modes(model))})")
    if int8 and calibration is None:
        raise ValueError("--int8 needs calibration faces")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    calibration = None if not int8 else np.asarray(calibration, np.float32)
    files, details = {}, {}
    for mode in modes:
        name = f"model-{mode}{'-int8' if int8 else ''}{FORMATS[export_format].suffix}"
        print(f"exporting tta {mode!r} -> {out / name}", flush=True)
        details = FORMATS[export_format].write(export_graph(model, mode), out / name, calibration)
        files[mode] = name
    model.config.save(out / CONFIG_FILE)
    manifest = {
        "format_version": EXPORT_FORMAT_VERSION,
        "format": export_format,
        "precision": "int8" if int8 else "float32",
        "files": files,
        "default_tta": model.config.tta,
        "input": {"name": INPUT_NAME, "shape": [None, *model.face_input_shape], "dtype": "float32",
                  "pixels": "raw 0-255 face frames from fer.model.preprocessing.preprocess_faces (config.face_input_shape)"},
        "outputs": {"probabilities": "softmax(mean logits over the TTA views / temperature)",
                    "logits": "mean logits over the TTA views"},
        "source": model.source,
        "exported": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": runtime_versions(export_format),
        **details,
    }
    (out / EXPORT_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def keras_reference(model: EmotionModel, frames: np.ndarray, modes: list[str]) -> dict[str, np.ndarray]:
    """EmotionModel's probabilities on `frames` per TTA mode: computed once, checked against several exports."""
    return {mode: model.predict_in_batches(frames, tta=mode) for mode in modes}


def agreement(model: EmotionModel, exported: ExportedModel, frames: np.ndarray,
              reference: dict[str, np.ndarray] | None = None) -> dict:
    """Per TTA mode: the largest probability difference from Keras and the share of equal top-1 labels.

    reference: keras_reference() of the same frames (computed here for the modes it lacks)."""
    result = {}
    for mode in exported.tta_modes:
        expected = (reference or {}).get(mode)
        if expected is None:
            expected = model.predict_in_batches(frames, tta=mode)
        got = exported.predict_in_batches(frames, tta=mode)
        result[mode] = {"max_abs_difference": float(np.abs(expected - got).max()),
                        "top1_agreement": float((expected.argmax(1) == got.argmax(1)).mean())}
    return result


def example_faces(model: EmotionModel) -> np.ndarray:
    """Frames of the faces in examples/ at several margins, aligned or not, and mirrored: a check set for
    machines without FER-2013."""
    from fer.faces import face_crop
    from fer.pipeline import Recognizer

    recognizer, crops = Recognizer(model), []
    for path in sorted(EXAMPLES.glob("*.jpg")):
        image = recognizer.read(path)
        for picture in (image, np.ascontiguousarray(image[:, ::-1])):
            faces, _ = recognizer.detect(picture)
            crops += [face_crop(picture, face, margin, align) for face in faces
                      for margin in (-0.1, 0.0, 0.1, 0.25) for align in (False, True)]
    if not crops:
        raise FerError(f"no face found in the photos in {EXAMPLES}; pass --data")
    return model.preprocess(crops)


def dataset_faces(model: EmotionModel, data: str, ferplus: str | None, split: str, count: int | None,
                  seed: int = 0):
    """(frames, dataset) of `count` rows of a split (a fixed random sample; None: all of it)."""
    from fer.data import load_dataset

    dataset = load_dataset(data, split, ferplus)
    if count is not None and count < len(dataset):
        dataset = dataset.subset(np.sort(np.random.default_rng(seed).choice(len(dataset), count, replace=False)))
    return model.preprocess(dataset.images), dataset


def scores(model, dataset) -> dict:
    """Accuracy, macro-F1 and ECE of a model (Keras or export) on a dataset (config TTA), rounded."""
    from training.evaluate import evaluate

    metrics = evaluate(model, dataset)
    return {key: round(metrics[key], 4) for key in ("accuracy", "macro_f1", "ece")}


def accuracy_change(model: EmotionModel, exported: ExportedModel, dataset, keras_scores: dict | None = None) -> dict:
    """Accuracy, macro-F1 and ECE of Keras and of the export on the same rows (config TTA).

    keras_scores: scores(model, dataset) when already computed (several exports of one model)."""
    keras_metrics = keras_scores or scores(model, dataset)
    export_metrics = scores(exported, dataset)
    return {"n": len(dataset), "split": dataset.splits[0], "tta": model.config.tta, "keras": keras_metrics,
            "export": export_metrics,
            "accuracy_change": round(export_metrics["accuracy"] - keras_metrics["accuracy"], 4)}


def check(model: EmotionModel, exported: ExportedModel, frames: np.ndarray, source: str, int8: bool,
          reference: dict[str, np.ndarray] | None = None) -> dict:
    """The agreement check as export.json records it: float32 must agree within TOLERANCE; int8 is reported."""
    modes = agreement(model, exported, frames, reference)
    worst = max(figures["max_abs_difference"] for figures in modes.values())
    return {"faces": len(frames), "source": source, "tolerance": None if int8 else TOLERANCE, "modes": modes,
            "max_abs_difference": worst, "passed": int8 or worst <= TOLERANCE}


def summary(manifest: dict) -> list[str]:
    """The printed lines for export.json's check (per TTA mode) and its PublicTest accuracy change."""
    lines = [f"check, tta {mode}: max |p - p_keras| = {figures['max_abs_difference']:.2e}, top-1 agreement "
             f"{figures['top1_agreement']:.1%} on {manifest['check']['faces']} faces"
             for mode, figures in manifest["check"]["modes"].items()]
    if "publictest" in manifest:
        change = manifest["publictest"]
        lines.append(f"{change['split']} accuracy (n = {change['n']}, tta {change['tta']}): Keras "
                     f"{change['keras']['accuracy']:.4f}, export {change['export']['accuracy']:.4f} "
                     f"({change['accuracy_change']:+.4f})")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, bundled name or hf://owner/repo@revision")
    parser.add_argument("--format", required=True, choices=list(FORMATS), dest="export_format")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (created; an earlier export replaced)")
    parser.add_argument("--int8", action="store_true", help="quantize weights and activations to int8")
    parser.add_argument("--tta", nargs="+", choices=TTA_MODES,
                        help="the test-time augmentation modes to export, one file each (default: all the model serves)")
    parser.add_argument("--data", help="fer2013.csv[.gz]: check on PublicTest faces, calibrate int8 on Training "
                                       "faces and report the PublicTest accuracy change (default: examples/ faces)")
    parser.add_argument("--ferplus", help="fer2013new.csv, for models with FER+ labels")
    parser.add_argument("--check-faces", type=int, default=CHECK_FACES, help="faces for the agreement check")
    parser.add_argument("--calibration-faces", type=int, default=CALIBRATION_FACES, help="faces to calibrate int8")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.out.exists() and any(args.out.iterdir()) and not is_export_folder(args.out):
            raise FerError(f"{args.out} exists and is not an export folder; pick an empty or new --out")
        model = load_model(args.model)
        if not isinstance(model, EmotionModel):
            raise FerError(f"{args.model} is already an export; export the Keras model folder it came from")
        if args.data:
            faces = dataset_faces(model, args.data, args.ferplus, "PublicTest", args.check_faces)[0]
            source = "FER-2013 PublicTest"
            calibration = (dataset_faces(model, args.data, args.ferplus, "Training", args.calibration_faces)[0]
                           if args.int8 else None)
        else:
            faces, source = example_faces(model), "examples/ photos"
            calibration = faces if args.int8 else None
            if args.int8:
                print("warning: int8 calibrated on the few example faces; pass --data for FER-2013 faces",
                      file=sys.stderr)
        # Write into a fresh temp folder beside --out, and replace --out only once the export has passed its check.
        args.out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}-", dir=args.out.parent))
        staging.chmod(0o755)  # mkdtemp's 0700 would make the export private to this user
        try:
            export_model(model, staging, args.export_format, args.int8, args.tta, calibration)
            exported = ExportedModel(staging)
            manifest = json.loads((staging / EXPORT_FILE).read_text())
            manifest["check"] = check(model, exported, faces, source, args.int8)
            if args.data:
                test = dataset_faces(model, args.data, args.ferplus, "PublicTest", None)[1]
                manifest["publictest"] = accuracy_change(model, exported, test)
            (staging / EXPORT_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
            print("\n".join(summary(manifest)))
            if not manifest["check"]["passed"]:
                print(f"error: the export differs from Keras by {manifest['check']['max_abs_difference']:.2e} > "
                      f"{TOLERANCE:g}; not written", file=sys.stderr)
                return 1
            if args.out.exists():
                shutil.rmtree(args.out)
            staging.rename(args.out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except (FerError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({', '.join(sorted(p.name for p in args.out.iterdir()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
