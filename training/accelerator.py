"""Train on a lent accelerator machine inside its limits, and bring the model home.

The device machine (JAX, no TensorFlow) gives about 10 minutes per command and returns at most 8 files of 16 MiB,
64 MiB together.
`run` (there) times a short probe of the same command, picks the number of epochs that fits the time left (so the
cosine schedule ends rather than being cut), trains, and writes the finalized folder's weights as fp16 parts
(matrices and kernels in float16, vectors such as batch-norm statistics in float32) plus the run's small files.
`assemble` (here) rebuilds the network from the registry, loads those weights and writes a model folder that
`training.finalize` then scores on the real pixels with the usual tools.

    # there (the train.py arguments follow --):
    python -m training.accelerator run --deadline 540 --out $OUT -- --data /tmp/fer2013.csv ... --model resnet50
    # here:
    python -m training.accelerator assemble DOWNLOADED_FOLDER runs/ferplus-resnet50

Two stages in one command (each with its own --name, --work and deadline; the second starts from the first) fit
only where both stages' weights come back within 64 MiB: not a ResNet50 (47 MB in fp16 per stage), whose stages
take a call each on a machine kept warm (the second call finds the first's /tmp/a1):

    python -m training.accelerator run --name ferplus --work /tmp/a1 --deadline 330 --out $OUT -- ...
    python -m training.accelerator run --name fer2013 --work /tmp/a2 --deadline 200 --out $OUT -- \
        --data /tmp/fer2013.csv --init-from /tmp/a1/run/model ...
    python -m training.accelerator assemble DOWNLOADED runs/fer2013-resnet50 --name fer2013
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np

# At most 8 files of 16 MiB, 64 MiB together, come back from a call: a ResNet50 in fp16 (47 MB) is 3 parts, so one
# ResNet50 stage per call (a second stage's parts would be left out there).
PART_BYTES = 16 * 1024 * 1024 - 64 * 1024
RETURN_FILES, RETURN_BYTES = 8, 64 * 1024 * 1024
ARCHIVE_BYTES = 1024 * 1024  # room kept for the archive of small files (history, log, card, figures)
WEIGHTS_FILE = "weights.npz"
SMALL_FILES = "run-files.tar.gz"
LOG_FILE = "accelerator-log.txt"


def _prefix(name: str) -> str:
    """The stage's prefix of its files in the output folder."""
    return f"{name}-" if name else ""


def _travel_dtype(ndim: int) -> type:
    """How a weight travels: kernels and matrices in float16, vectors (batch-norm statistics, biases) in float32."""
    return np.float16 if ndim > 1 else np.float32


def _train(train_args: list[str], log: Path) -> int:
    command = [sys.executable, "-m", "training.train", *train_args]
    print("$", " ".join(command), flush=True)
    with log.open("a") as out:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            sys.stdout.write(line)
            out.write(line)
        return process.wait()


