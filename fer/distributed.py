"""Batch analysis on Ray Data: images, folders and videos (long ones split into frame ranges) analyzed by a pool of
actors that each run the library's own Recognizer, written as the rows `python -m fer predict --csv` writes.

pip install "fer-explain[ray]"; docs/at-scale.md has the design, a cluster recipe and the throughput figures.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from fer.errors import FerError, VideoError
from fer.model.sources import DEFAULT_MODEL
from fer.video import VideoReader, analyze_video, is_video

INSTALL_HINT = 'pip install "fer-explain[ray]"'
UNITS_PER_ACTOR = 8  # enough pieces of work that actors finishing early pick up the rest
MIN_FRAMES_PER_UNIT = 16  # analyzed frames: below this, scheduling and seeking cost more than they balance
MAX_FRAMES_PER_UNIT = 1000  # a failed or slow piece of work holds up at most this much
IN_FLIGHT_PER_ACTOR = 2  # one unit running, the next already queued at the actor


@dataclasses.dataclass(frozen=True)
class Task:
    """An image, a whole video, or frames [start, stop) of a video (stop None: to its end)."""

    path: str
    start: int = 0
    stop: int | None = None


def csv_header(labels: Iterable[str]) -> list[str]:
    """The columns of `python -m fer predict --csv` for a model with these labels."""
    from fer.__main__ import CSV_HEADER

    return CSV_HEADER[:8] + list(labels) + CSV_HEADER[8:]


def stated_frames(path: Path) -> int:
    """The frame count a video's container states (0 when it states none or the file cannot be opened: that file
    then stays one task, which reports its error as the single-process run does)."""
    try:
        with VideoReader(path) as reader:
            return reader.info.frame_count
    except VideoError:
        return 0


def plan_units(files: list[Path], every: int, actors: int, frames_per_unit: int | None = None) -> list[list[Task]]:
    """Group the files into units of work of about `frames_per_unit` analyzed frames, in input order: runs of images
    and short videos together, long videos split into frame ranges of their own. By default the size gives each
    actor about UNITS_PER_ACTOR units (within MIN_ and MAX_FRAMES_PER_UNIT)."""
    frames = {path: stated_frames(path) for path in files if is_video(path)}

    def cost(path: Path) -> int:  # analyzed frames
        return max(1, math.ceil(frames[path] / every)) if path in frames else 1

    if frames_per_unit is None:
        total = sum(cost(path) for path in files)
        frames_per_unit = min(max(math.ceil(total / (UNITS_PER_ACTOR * actors)), MIN_FRAMES_PER_UNIT),
                              MAX_FRAMES_PER_UNIT)
    span = frames_per_unit * every  # frames of a range: a multiple of `every`, so each range analyses as many
    units: list[list[Task]] = []
    pending: list[Task] = []
    pending_cost = 0
    for path in files:
        if frames.get(path, 0) > span:
            if pending:
                units.append(pending)
                pending, pending_cost = [], 0
            starts = range(0, frames[path], span)
            units.extend([Task(str(path), start, start + span if start + span < frames[path] else None)]
                         for start in starts)
            continue
        pending.append(Task(str(path)))
        pending_cost += cost(path)
        if pending_cost >= frames_per_unit:
            units.append(pending)
            pending, pending_cost = [], 0
    if pending:
        units.append(pending)
    return units


class RangeReader(VideoReader):
    """Frames [start, stop) of a video with their index and time in the whole video. Seeking is exact for
    intra-frame codecs (MJPG); for others OpenCV's FFmpeg backend decodes forward from the keyframe before `start`."""

    def __init__(self, path: str | Path, start: int = 0, stop: int | None = None) -> None:
        super().__init__(path)
        if start:
            import cv2

            self._capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        self.frames_read = start  # VideoReader numbers frames from here and stops at max_frames
        self.max_frames = stop


def task_rows(recognizer, task: Task, every: int, labels: list[str]) -> list[list]:
    """The rows `python -m fer predict --csv` writes for this image, video or frame range (an unreadable file: its
    rows so far, then one with the reason)."""
    from fer.__main__ import analyze, csv_rows, error_row, read_file

    path, rows = Path(task.path), []
    try:
        if task.start == 0 and task.stop is None:  # a whole file: the CLI's own loop
            for index, time, faces in analyze(recognizer, path, read_file(recognizer, path), every):
                rows += csv_rows(path, index, time, faces, labels)
        else:
            with RangeReader(path, task.start, task.stop) as reader:
                for item in analyze_video(recognizer, reader, every):
                    rows += csv_rows(path, item.index, item.time, item.analysis.faces, labels)
                if task.start == 0 and reader.frames_read == 0:
                    raise VideoError(f"{path.name}: no frames could be decoded")  # as analyze() says it
    except FerError as error:
        rows.append(error_row(path, str(error), labels))
    return rows


