"""python -m training.finalize: the last step of a training run, again, on its model folder.

Scores the saved best epoch with every test-time augmentation mode on the selection split, keeps the most
accurate (the cheaper on a tie) as the photo default, fits the temperature under it, and writes the metrics,
plots and card. training.train ends with the same function; run this to refresh a finished run's folder
after the card or the selection rule changed, without training again."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from fer.runtime.keras import EmotionModel  # noqa: E402
from fer.model.config import TTA_MODES, ModelConfig  # noqa: E402
from fer.data import FaceDataset, load_dataset  # noqa: E402
from fer.errors import FerError, ModelSourceError  # noqa: E402
from fer.runtime.base import softmax, view_offsets  # noqa: E402
from fer.runtime.onnx_writer import supported_modes  # noqa: E402
from fer.runtime.keras import load_model_folder, save_model_folder  # noqa: E402
from fer.model.sources import resolve_source  # noqa: E402
from fer.model.architectures import LOGITS_NAME, multiply_adds  # noqa: E402
from fer.model.preprocessing import preprocess_faces  # noqa: E402
from training import plots  # noqa: E402
from training.card import write_model_card  # noqa: E402
from training.metrics import classification_metrics, fit_temperature, format_table  # noqa: E402
from training.run_state import read_run_state  # noqa: E402


def describe_machine() -> str:
    """Where this process trains, for the card: CPU cores it may use, accelerators, Keras backend."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    backend = keras.backend.backend()
    accelerators: list[str] = []
    try:
        if backend == "jax":
            import jax

            accelerators = [device.device_kind for device in jax.devices() if device.platform != "cpu"]
        elif backend == "torch":
            import torch

            accelerators = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        elif backend == "tensorflow":
            import tensorflow as tf

            accelerators = [device.name for device in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001 - a description must never stop training
        accelerators = []
    where = f"{', '.join(sorted(set(accelerators)))} ({len(accelerators)})" if accelerators else "no GPU"
    return f"{cores} CPU cores, {where}; Keras {keras.version()} on {backend}"


def choose_tta(accuracy_by_tta: dict[str, float]) -> str:
    """The most accurate mode; on a tie the cheaper one (TTA_MODES runs from cheapest to dearest)."""
    if not accuracy_by_tta:
        raise ValueError("no TTA mode was scored")
    ordered = [mode for mode in TTA_MODES if mode in accuracy_by_tta]
    return max(ordered, key=lambda mode: (accuracy_by_tta[mode], -ordered.index(mode)))


ADJUSTMENT_SWEEP = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)


def class_prior(dataset: FaceDataset) -> np.ndarray:
    """Class frequencies of the training targets (the vote distributions' mean for FER+)."""
    if dataset.soft_targets is not None:
        prior = dataset.soft_targets.mean(axis=0)
    else:
        prior = np.bincount(dataset.labels, minlength=dataset.num_classes) / max(len(dataset), 1)
    return np.maximum(prior.astype(np.float64), 1e-6)


def set_logit_adjustment(model: keras.Model, config: ModelConfig, tau: float, prior: np.ndarray | None) -> None:
    """Logit adjustment (Menon et al. 2021) baked into the logits layer's bias: logits - tau * log(prior), so
    rare classes are not drowned by the frequent ones, in every runtime (Keras, exports, the browser page)
    with no change to the folder format. An adjustment already in the folder is undone first."""
    if tau and prior is None:
        raise ValueError("a logit adjustment needs the class prior")
    bias = model.get_layer(LOGITS_NAME).bias
    values = keras.ops.convert_to_numpy(bias).astype(np.float64)
    previous = config.training.get("logit_adjustment") or {}
    if previous.get("tau"):
        values += previous["tau"] * np.log(np.asarray(previous["prior"], np.float64))
    if tau:
        values -= tau * np.log(prior)
        config.training["logit_adjustment"] = {"tau": float(tau), "prior": [round(float(p), 6) for p in prior]}
    else:
        config.training.pop("logit_adjustment", None)
    bias.assign(values.astype(np.float32))


