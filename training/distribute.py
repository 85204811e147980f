"""--distribute: data parallelism over every visible device with the backend's own engine; on JAX also over
several processes (machines) that join one run with --coordinator HOST:PORT --num-processes N --process-id I."""

from __future__ import annotations

import contextlib

import keras
import numpy as np

SUPPORTED_BACKENDS = ("jax", "tensorflow")
MULTI_PROCESS_BACKENDS = ("jax",)


def join_processes(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process run (jax.distributed.initialize, through Keras) before anything touches a device:
    process 0 serves the coordinator at HOST:PORT, every process then sees all processes' devices."""
    print(f"distribute: process {process_id} of {num_processes}, coordinator {coordinator}", flush=True)
    keras.distribution.initialize(coordinator, num_processes, process_id)


def process_share() -> tuple[int, int]:
    """(this process's index, the number of processes): (0, 1) unless join_processes() joined a run."""
    if keras.backend.backend() not in MULTI_PROCESS_BACKENDS:
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


def process_part(rows: int, index: int, count: int) -> np.ndarray:
    """Positions of this process's rows among `rows`: every count-th from its index, cut to the same number in
    every process, since each step is a collective that all processes must join (all rows for one process)."""
    return np.arange(index, rows - rows % count, count)


def data_parallel(batch_size: int) -> tuple[contextlib.AbstractContextManager, int]:
    """Spread each batch over all devices; returns (scope for building and compiling the model, devices).

    JAX: keras.distribution.DataParallel (weights replicated, the batch split along its first axis) over every
    process's devices; each process feeds its own part of each batch (process_part), so the dataset is not
    sharded again. TensorFlow: tf.distribute.MirroredStrategy, whose scope must hold model creation and compile()."""
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices,
                                                                            auto_shard_dataset=False))
        scope, count = contextlib.nullcontext(), len(devices)
    elif backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        scope, count = strategy.scope(), strategy.num_replicas_in_sync
    else:
        raise ValueError(f"--distribute supports the {' and '.join(SUPPORTED_BACKENDS)} backends, not {backend!r}; "
                         "set KERAS_BACKEND=jax or tensorflow")
    if batch_size % count:
        raise ValueError(f"--batch-size {batch_size} does not split evenly over {count} devices")
    processes = process_share()[1]
    print(f"distribute: {backend} data parallel over {count} devices"
          + (f" in {processes} processes" if processes > 1 else "")
          + f", {batch_size // count} images each per step", flush=True)
    return scope, count
