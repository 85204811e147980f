"""Section: batch analysis of a photo and video collection, one process vs Ray Data (fer.distributed) on this machine.

The collection: 640x480 frames of real faces (0, 1 and 4 in turn, as the latency section's CLI files) written as
JPEG photos and as one MJPG video. Both sides write the CSV of `python -m fer predict --csv` (checked identical);
frames/s is analyzed frames over the time from the command's start to the last row (the Ray instance's own start is
timed apart: a cluster is started once for many jobs). Also one actor's start-up time and peak memory, and the terms
of the paper estimate of docs/at-scale.md: a job's fixed cost (a one-photo job) + per-frame cost x frames / actors
+ overhead per unit of work x units / actors.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks import frames
from benchmarks.context import Context
from benchmarks.processes import GIB

SIZES = {True: (48, 12), False: (600, 120)}  # --quick or not: (video frames, photos)
FACES_IN_TURN = (0, 1, 4)


def model_source(context: Context) -> str:
    """What `python -m fer predict` runs: the default model (the benchmark's model when none is shipped)."""
    from fer.model.sources import DEFAULT_MODEL, bundled_models

    return DEFAULT_MODEL if DEFAULT_MODEL in bundled_models() else context.model_source


def measured_models(context: Context) -> list[str]:
    return [model_source(context)]


def make_collection(context: Context, folder: Path, video_frames: int, photos: int) -> list[Path]:
    """A folder of JPEG photos and an MJPG video of composed frames (distinct faces, 0, 1 and 4 in turn)."""
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    faces = context.faces

    def frame(number: int) -> np.ndarray:
        count = FACES_IN_TURN[number % len(FACES_IN_TURN)]
        chosen = [faces[(number * 4 + k) % len(faces)] for k in range(count)]
        return frames.compose(chosen).bgr

    for number in range(photos):
        cv2.imwrite(str(folder / "photos" / f"{number:04d}.jpg"), frame(number))
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, frames.FRAME_SIZE)
    for number in range(video_frames):
        writer.write(frame(photos + number))
    writer.release()
    return [folder / "photos", video]


def one_thread_cost(source: str, detector: str, files: list[Path], analyzed: int) -> float:
    """Seconds per analyzed frame of one actor's Recognizer (ONNX Runtime and OpenCV on one thread), in-process."""
    from fer.__main__ import expand_paths
    from fer.distributed import Task, load_onnx_model, task_rows
    from fer.pipeline import Recognizer

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        recognizer = Recognizer(load_onnx_model(source, 1), detector=detector)
        labels = list(recognizer.labels)
        paths, _ = expand_paths([str(path) for path in files])
        start = time.perf_counter()
        for path in paths:
            task_rows(recognizer, Task(str(path)), 1, labels)
        return (time.perf_counter() - start) / analyzed
    finally:
        cv2.setNumThreads(threads)


def actor_probe(source: str, detector: str, video: Path) -> dict:
    """One actor on its own: seconds from asking for it to its model loaded (process, imports, model), then its peak
    and current resident memory after it analyzed the whole video."""
    import ray

    from benchmarks.processes import memory_status
    from fer.distributed import Analyzer

    class Probe(Analyzer):
        def analyze(self, batch: dict) -> dict:
            return self(batch)

        def memory(self) -> dict:
            return memory_status()

    start = time.perf_counter()
    probe = ray.remote(num_cpus=1)(Probe).remote(source, detector, True, None, 1, 1, os.getcwd())
    ray.get(probe.memory.remote())
    started = time.perf_counter() - start
    ray.get(probe.analyze.remote({"path": [[str(video)]], "start": [[0]], "stop": [[-1]]}))
    status = ray.get(probe.memory.remote())
    ray.kill(probe)
    return {"start_seconds": round(started, 2), "peak_gib": round(status.get("VmHWM", 0) / GIB, 3),
            "resident_gib": round(status.get("VmRSS", 0) / GIB, 3)}