def finalize_run(folder: str | Path, config: ModelConfig, state: dict, val: FaceDataset, *,
                 dataset_name: str, planned_epochs: int, fit_temperature_too: bool = True,
                 logit_adjustment: float = 0.0, prior: np.ndarray | None = None,
                 calibration: np.ndarray | None = None, explanations: bool = True, tta: str | None = None) -> dict:
    """Reload the folder's best epoch, score every TTA mode on `val`, keep the best, fit the temperature,
    write metrics, plots and card into the folder. `config` carries the run's training record. With a
    `logit_adjustment` tau (and the training `prior`) the adjustment is baked in first; either way a sweep
    of tau values (accuracy and macro-F1) is recorded, for choosing one. Last, the folder's ONNX files are
    written and checked (write_runtimes; int8 too when `calibration` frames are given). `tta` fixes the mode
    instead (e.g. flip for a live model, whose paths run flip): the card, the sweep and the int8 check then
    describe what those paths serve."""
    model, saved = load_model_folder(folder)
    config.architecture_options = saved.architecture_options
    config.training.setdefault("logit_adjustment", saved.training.get("logit_adjustment"))
    set_logit_adjustment(model, config, 0.0, None)  # score the network as trained first
    classifier = EmotionModel(model, config)
    frames = preprocess_faces(val.images, config.face_input_shape)
    modes = supported_modes(config)
    starts = range(0, len(frames), 256)
    by_mode = {mode: [] for mode in modes}
    # A large network on the CPU scores the split in every mode for minutes (a ResNet50 at 96 px: about 6).
    with tqdm(total=len(modes) * len(starts), desc=f"scoring {len(frames)} faces ({', '.join(modes)})",
              unit="batch", mininterval=10, file=sys.stderr) as progress:
        for mode in modes:
            for start in starts:
                by_mode[mode].append(classifier.logits(frames[start:start + 256], mode))
                progress.update()
    by_mode = {mode: np.concatenate(parts) for mode, parts in by_mode.items()}
    if tta is not None and tta not in by_mode:
        raise FerError(f"--tta {tta}: this model serves {', '.join(by_mode)}")
    config.tta = tta or choose_tta({mode: float(np.mean(np.argmax(values, axis=1) == val.labels))
                                    for mode, values in by_mode.items()})
    sweep = []
    if prior is not None:
        for tau in ADJUSTMENT_SWEEP:
            scored = classification_metrics(softmax(by_mode[config.tta] - tau * np.log(prior)), val.labels,
                                             config.labels)
            sweep.append({"tau": tau, "accuracy": scored["accuracy"], "macro_f1": scored["macro_f1"]})
    if logit_adjustment:
        set_logit_adjustment(model, config, logit_adjustment, prior)
        shift = -logit_adjustment * np.log(prior)  # TTA averages logits, so the shift carries through
        by_mode = {mode: values + shift for mode, values in by_mode.items()}
    accuracy_by_tta = {mode: float(np.mean(np.argmax(values, axis=1) == val.labels))
                       for mode, values in by_mode.items()}
    config.tta = tta or choose_tta(accuracy_by_tta)
    logits = by_mode[config.tta]
    temperature = fit_temperature(logits, val.labels) if fit_temperature_too else 1.0

    before = classification_metrics(softmax(logits), val.labels, config.labels)
    after = classification_metrics(softmax(logits / temperature), val.labels, config.labels)
    config.temperature = temperature
    done = state["epochs_completed"]
    complete = done >= planned_epochs
    speeds = state.get("history", {}).get("images_per_second", [])
    config.training.update(
        epochs_completed=done, command=state["command"], train_minutes=round(state["train_seconds"] / 60, 1),
        trained_on=state.get("trained_on") or ["not recorded"],
        images_per_second_median=round(float(np.median(speeds)), 1) if speeds else None)
    split = config.training.get("val_split", "PublicTest")
    config.metrics = {
        **after,
        "dataset": dataset_name,
        "split": split,
        "ece_before_temperature": before["ece"],
        "tta": config.tta,
        "accuracy_by_tta": accuracy_by_tta,
        "best_epoch": state["best_epoch"],
        "complete": complete,
        **({"logit_adjustment_sweep": sweep} if sweep else {}),
        **({"tta_fixed": True} if tta else {}),
        "note": (f"{split} was also used to pick the best epoch" + ("" if tta else ", the test-time augmentation")
                 + (", the logit adjustment" if logit_adjustment else "") + " and the temperature."
                 + (f" The test-time augmentation ({tta}) was fixed beforehand (--tta), not picked." if tta else "")
                 + ("" if complete else f" Training stopped after {done} of {planned_epochs} "
                                        "epochs (time budget); resume with --resume.")),
    }
    config.metrics["network"] = network_facts(model, config)
    teachers = [teacher_facts(source) for source in config.training.get("teacher") or []]
    if teachers:
        config.metrics["teachers"] = teachers
    save_model_folder(model, config, folder)
    plots.plot_learning_curve(state["history"], Path(folder) / "learning_curve.png")
    plots.plot_confusion_matrix(after["confusion_matrix"], config.labels, Path(folder) / "confusion_matrix.png",
                                title=f"{dataset_name} {split}, accuracy {after['accuracy']:.3f}")
    if keras.backend.backend() == "tensorflow":
        write_runtimes(folder, frames, val.labels, split, calibration=calibration)
        config.runtimes = ModelConfig.load(Path(folder) / "config.json").runtimes
    else:  # Keras exports ONNX through tf2onnx; from JAX it would need jax2onnx, which is not a dependency
        print(f"note: no model.onnx written on the {keras.backend.backend()} backend; write it where TensorFlow is "
              f"installed: python -m training.finalize {folder} --onnx-only", flush=True)
    if explanations:
        write_explanations(folder, frames, split)
        saved = ModelConfig.load(Path(folder) / "config.json")
        config.metrics["explanations"], config.explanation_method = saved.metrics["explanations"], saved.explanation_method
    write_model_card(folder, config)
    print(format_table(after))
    print("accuracy by TTA: " + ", ".join(f"{mode} {value:.4f}" for mode, value in accuracy_by_tta.items())
          + f" -> {config.tta}" + (" (--tta)" if tta else ""))
    print(f"temperature {temperature:.3f}: ECE {before['ece']:.4f} -> {after['ece']:.4f}")
    if sweep:
        print("logit adjustment (tau: accuracy / macro-F1): "
              + ", ".join(f"{row['tau']:g}: {row['accuracy']:.4f} / {row['macro_f1']:.4f}" for row in sweep)
              + (f"; applied tau {logit_adjustment:g}" if logit_adjustment else ""))
    return config.metrics


