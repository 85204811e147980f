"""python -m training.train: train a registry model on FER-2013 / FER+, resumable, with a time budget.

Runs on any Keras backend (KERAS_BACKEND=tensorflow, jax or torch) and never imports TensorFlow on the others."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from fer.model.config import ModelConfig  # noqa: E402
from fer.data import FaceDataset, load_dataset  # noqa: E402
from fer.errors import FerError  # noqa: E402
from fer.model.sources import resolve_source  # noqa: E402
from fer.runtime.keras import load_model_folder, save_model_folder  # noqa: E402
from fer.model.architectures import LOGITS_NAME, backbone_layer_names, build_model, list_models  # noqa: E402
from fer.model.preprocessing import preprocess_faces  # noqa: E402
from training import pipeline  # noqa: E402
from training.finalize import class_prior, dataset_name, describe_machine, finalize_run  # noqa: E402
from training.distribute import (MULTI_PROCESS_BACKENDS, SUPPORTED_BACKENDS, data_parallel,  # noqa: E402
                                 join_processes, process_part, process_share)
from training.run_state import STATE_FILE, read_run_state  # noqa: E402
from training.schedules import WarmupCosine  # noqa: E402
from training.teachers import OnlineTeacher, cached_teacher_targets, mix_targets  # noqa: E402

RESUME_FILE = "last.keras"
PAUSE_FILE = "PAUSE"  # while this file is in the run directory, training waits between batches


class PauseWhileFlagged(keras.callbacks.Callback):
    """Waits between batches while `path` exists, so benchmarks and test runs get the cores without stopping the
    run (create the file to pause, remove it to go on; the time paused is left out of the epoch's speed)."""

    def __init__(self, path: Path, poll_seconds: float = 2.0) -> None:
        super().__init__()
        self.path, self.poll_seconds, self.paused_seconds = path, poll_seconds, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not self.path.exists():
            return
        print(f"paused: {self.path} exists (remove it to continue)", flush=True)
        start = time.time()
        while self.path.exists():
            time.sleep(self.poll_seconds)
        self.paused_seconds += time.time() - start
        print(f"resumed after {time.time() - start:.0f} s", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, help="fer2013.csv[.gz] or a Kaggle image folder (train/, test/)")
    data.add_argument("--ferplus", help="fer2013new.csv: train on FER+ labels aligned with --data")
    data.add_argument("--ferplus-targets", choices=("distribution", "majority"), default="distribution")
    data.add_argument("--train-split", default="Training")
    data.add_argument("--val-split", default="PublicTest")
    data.add_argument("--limit", type=int, default=0, help="use only the first N training rows (smoke tests)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="cnn", choices=list_models())
    model.add_argument("--model-options", default="{}", help='JSON, e.g. \'{"filters": [32, 64, 128, 256]}\'')
    model.add_argument("--input-size", type=int, default=48, help="side of the face frame")
    model.add_argument("--crop-size", type=int, default=0,
                       help="train on random crops of this side from the frame and serve the center crop "
                            "(e.g. 40 of 48: about 30%% fewer multiply-adds; 0: off)")
    model.add_argument("--weights", choices=("none", "imagenet"), default="none", help="transfer backbones only")
    model.add_argument("--init-from", help="start from this model source's weights (head replaced if labels differ)")
    model.add_argument("--teacher", action="append", default=[],
                       help="distil: a model source whose probabilities on the training faces join the targets "
                            "(repeat for an ensemble; computed once per run)")
    model.add_argument("--teacher-weight", type=float, default=0.5,
                       help="share of the teachers' probabilities in the training targets (the rest: the labels)")
    model.add_argument("--teacher-mode", choices=("fixed", "online"), default="fixed",
                       help="fixed: the teachers' probabilities on the clean training faces, computed once; online: "
                            "the teachers score every augmented (and mixed) batch as the student sees it "
                            "(consistent teaching; needs teachers with the student's input size)")
    model.add_argument("--teacher-tta", choices=("none", "flip"), default="none",
                       help="online teachers: average each teacher over the batch and its mirror image (flip: "
                            "the stronger teacher, at twice its cost)")
    model.add_argument("--frozen-epochs", type=int, default=2, help="transfer models: epochs with a frozen backbone")
    model.add_argument("--finetune-lr-factor", type=float, default=0.1)
    optim = parser.add_argument_group("optimization")
    optim.add_argument("--epochs", type=int, default=20)
    optim.add_argument("--batch-size", type=int, default=64)
    optim.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    optim.add_argument("--lr", type=float, default=0.03, help="peak learning rate")
    optim.add_argument("--schedule", choices=("cosine", "plateau"), default="cosine")
    optim.add_argument("--warmup-epochs", type=float, default=1.0)
    optim.add_argument("--weight-decay", type=float, default=1e-4)
    optim.add_argument("--label-smoothing", type=float, default=0.0)
    optim.add_argument("--balance", choices=pipeline.BALANCE_MODES, default="none")
    optim.add_argument("--early-stopping", type=int, default=0, help="patience in epochs (0: off)")
    optim.add_argument("--ema", type=float, default=0.0,
                       help="keep an exponential moving average of the weights with this momentum per step "
                            "(e.g. 0.999); each epoch scores it too and the better weights are kept (0: off)")
    augment = parser.add_argument_group("augmentation")
    augment.add_argument("--no-augment", action="store_true")
    augment.add_argument("--no-flip", action="store_true")
    augment.add_argument("--rotation", type=float, default=10.0, help="max degrees (0: off)")
    augment.add_argument("--zoom", type=float, default=0.1, help="0: off")
    augment.add_argument("--shift", type=float, default=0.1, help="0: off")
    augment.add_argument("--crop-min", type=float, default=40 / 48, help="random crop side fraction (1: off)")
    augment.add_argument("--erasing", type=float, default=0.0, help="random erasing probability (0: off)")
    augment.add_argument("--mix", choices=pipeline.MIX_MODES, default="none",
                         help="blend each training batch: mixup or CutMix (targets blended alike)")
    augment.add_argument("--mix-alpha", type=float, default=0.2, help="Beta(alpha, alpha) of the mixing share")
    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, help="model folder to write, e.g. models/fer2013-cnn")
    run.add_argument("--run-dir", help="resume state and logs (default: runs/<name of --out>)")
    run.add_argument("--resume", action="store_true", help="continue from the run directory's last epoch")
    run.add_argument("--time-budget", type=float, default=0.0, help="minutes; stop at an epoch boundary and save")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--distribute", action="store_true",
                     help="data parallel over all visible devices (GPUs, or CPU devices) on the jax or tensorflow "
                          "backend; --batch-size is the global batch")
    run.add_argument("--coordinator", metavar="HOST:PORT",
                     help="with --distribute on jax: join a run of --num-processes processes (one per machine) "
                          "whose process 0 listens at HOST:PORT (docs/at-scale.md)")
    run.add_argument("--num-processes", type=int, default=1, help="processes in the --coordinator run")
    run.add_argument("--process-id", type=int, default=0, help="this process's number, 0 to --num-processes - 1")
    run.add_argument("--no-temperature", action="store_true", help="skip temperature scaling")
    run.add_argument("--no-explanations", action="store_true",
                     help="skip the card's explanation table (training.finalize --explanations-only adds it later)")
    args = parser.parse_args(argv)
    try:
        args.model_options = json.loads(args.model_options)
    except json.JSONDecodeError as error:
        parser.error(f"--model-options is not valid JSON: {error}")
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    if args.crop_size and not args.input_size / 2 <= args.crop_size <= args.input_size:
        parser.error("--crop-size must be between half of --input-size and --input-size")
    if not 0 <= args.teacher_weight <= 1:
        parser.error("--teacher-weight must be in [0, 1]")
    if args.teacher_tta != "none" and args.teacher_mode != "online":
        parser.error("--teacher-tta applies to --teacher-mode online (fixed targets use each teacher's own TTA)")
    if not 0 <= args.ema < 1:
        parser.error("--ema must be in [0, 1)")
    if args.distribute and keras.backend.backend() not in SUPPORTED_BACKENDS:
        parser.error(f"--distribute supports the {' and '.join(SUPPORTED_BACKENDS)} backends, "
                     f"not {keras.backend.backend()!r}")
    check_processes(parser, args)
    args.run_dir = Path(args.run_dir or Path("runs") / Path(args.out).name)
    return args