def load_onnx_model(source: str, threads: int):
    """The model as load_model() gives it, with ONNX Runtime limited to `threads` intra-op threads when the folder
    has its checked model.onnx (a Keras-only folder or an export folder loads as load_model() loads it)."""
    from fer.model.config import CONFIG_FILE, ModelConfig
    from fer.runtime.export import is_export_folder
    from fer.model.sources import load_model, resolve_source
    from fer.runtime.onnx import OnnxModel, has_onnx, onnxruntime_available

    folder = resolve_source(source)
    if not is_export_folder(folder) and onnxruntime_available():
        config = ModelConfig.load(folder / CONFIG_FILE)
        if has_onnx(folder, config):
            return OnnxModel(folder, config, source=str(source), threads=threads)
    return load_model(source)


class Analyzer:
    """A Ray Data actor: one Recognizer, loaded once, that turns units of work into CSV rows (string columns).

    threads: the CPUs Ray gave the actor; ONNX Runtime and OpenCV (YuNet) use that many, so actors side by side
    do not oversubscribe the cores. cwd: the driver's folder, so relative paths read (and are written) as there."""

    def __init__(self, model: str, detector: str, align: bool, tta: str | None, every: int, threads: int,
                 cwd: str) -> None:
        import cv2

        from fer.pipeline import Recognizer

        if Path(cwd).is_dir():
            os.chdir(cwd)
        cv2.setNumThreads(threads)
        self.recognizer = Recognizer(load_onnx_model(model, threads), detector=detector, align=align, tta=tta)
        self.labels = list(self.recognizer.labels)
        self.columns = csv_header(self.labels)
        self.every = every

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = []
        for paths, starts, stops in zip(batch["path"], batch["start"], batch["stop"]):
            for path, start, stop in zip(paths, starts, stops):
                task = Task(str(path), int(start), None if stop < 0 else int(stop))
                rows += task_rows(self.recognizer, task, self.every, self.labels)
        # csv.writer's text of each cell, so the columns are strings in every block (and empty blocks too)
        return {name: np.array(["" if row[column] is None else str(row[column]) for row in rows], dtype=str)
                for column, name in enumerate(self.columns)}


def connect(address: str | None = None, quiet: bool = False, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at `address` ("auto", "ray://host:port"), or start a local instance (of `num_cpus`
    CPUs, default all) when None; returns whether this call did (so the caller shuts it down), False when Ray was
    already initialized."""
    try:
        import ray
    except ImportError:
        raise FerError(f"--engine ray needs Ray: {INSTALL_HINT}") from None
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": not quiet, "logging_level": logging.WARNING if quiet else logging.INFO}
    if address is None:
        # Local workers import this checkout's fer even where it is not installed.
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        options.update(include_dashboard=False, num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}})
    ray.init(address=address, **options)
    return True


def actor_pool(cpus_per_actor: int = 1) -> int:
    """Actors that fit the cluster's CPUs at `cpus_per_actor` each."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)


def analyse_collection(files: list[Path], model: str = DEFAULT_MODEL, detector: str = "yunet", align: bool = True,
                       tta: str | None = None, every: int = 1, cpus_per_actor: int = 1, actors: int | None = None,
                       frames_per_unit: int | None = None):
    """A Ray Dataset of the CSV rows of `files` (images and videos; see fer.__main__.expand_paths for folders), in
    input order, computed by an actor pool: `actors` (default: as many as the cluster's CPUs hold at
    `cpus_per_actor`, at most one per unit of work), each with `cpus_per_actor` threads. Needs ray.init() (connect)."""
    import ray

    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    actors = actors or actor_pool(cpus_per_actor)
    units = plan_units(files, every, actors, frames_per_unit)
    items = [{"path": [task.path for task in unit], "start": [task.start for task in unit],
              "stop": [-1 if task.stop is None else task.stop for task in unit]} for unit in units]
    # Rows in input order, as the single-process run writes them (set on the driver's current DataContext).
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    source = str(Path(model).resolve()) if Path(model).is_dir() else model
    dataset = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    return dataset.map_batches(
        Analyzer, batch_size=1, batch_format="numpy", num_cpus=cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=min(actors, max(1, len(items))),
                                           max_tasks_in_flight_per_actor=IN_FLIGHT_PER_ACTOR),
        fn_constructor_kwargs=dict(model=source, detector=detector, align=align, tta=tta, every=every,
                                   threads=cpus_per_actor, cwd=os.getcwd()))