def network_facts(model: keras.Model, config: ModelConfig) -> dict:
    """Parameters and multiply-adds of one forward pass (one view), and the views of the default TTA."""
    return {"parameters": int(model.count_params()), "multiply_adds_per_view": multiply_adds(model),
            "views": len(view_offsets(config, config.tta))}


def teacher_facts(source: str) -> dict:
    """A distillation teacher's recorded accuracy (its own TTA, its card's split) and size, for the card."""
    folder = resolve_source(source)
    teacher, config = load_model_folder(folder)
    metrics = config.metrics
    return {"source": source, "accuracy": metrics.get("accuracy"), "split": metrics.get("split"),
            "dataset": metrics.get("dataset"), "tta": config.tta, **network_facts(teacher, config)}


CHECK_FACES = 512
INT8_MAX_ACCURACY_CHANGE = 0.003  # int8 serves the live paths only when it moves accuracy by at most 0.3 points


def write_runtimes(folder: str | Path, frames: np.ndarray, labels: np.ndarray, split: str,
                   calibration: np.ndarray | None = None, explanations: bool = True) -> dict:
    """model.onnx (checked against Keras within 1e-4 on a fixed sample of `frames`) and, with `calibration`
    frames, model.int8.onnx with its accuracy change on all of `frames` under the config's TTA (recorded with
    whether it stays within INT8_MAX_ACCURACY_CHANGE), all recorded in the folder's config.json."""
    from fer.runtime.onnx import OnnxModel
    from fer.runtime.onnx_writer import write_onnx

    model, config = load_model_folder(folder)
    classifier = EmotionModel(model, config)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(frames), min(CHECK_FACES, len(frames)), replace=False))
    record = write_onnx(classifier, folder, frames[sample], f"{split} faces", calibration)
    print(f"model.onnx: max |p - p_keras| = {record['max_abs_difference']:.2e} on {record['checked_on']}", flush=True)
    record = write_gradcam(folder, frames, split)
    if calibration is not None:
        accuracy = {}
        for precision in ("float32", "int8"):
            probabilities = OnnxModel(folder, config, precision=precision).predict_in_batches(frames)
            accuracy[precision] = float(np.mean(np.argmax(probabilities, axis=1) == labels))
        change = accuracy["int8"] - accuracy["float32"]
        record["int8"].update(split=split, tta=config.tta, accuracy=accuracy["int8"], accuracy_float32=accuracy["float32"],
                              accuracy_change=change,
                              within_limit=bool(abs(change) <= INT8_MAX_ACCURACY_CHANGE),
                              limit=INT8_MAX_ACCURACY_CHANGE)
        config.runtimes["onnx"] = record
        config.save(Path(folder) / "config.json")
        print(f"model.int8.onnx: {split} accuracy {accuracy['int8']:.4f} vs {accuracy['float32']:.4f} "
              f"({change * 100:+.2f} points, tta {config.tta})", flush=True)
    return record