def check_processes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--coordinator / --num-processes / --process-id: complete, in range, and on a backend that can run them."""
    if args.coordinator is None:
        if args.num_processes != 1 or args.process_id != 0:
            parser.error("--num-processes and --process-id need --coordinator HOST:PORT")
        return
    host, _, port = args.coordinator.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--coordinator must be HOST:PORT, got {args.coordinator!r}")
    if not args.distribute or keras.backend.backend() not in MULTI_PROCESS_BACKENDS:
        parser.error(f"--coordinator needs --distribute on the {' or '.join(MULTI_PROCESS_BACKENDS)} backend "
                     f"(KERAS_BACKEND=jax), not {keras.backend.backend()!r}")
    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        parser.error(f"--process-id must be in 0..{args.num_processes - 1} (--num-processes {args.num_processes})")
    if args.time_budget and args.num_processes > 1:
        # Each process would read its own clock: one stopping while the others wait for its next step hangs them.
        parser.error("--time-budget cannot stop several processes together; use --epochs (and --resume)")


def load_splits(args: argparse.Namespace) -> tuple[FaceDataset, FaceDataset]:
    train = load_dataset(args.data, args.train_split, args.ferplus)
    if args.limit:
        train = train.subset(np.arange(min(args.limit, len(train))))
    val = load_dataset(args.data, args.val_split, args.ferplus)
    return train, val


def targets_of(dataset: FaceDataset, args: argparse.Namespace) -> np.ndarray:
    if dataset.soft_targets is not None and args.ferplus_targets == "distribution":
        return dataset.soft_targets.astype(np.float32)
    return np.eye(dataset.num_classes, dtype=np.float32)[dataset.labels]


def new_model(args: argparse.Namespace, num_classes: int, labels: tuple[str, ...]) -> tuple[keras.Model, ModelConfig]:
    side = args.crop_size or args.input_size
    input_shape = [side, side, 1]
    crop_pct = side / args.input_size
    if args.init_from:
        model, base = load_model_folder(resolve_source(args.init_from))
        if list(base.labels) != list(labels):
            features = model.get_layer(LOGITS_NAME).input
            model = keras.Model(model.inputs, keras.layers.Dense(num_classes, name=LOGITS_NAME)(features))
        return model, ModelConfig(base.architecture, list(labels), base.input_shape, base.last_conv_layer,
                                  architecture_options=base.architecture_options, crop_pct=base.crop_pct,
                                  tta=base.tta, face_margin=base.face_margin)
    options = dict(args.model_options)
    if args.model != "cnn":
        options.setdefault("weights", None if args.weights == "none" else "imagenet")
    built = build_model(args.model, num_classes, input_shape, **options)
    # Photos and evaluation average ten crops when the model was trained on crops, else the mirror pair.
    return built.model, ModelConfig(args.model, list(labels), input_shape, built.last_conv_layer,
                                    architecture_options=built.options, crop_pct=crop_pct,
                                    tta="ten_crop" if crop_pct < 1 else "flip")


def phases(args: argparse.Namespace, config: ModelConfig) -> list[tuple[int, int, bool, float]]:
    """(first epoch, end epoch, backbone frozen, peak lr): transfer models start with a frozen backbone."""
    frozen = min(args.frozen_epochs, args.epochs - 1) if config.architecture != "cnn" and not args.init_from else 0
    if frozen <= 0:
        return [(0, args.epochs, False, args.lr)]
    return [(0, frozen, True, args.lr), (frozen, args.epochs, False, args.lr * args.finetune_lr_factor)]


def compile_for_phase(model, config, args, frozen: bool, peak_lr: float, epochs: int, steps: int) -> None:
    backbone = set(backbone_layer_names(config.architecture, model))
    for layer in model.layers:
        layer.trainable = not (frozen and layer.name in backbone)
    if args.schedule == "cosine":
        learning_rate = WarmupCosine(peak_lr, total_steps=epochs * steps,
                                     warmup_steps=min(int(args.warmup_epochs * steps), epochs * steps - 1))
    else:
        learning_rate = peak_lr
    ema = dict(use_ema=True, ema_momentum=args.ema) if args.ema else {}
    if args.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=args.weight_decay,
                                         **ema)
    else:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=args.weight_decay, **ema)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=args.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


class RunState(keras.callbacks.Callback):
    """After each epoch: save the resume checkpoint, append history, keep the best model folder, watch the clock."""

    def __init__(self, args, config: ModelConfig, state: dict, phase: int, train_size: int,
                 val_images: np.ndarray, val_labels: np.ndarray) -> None:
        super().__init__()
        self.args, self.config, self.state, self.phase, self.train_size = args, config, state, phase, train_size
        self.val_images, self.val_labels = val_images, val_labels
        self.sitting_start = state["sitting_start"]
        self.stopped_by_budget = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.time()
        self.paused_at_start = self._paused()

    def _paused(self) -> float:
        pause = getattr(self, "pause", None)
        return pause.paused_seconds if pause is not None else 0.0

    def on_test_begin(self, logs=None):
        self.train_seconds = time.time() - self.epoch_start - (self._paused() - self.paused_at_start)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        duration = time.time() - self.epoch_start - (self._paused() - self.paused_at_start)
        speed = self.train_size / max(getattr(self, "train_seconds", duration), 1e-9)
        print(f"epoch {epoch + 1}: {speed:.0f} images/s, {duration / 60:.1f} min", flush=True)
        state = self.state
        for key, value in logs.items():
            state["history"].setdefault(key, []).append(float(value))
        state["history"].setdefault("images_per_second", []).append(speed)
        state.update(epochs_completed=epoch + 1, phase=self.phase,
                     train_seconds=state["train_seconds"] + duration)
        state["epoch_seconds"].append(duration)
        val_accuracy = float(logs.get("val_accuracy", -1.0))
        if val_accuracy > state["best_val_accuracy"]:
            self._keep_best(val_accuracy, epoch, "raw")
        if getattr(self.model.optimizer, "use_ema", False):
            with averaged_weights(self.model):
                ema_accuracy = self._accuracy()
                print(f"epoch {epoch + 1}: val_accuracy {val_accuracy:.4f}, weight average {ema_accuracy:.4f}",
                      flush=True)
                state["history"].setdefault("val_ema_accuracy", []).append(ema_accuracy)
                if ema_accuracy > state["best_val_accuracy"]:
                    self._keep_best(ema_accuracy, epoch, "ema")
        self.model.save(self.args.run_dir / RESUME_FILE)  # with optimizer state, schedule position, averages
        # The whole epoch as the clock sees it: epoch_seconds ends with validation, before the weight average's
        # scoring and the save above (on an accelerator these were 2.7 of a ResNet50's 6.5 s per epoch).
        wall = time.time() - self.epoch_start - (self._paused() - self.paused_at_start)
        state.setdefault("epoch_wall_seconds", []).append(wall)
        (self.args.run_dir / STATE_FILE).write_text(json.dumps(state, indent=1))
        if self.args.time_budget:
            elapsed = time.time() - self.sitting_start
            # Stop when one more epoch (as slow as the slowest so far this sitting) would overrun the budget.
            if elapsed + max(state["epoch_wall_seconds"][-3:]) > self.args.time_budget * 60:
                print(f"time budget: {elapsed / 60:.1f} of {self.args.time_budget:g} min used; stopping after "
                      f"epoch {epoch + 1} (resume with --resume)", flush=True)
                self.stopped_by_budget = True
                self.model.stop_training = True


    def _keep_best(self, accuracy: float, epoch: int, weights: str) -> None:
        self.state.update(best_val_accuracy=accuracy, best_epoch=epoch + 1, best_weights=weights)
        self.config.metrics = {"val_accuracy_no_tta": accuracy, "split": self.args.val_split, "epoch": epoch + 1,
                               "weights": weights, "note": "interim: best epoch so far, before final evaluation"}
        save_model_folder(self.model, self.config, self.args.out)

    def _accuracy(self) -> float:
        """Single-view accuracy of the model's current weights on the validation images."""
        logits = np.concatenate([self.model.predict_on_batch(self.val_images[i:i + 256].astype(np.float32))
                                 for i in range(0, len(self.val_images), 256)])
        return float(np.mean(np.argmax(logits, axis=1) == self.val_labels))