def run(context: Context) -> dict:
    if importlib.util.find_spec("ray") is None:
        return {"skipped": "ray is not installed (pip install 'fer-explain[ray]')", "rows": []}
    import ray

    from fer.__main__ import expand_paths, main
    from fer.distributed import actor_pool, analyse_collection, connect, plan_units, write_csv
    from fer.model.sources import load_model

    source = model_source(context)
    video_frames, photos = SIZES[context.settings.quick]
    folder = context.workdir / "ray-collection"
    inputs = make_collection(context, folder, video_frames, photos)
    analyzed = video_frames + photos
    cpus = os.cpu_count() or 1

    single_csv, ray_csv = folder / "single.csv", folder / "ray.csv"
    start = time.perf_counter()
    main(["predict", *map(str, inputs), "--model", source, "--detector", context.detector, "--csv", str(single_csv),
          "--quiet"])
    single_seconds = time.perf_counter() - start
    per_frame = one_thread_cost(source, context.detector, inputs, analyzed)

    start = time.perf_counter()
    started = connect(quiet=True)
    ray_start = time.perf_counter() - start
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        files, _ = expand_paths(list(map(str, inputs)))
        actors = actor_pool()
        units = len(plan_units(files, 1, actors))
        actors = min(actors, units)
        labels = list(load_model(source).labels)

        def job(inputs: list[Path], out: Path) -> float:
            start = time.perf_counter()
            write_csv(analyse_collection(inputs, source, context.detector), out, labels)
            return time.perf_counter() - start

        # A job's fixed cost (Ray Data plans it and starts the pool, each actor its process, imports and model): a
        # one-photo job, timed after a first one that warms the fresh instance up as the collection's job finds it.
        first_job_seconds = job(files[:1], folder / "one.csv")
        ray_seconds = job(files, ray_csv)
        job_seconds = job(files[:1], folder / "one.csv")
        actor = actor_probe(source, context.detector, inputs[1])
    finally:
        if started:
            ray.shutdown()
    ideal = job_seconds + per_frame * analyzed / actors
    overhead = max(0.0, ray_seconds - ideal) * actors / units
    return {
        "note": f"{photos} JPEG photos and a {video_frames}-frame MJPG video of 640x480 frames with 0, 1 and 4 faces "
                f"in turn ({context.face_source}); model {source}, detector {context.detector}; end to end to the "
                "last CSV row, the Ray instance's start timed apart",
        "rows": [
            {"engine": "single process (fer predict --csv, in this process)", "workers": 1,
             "threads": f"default ({cpus})", "seconds": round(single_seconds, 2),
             "frames_per_second": round(analyzed / single_seconds, 1)},
            {"engine": "ray (--engine ray, local instance)", "workers": actors, "threads": "1 per actor",
             "seconds": round(ray_seconds, 2), "frames_per_second": round(analyzed / ray_seconds, 1)},
        ],
        "ray_start_seconds": round(ray_start, 2),
        "first_job_seconds": round(first_job_seconds, 2),
        "rows_identical": single_csv.read_bytes() == ray_csv.read_bytes(),
        "actor": actor,
        "estimate": {"job_seconds": round(job_seconds, 2), "per_frame_seconds_one_thread": round(per_frame, 4),
                     "frames": analyzed, "actors": actors, "units": units, "ideal_seconds": round(ideal, 2),
                     "overhead_seconds_per_unit": round(overhead, 3)},
    }


def table(results: dict) -> list[str]:
    if results.get("skipped"):
        return [f"skipped: {results['skipped']}"]
    lines = ["engine | workers | threads | seconds | frames/s"]
    for row in results["rows"]:
        lines.append(f"{row['engine']} | {row['workers']} | {row['threads']} | {row['seconds']:.1f} | "
                     f"{row['frames_per_second']:.1f}")
    estimate, actor = results["estimate"], results["actor"]
    lines += [f"Ray instance start {results['ray_start_seconds']:.1f} s and a first one-photo job "
              f"{results['first_job_seconds']:.1f} s (apart); rows identical: "
              f"{'yes' if results['rows_identical'] else 'NO'}",
              f"one actor: starts in {actor['start_seconds']:.1f} s, peak {actor['peak_gib'] * 1024:.0f} MiB, "
              f"resident {actor['resident_gib'] * 1024:.0f} MiB",
              f"estimate: {estimate['job_seconds']:.1f} s a job + "
              f"{estimate['per_frame_seconds_one_thread'] * 1000:.1f} ms/frame x {estimate['frames']} frames / "
              f"{estimate['actors']} actors = {estimate['ideal_seconds']:.1f} s; measured overhead "
              f"{estimate['overhead_seconds_per_unit']:.2f} s per unit of work ({estimate['units']} units)",
              results["note"]]
    return lines