GRADCAM_CHECK_FACES = 256


def write_gradcam(folder: str | Path, frames: np.ndarray, split: str) -> dict:
    """gradcam.onnx beside the folder's model.onnx (Grad-CAM on ONNX Runtime for a dense-head network), its maps
    checked against TensorFlow's on a fixed sample of `frames`; returns the folder's ONNX record."""
    from fer.runtime.onnx_writer import write_gradcam_onnx

    model, config = load_model_folder(folder)
    sample = np.sort(np.random.default_rng(1).choice(len(frames), min(GRADCAM_CHECK_FACES, len(frames)),
                                                     replace=False))
    try:
        gradcam = write_gradcam_onnx(EmotionModel(model, config), folder, frames[sample], f"{split} faces")
    except ModelSourceError as error:  # the model serves without it: Grad-CAM then runs on the Keras explainer
        print(f"warning: {error}", file=sys.stderr, flush=True)
        gradcam = None
    if gradcam:
        print(f"gradcam.onnx: maps within {gradcam['tolerance']:g} of TensorFlow's on "
              f"{gradcam['faces_within_tolerance']:.1%} of {gradcam['checked_on']} (at most "
              f"{gradcam['max_abs_map_difference']:.2e} apart)", flush=True)
    return ModelConfig.load(Path(folder) / "config.json").runtimes["onnx"]


def write_explanations(folder: str | Path, frames: np.ndarray, split: str) -> dict:
    """The card's explanation table (training.explanations) on a fixed sample of `frames`, recorded in the folder's
    config.json with the default method it chooses, and the card rewritten."""
    from fer.explain import METHODS, explains_without_tensorflow
    from fer.runtime.onnx import OnnxModel
    from training.explanations import explanation_table

    model, config = load_model_folder(folder)
    try:
        onnx_model = OnnxModel(folder)
    except ModelSourceError:  # no checked export (yet): every method then needs TensorFlow
        onnx_model = None
    served = {method for method in METHODS if explains_without_tensorflow(onnx_model, method)}
    table = explanation_table(EmotionModel(model, config), frames, split, served_without_tensorflow=served)
    config.metrics["explanations"] = table
    config.explanation_method = table["default"]
    config.save(Path(folder) / "config.json")
    write_model_card(folder, config)
    print(f"default explanation: {table['why']}", flush=True)
    return table


def calibration_frames(train: FaceDataset, config: ModelConfig, count: int = CHECK_FACES) -> np.ndarray:
    """A fixed random sample of training faces as frames, to calibrate int8 activations."""
    rows = np.sort(np.random.default_rng(1).choice(len(train), min(count, len(train)), replace=False))
    return preprocess_faces(train.images[rows], config.face_input_shape)