@contextlib.contextmanager
def averaged_weights(model: keras.Model):
    """Temporarily swap the optimizer's moving averages into the model's trainable weights."""
    averages = model.optimizer._model_variables_moving_average  # Keras keeps them in trainable-weight order
    raw = [keras.ops.convert_to_numpy(variable) for variable in model.trainable_weights]
    try:
        for variable, average in zip(model.trainable_weights, averages):
            # A copy: on JAX, sharing the average's array would let the next jitted call donate (delete) it.
            variable.assign(keras.ops.convert_to_numpy(average))
        yield
    finally:
        for variable, value in zip(model.trainable_weights, raw):
            variable.assign(value)


def train(args: argparse.Namespace) -> dict:
    """Join the other processes (--coordinator), check the run directory, set up --distribute, and train inside
    its scope."""
    if args.coordinator:  # before anything touches a device
        join_processes(args.coordinator, args.num_processes, args.process_id)
    keras.utils.set_random_seed(args.seed)  # the same seed in every process: the same initial weights
    args.run_dir.mkdir(parents=True, exist_ok=True)
    state_path, resume_path = args.run_dir / STATE_FILE, args.run_dir / RESUME_FILE
    if args.resume and not (state_path.is_file() and resume_path.is_file()):
        raise FerError(f"--resume: no saved run in {args.run_dir} ({STATE_FILE} and {RESUME_FILE} expected)")
    if not args.resume and state_path.is_file():
        raise FerError(f"{args.run_dir} already holds a run; pass --resume to continue it or remove the folder")

    scope, devices = contextlib.nullcontext(), 1
    if args.distribute:
        try:
            scope, devices = data_parallel(args.batch_size)
        except ValueError as error:
            raise FerError(str(error)) from error
    with scope:
        return _train(args, devices, state_path, resume_path)


