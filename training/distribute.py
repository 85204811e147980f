"""--distribute: data parallelism over every visible device with the backend's own engine."""

from __future__ import annotations

import contextlib

import keras

SUPPORTED_BACKENDS = ("jax", "tensorflow")


def data_parallel(batch_size: int) -> tuple[contextlib.AbstractContextManager, int]:
    """Spread each batch over all visible devices; returns (scope for building and compiling the model, devices).

    JAX: keras.distribution.DataParallel (weights replicated, the batch split along its first axis).
    TensorFlow: tf.distribute.MirroredStrategy, whose scope must hold model creation and compile()."""
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
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
    print(f"distribute: {backend} data parallel over {count} devices, {batch_size // count} images each per step",
          flush=True)
    return scope, count