def dataset_name(ferplus: str | None) -> str:
    return "FER+ (fer2013new.csv, majority label)" if ferplus else "FER-2013 (fer2013.csv)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.finalize", description=__doc__)
    parser.add_argument("folder", help="the run's model folder (its --out), e.g. runs/fer2013-cnn40/model")
    parser.add_argument("--run-dir", help="the run's directory with state.json (default: the one the config names)")
    parser.add_argument("--data", help="default: the data path the config records")
    parser.add_argument("--ferplus", help="default: the FER+ path the config records")
    parser.add_argument("--trained-on", action="append", default=[],
                        help="where it trained, for runs whose state predates that record (repeat per machine)")
    parser.add_argument("--no-temperature", action="store_true")
    parser.add_argument("--logit-adjustment", type=float, default=0.0, metavar="TAU",
                        help="subtract TAU x log(training class prior) from the logits (baked into the last layer's "
                             "bias) to lift rare classes; 0 removes an earlier one. Each run prints a sweep.")
    parser.add_argument("--onnx-only", action="store_true",
                        help="only write and check the folder's ONNX files (the weights and card stay as they are)")
    parser.add_argument("--gradcam-only", action="store_true",
                        help="only write gradcam.onnx for the folder's checked model.onnx (Grad-CAM without "
                             "TensorFlow for a network with a dense head)")
    parser.add_argument("--explanations-only", action="store_true",
                        help="only (re)compute the card's explanation table and the default method")
    parser.add_argument("--no-explanations", action="store_true", help="skip the explanation table (minutes)")
    parser.add_argument("--tta", choices=TTA_MODES,
                        help="the model's TTA mode, instead of the most accurate on the selection split (e.g. flip "
                             "for a live model: its card, sweep and int8 check then describe what the live paths run)")
    parser.add_argument("--int8", action="store_true",
                        help="also write model.int8.onnx (calibrated on Training faces) and record its accuracy change")
    args = parser.parse_args(argv)
    try:
        _, config = load_model_folder(args.folder)
        record = config.training
        if not record:
            raise FerError(f"{args.folder}: its config has no training record; finalize works on training runs")
        ferplus = args.ferplus or record.get("ferplus")
        val = load_dataset(args.data or record["data"], record.get("val_split", "PublicTest"), ferplus)
        if list(val.label_names) != list(config.labels):
            raise FerError(f"the folder's labels {config.labels} differ from the data's {list(val.label_names)}")
        if not 0 <= args.logit_adjustment <= 2:
            raise FerError("--logit-adjustment must be between 0 and 2")
        train = load_dataset(args.data or record["data"], record.get("train_split", "Training"), ferplus)
        calibration = calibration_frames(train, config) if args.int8 else None
        if args.explanations_only:
            write_explanations(args.folder, preprocess_faces(val.images, config.face_input_shape),
                               record.get("val_split", "PublicTest"))
            return 0
        if args.gradcam_only:
            write_gradcam(args.folder, preprocess_faces(val.images, config.face_input_shape),
                          record.get("val_split", "PublicTest"))
            return 0
        if args.onnx_only:
            write_runtimes(args.folder, preprocess_faces(val.images, config.face_input_shape), val.labels,
                           record.get("val_split", "PublicTest"), calibration)
            return 0
        run_dir = Path(args.run_dir or record.get("run_dir") or "")
        state = read_run_state(run_dir, hint="; pass the run's directory with --run-dir")
        state.setdefault("command", record.get("command", "unknown"))
        if args.trained_on:
            state["trained_on"] = args.trained_on
        finalize_run(args.folder, config, state, val, dataset_name=dataset_name(ferplus),
                     planned_epochs=int(record.get("epochs", state["epochs_completed"])),
                     fit_temperature_too=not args.no_temperature, logit_adjustment=args.logit_adjustment,
                     prior=class_prior(train), calibration=calibration, explanations=not args.no_explanations,
                     tta=args.tta)
    except (FerError, OSError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