def plan_epochs(probe: dict, probe_faces: int, train_faces: int, seconds_left: float, most: int,
                probe_seconds: float | None = None) -> int:
    """Epochs of the full run that fit in `seconds_left`, from the probe's state: its last epoch's training speed
    (the first epoch compiles) for the full split, plus that epoch's fixed cost by the clock (validation, the
    weight average's scoring, saving the resume file), which does not grow with the training split.

    `probe_seconds`, the probe's whole process by the clock: what it spent beyond its steady epochs (start-up, data,
    compiling, the final scoring) the full run spends again once, so it comes off the time left first."""
    speed = probe["history"]["images_per_second"][-1]
    wall = probe.get("epoch_wall_seconds") or probe["epoch_seconds"]
    fixed = max(0.0, wall[-1] - probe_faces / speed)
    per_epoch = train_faces / speed + fixed
    once = max(0.0, probe_seconds - len(wall) * wall[-1]) if probe_seconds is not None else 0.0
    print(f"probe: {speed:.0f} images/s, {fixed:.1f} s per epoch besides training: {per_epoch:.1f} s per epoch; "
          f"{once:.0f} s once per run (start-up, compiling, final scoring)", flush=True)
    return int(max(1, min(most, (seconds_left - once) // per_epoch)))


def check_room_to_return(out: Path, folder: Path) -> int:
    """Bytes the weights of `folder`'s network will take as parts; ValueError, before any long training, when they
    and the files already in `out` would pass what comes back from a call (the rest would be left out there)."""
    import keras

    model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
    weights = sum(int(np.prod(w.shape)) * np.dtype(_travel_dtype(len(w.shape))).itemsize for w in model.weights)
    present = [path for path in out.iterdir() if path.is_file()]
    files = len(present) + -(-weights // PART_BYTES) + 1
    total = sum(path.stat().st_size for path in present) + weights + ARCHIVE_BYTES
    if files > RETURN_FILES or total > RETURN_BYTES:
        raise ValueError(f"this stage's weights ({weights / 2**20:.1f} MiB as parts) and the {len(present)} files "
                         f"already in {out} ({(total - weights - ARCHIVE_BYTES) / 2**20:.1f} MiB) would make "
                         f"{files} files, {total / 2**20:.1f} MiB: over the {RETURN_FILES} files and "
                         f"{RETURN_BYTES // 2**20} MiB that come back from a call; run this stage in a call of its own")
    return weights


def export_weights(folder: Path, out: Path, name: str = "") -> list[Path]:
    """The model folder's weights as fp16/fp32 arrays in one .npz, split into parts under PART_BYTES."""
    import keras

    model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
    arrays = {}
    for index, weight in enumerate(model.weights):
        value = np.asarray(keras.ops.convert_to_numpy(weight))
        arrays[f"{index:04d}:{weight.path}"] = value.astype(_travel_dtype(value.ndim))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    parts = []
    for number, start in enumerate(range(0, len(data), PART_BYTES)):
        part = out / f"{name}{WEIGHTS_FILE}.part{number:02d}"
        part.write_bytes(data[start:start + PART_BYTES])
        parts.append(part)
    return parts


def run(args: argparse.Namespace, train_args: list[str]) -> int:
    start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    probe_dir = Path(args.work) / "probe"
    run_dir = Path(args.work) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / LOG_FILE  # travels in the archive of small files
    prefix = _prefix(args.name)
    probe_start = time.time()
    code = _train([*train_args, "--limit", str(args.probe_limit), "--epochs", "2", "--no-temperature",
                   "--out", str(probe_dir / "model"), "--run-dir", str(probe_dir)], log)
    if code:
        return code
    probe_seconds = time.time() - probe_start
    try:
        check_room_to_return(out, probe_dir / "model")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    probe = json.loads((probe_dir / "state.json").read_text())
    seconds_left = args.deadline - (time.time() - start) - args.reserve
    epochs = plan_epochs(probe, args.probe_limit, args.train_faces, seconds_left, args.most_epochs, probe_seconds)
    print(f"probe epochs {[round(s, 1) for s in probe['epoch_seconds']]} s; {seconds_left:.0f} s left: "
          f"{epochs} epochs", flush=True)
    code = _train([*train_args, "--epochs", str(epochs), "--time-budget", f"{max(seconds_left, 60) / 60:.2f}",
                   "--out", str(run_dir / "model"), "--run-dir", str(run_dir)], log)
    if code:
        return code
    parts = export_weights(run_dir / "model", out, prefix)
    with tarfile.open(out / f"{prefix}{SMALL_FILES}", "w:gz") as archive:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.suffix != ".keras":
                archive.add(path, arcname=str(path.relative_to(run_dir)))
    print(f"wrote {[p.name for p in parts]} and {prefix}{SMALL_FILES} in {time.time() - start:.0f} s", flush=True)
    return 0


def assemble(downloaded: Path, run_dir: Path, name: str = "") -> Path:
    """Rebuild the network from its config, load the weights from the parts (those of stage `name`), write
    run_dir/model."""
    from fer.model.architectures import build_model
    from fer.model.config import ModelConfig
    from fer.runtime.keras import save_model_folder

    run_dir.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(name)
    with tarfile.open(downloaded / f"{prefix}{SMALL_FILES}") as archive:
        archive.extractall(run_dir, filter="data")
    folder = run_dir / "model"
    config = ModelConfig.load(folder / "config.json")
    parts = sorted(downloaded.glob(f"{prefix}{WEIGHTS_FILE}.part*"))
    if not parts:
        raise ValueError(f"{downloaded}: no {prefix}{WEIGHTS_FILE}.part* files")
    try:
        arrays = np.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)))
        arrays.files  # noqa: B018 - reads the archive's directory, which a part cut short breaks
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{downloaded}: the {len(parts)} {WEIGHTS_FILE} parts are not a whole archive "
                         f"({type(error).__name__}: {error}); fetch them again") from None
    built = build_model(config.architecture, config.num_classes, config.input_shape,
                        **{**config.architecture_options, **({"weights": None} if config.architecture != "cnn" else {})})
    model = built.model
    keys = sorted(arrays.files)
    if len(keys) != len(model.weights):
        raise ValueError(f"{len(keys)} saved weights for a network with {len(model.weights)}")
    for key, weight in zip(keys, model.weights):
        if key.split(":", 1)[1] != weight.path or arrays[key].shape != tuple(weight.shape):
            raise ValueError(f"saved {key} {arrays[key].shape} does not fit {weight.path} {tuple(weight.shape)}")
        weight.assign(arrays[key].astype(np.float32))
    save_model_folder(model, config, folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m training.accelerator", description=__doc__.split("\n\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    there = actions.add_parser("run", help="on the device machine: probe, plan, train, export")
    there.add_argument("--deadline", type=float, required=True, help="seconds from now by which everything is done")
    there.add_argument("--reserve", type=float, default=90.0, help="seconds kept for finalizing and exporting")
    there.add_argument("--probe-limit", type=int, default=4096)
    there.add_argument("--train-faces", type=int, default=28558)
    there.add_argument("--most-epochs", type=int, default=200)
    there.add_argument("--work", default="/tmp/accelerator", help="a folder per stage")
    there.add_argument("--name", default="", help="prefix of this stage's files in --out (several stages per call)")
    there.add_argument("--out", required=True)
    here = actions.add_parser("assemble", help="here: parts + run files -> a model folder")
    here.add_argument("downloaded", type=Path)
    here.add_argument("run_dir", type=Path)
    here.add_argument("--name", default="", help="the stage's --name there")
    args = parser.parse_args(argv)
    if args.action == "run":
        return run(args, train_args)
    print(assemble(args.downloaded, args.run_dir, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