def _train(args: argparse.Namespace, devices: int, state_path: Path, resume_path: Path) -> dict:
    """Data, a new or resumed model, fit() phase by phase, then finalize(); model variables are created here so
    that a distribution scope holds them."""
    train_set, val = load_splits(args)
    print(f"data: {len(train_set)} {args.train_split} and {len(val)} {args.val_split} faces, "
          f"classes {dict(zip(train_set.label_names, train_set.class_counts().tolist()))}", flush=True)
    model, config = new_model(args, train_set.num_classes, train_set.label_names)
    config.training = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "resume"}
    config.training["command"] = "python -m training.train " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    state = {"epochs_completed": 0, "phase": -1, "best_val_accuracy": -1.0, "best_epoch": 0, "history": {},
             "train_seconds": 0.0, "epoch_seconds": []}
    if args.resume:
        state = read_run_state(args.run_dir)
        model = keras.saving.load_model(resume_path, safe_mode=True)
        print(f"resuming after epoch {state['epochs_completed']} of {args.epochs}", flush=True)
    state.setdefault("command", config.training["command"])  # the first sitting's command, without --resume
    machines, machine = state.setdefault("trained_on", []), describe_machine()
    if machine not in machines:  # a run may span machines: the card lists each
        machines.append(machine)
    state["sitting_start"] = time.time()
    state["epoch_seconds"] = []
    state["epoch_wall_seconds"] = []

    input_shape = config.input_shape
    # Training sees random windows of the whole frame; validation the center crop that serving uses
    # (finalize_run scores every test-time augmentation of the whole frames).
    train_images = preprocess_faces(train_set.images, config.face_input_shape)
    val_images = preprocess_faces(val.images, input_shape, crop_pct=config.crop_pct)
    if args.no_augment and config.crop_pct != 1.0:
        train_images = preprocess_faces(train_images, input_shape, crop_pct=config.crop_pct)
    indices = pipeline.balanced_indices(train_set.labels, args.balance, train_set.num_classes, args.seed)
    weights = None
    if args.balance == "weights":
        weights = pipeline.class_weights(train_set.labels, train_set.num_classes)[train_set.labels[indices]]
    augmentation = None if args.no_augment else pipeline.Augmentation(
        flip=not args.no_flip, rotation_degrees=args.rotation, zoom=args.zoom, shift=args.shift, crop_min=args.crop_min,
        erasing=args.erasing, window=config.crop_pct)
    # Split over several devices every batch must divide evenly: drop the last partial training batch, and
    # leave the last few validation rows (fewer than the device count) out of val_loss and val_accuracy.
    train_targets = targets_of(train_set, args)
    online_teacher = None
    if args.teacher and args.teacher_mode == "online":
        online_teacher = OnlineTeacher(args.teacher, train_set.label_names, input_shape, tta=args.teacher_tta)
        print(f"teachers {', '.join(args.teacher)} online (tta {args.teacher_tta}): weight {args.teacher_weight:g} "
              "on every augmented batch", flush=True)
    elif args.teacher:
        teacher = cached_teacher_targets(args.run_dir, args.teacher, train_set.images, train_set.label_names)
        train_targets = mix_targets(train_targets, teacher, args.teacher_weight)
        agreement = float(np.mean(np.argmax(teacher, axis=1) == train_set.labels))
        print(f"teachers {', '.join(args.teacher)}: weight {args.teacher_weight:g}, "
              f"their top class is the label for {agreement:.1%} of the training faces", flush=True)
    # Several processes (--coordinator): each feeds its own rows as its part of every global batch, shuffled and
    # augmented with its own draws (seed); one process keeps every row and the seed.
    index, count = process_share()
    mine = process_part(len(indices), index, count)
    rows, weights = indices[mine], None if weights is None else weights[mine]
    train_data = pipeline.make_dataset(train_images[rows], train_targets[rows], args.batch_size // count, True,
                                       augmentation, weights, args.seed * count + index,
                                       output_size=tuple(input_shape[:2]), epoch=state["epochs_completed"],
                                       drop_remainder=devices > 1,
                                       mix=args.mix, mix_alpha=args.mix_alpha, teacher=online_teacher,
                                       teacher_weight=args.teacher_weight)
    val_mine = process_part(len(val_images) - len(val_images) % devices, index, count)
    val_data = pipeline.make_dataset(val_images[val_mine], targets_of(val, args)[val_mine], 256 * devices // count,
                                     False)
    steps = len(train_data)

    for number, (first, end, frozen, peak_lr) in enumerate(phases(args, config)):
        if state["epochs_completed"] >= end:
            continue
        if not (args.resume and state["phase"] == number and state["epochs_completed"] > first):
            compile_for_phase(model, config, args, frozen, peak_lr, end - first, steps)
        run_state = RunState(args, config, state, number, len(indices), val_images, val.labels)
        pause = PauseWhileFlagged(args.run_dir / PAUSE_FILE)
        run_state.pause = pause
        callbacks = [pause, run_state, keras.callbacks.CSVLogger(str(args.run_dir / "history.csv"), append=True)]
        if args.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=2, verbose=1))
        if args.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping("val_accuracy", patience=args.early_stopping))
        model.fit(train_data, validation_data=val_data, initial_epoch=state["epochs_completed"], epochs=end,
                  callbacks=callbacks, shuffle=False, verbose=1 if sys.stdout.isatty() else 2)
        if run_state.stopped_by_budget or model.stop_training:
            break
    return finalize_run(args.out, config, state, val, dataset_name=dataset_name(args.ferplus),
                        planned_epochs=args.epochs, fit_temperature_too=not args.no_temperature,
                        prior=class_prior(train_set), explanations=not args.no_explanations)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        metrics = train(args)
    except FerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"model folder: {args.out} ({metrics['split']} accuracy {metrics['accuracy']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