@dataclasses.dataclass
class Written:
    """What a written table holds: analyzed frames, face rows, and (path, reason) of each unreadable input."""

    frames: int = 0
    faces: int = 0
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def count(self, batch: dict[str, np.ndarray]) -> None:
        errors = batch["error"] != ""
        self.faces += int(np.sum(batch["face"] != ""))
        # each analyzed frame has one row numbered face 1, or one row without a face
        self.frames += int(np.sum(~errors & np.isin(batch["face"], ("", "1"))))
        self.failures += list(zip(batch["file"][errors].tolist(), batch["error"][errors].tolist()))


def row_batches(rows) -> Iterator[dict[str, np.ndarray]]:
    """The dataset's rows on the driver, in order, as dicts of string arrays."""
    for batch in rows.iter_batches(batch_size=None, batch_format="numpy"):
        yield {name: np.asarray(values, dtype=str) for name, values in batch.items()}


def write_csv(rows, path: str | Path, labels: Iterable[str]) -> Written:
    """One CSV file, byte for byte what `python -m fer predict --csv` writes for the same inputs (written by the
    driver as the rows arrive; for a folder of part files written by the workers, use rows.write_csv(folder))."""
    header, written = csv_header(labels), Written()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for batch in row_batches(rows):
            written.count(batch)
            writer.writerows(zip(*(batch[name].tolist() for name in header)))
    return written


def typed_table(batch: dict[str, np.ndarray], labels: list[str]):
    """The rows as an Arrow table with numbers as numbers: frame, face and the box int64, time and the probabilities
    float64, an empty cell null (file, top_label and error stay strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kinds = {"frame": pa.int64(), "time_s": pa.float64(), "face": pa.int64(), "x": pa.int64(), "y": pa.int64(),
             "width": pa.int64(), "height": pa.int64(), **{label: pa.float64() for label in labels}}
    columns = {}
    for name in csv_header(labels):
        values = pa.array(batch[name].tolist(), pa.string())
        if name in kinds:
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values).cast(kinds[name])
        columns[name] = values
    return pa.table(columns)


def write_parquet(rows, path: str | Path, labels: Iterable[str]) -> Written:
    """One Parquet file of the same rows as write_csv, typed (typed_table), written by the driver as they arrive
    (for a folder of part files written by the workers, use rows.write_parquet(folder): string columns)."""
    import pyarrow.parquet as pq

    labels, written, writer = list(labels), Written(), None
    try:
        for batch in row_batches(rows):
            written.count(batch)
            table = typed_table(batch, labels)
            writer = writer or pq.ParquetWriter(str(path), table.schema)
            writer.write_table(table)
        if writer is None:  # no rows at all: still a file with the columns
            empty = {name: np.array([], dtype=str) for name in csv_header(labels)}
            pq.write_table(typed_table(empty, labels), str(path))
    finally:
        if writer is not None:
            writer.close()
    return written


def predict_command(args) -> int:
    """`python -m fer predict PATH... --csv out.csv --engine ray [--address ...]`: the single-process command's
    rows and summary, computed on Ray (a local instance unless --address names a cluster)."""
    from fer.__main__ import start_predict

    tta = "none" if args.no_tta else args.tta
    started = start_predict(args)  # fails fast, before any worker starts, on a model or option they would refuse
    if isinstance(started, int):
        return started
    recognizer, files, skipped = started
    labels = list(recognizer.labels)
    del recognizer
    try:
        started = connect(args.address, args.quiet)
    except (FerError, ConnectionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import ray

    if args.quiet:  # Ray Data logs each dataset's plan and progress; it reads this at each execution
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    try:
        ray.data.DataContext.get_current().enable_progress_bars = not args.quiet
        rows = analyse_collection(files, args.model or DEFAULT_MODEL, args.detector, not args.no_align, tta,
                                  args.every)
        written = write_csv(rows, args.csv, labels)
    finally:
        if started:
            ray.shutdown()
    failed = len(written.failures)
    summary = f"{len(files)} file(s), {written.frames} frame(s), {written.faces} face(s), {failed} failed"
    if skipped:
        summary += f", {skipped} other file(s) skipped"
    print(summary + f"; CSV written to {args.csv}")
    for path, reason in written.failures:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if written.failures else 0
