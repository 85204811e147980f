"""Training on other Keras backends (JAX in a subprocess), folders that load anywhere, --distribute on 2 CPU devices."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_CNN

WORKER = Path(__file__).resolve().parents[1] / "backend_worker.py"
# 64 rows in batches of 16: no partial batch, so each step function compiles once.
TINY_FLAGS = ["--model-options", json.dumps(TINY_CNN), "--batch-size", "16", "--lr", "0.05", "--limit", "64"]


def run_worker(csv: Path, workdir: Path, flags: list[str], launcher: tuple[str, ...] = (),
               **env: str) -> tuple[dict, dict]:
    """Train in a fresh process (python [launcher] worker) with extra environment variables; return its report
    and arrays."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    done = subprocess.run([sys.executable, *launcher, str(WORKER), str(csv), str(workdir), *flags], env=environment,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((workdir / "report.json").read_text())
    report["log"] = done.stdout
    with np.load(workdir / "result.npz") as arrays:
        return report, dict(arrays)


def load_in_tensorflow(folder: Path):
    """The folder as every consumer loads it: fer.runtime.keras, safe_mode on, in this (TensorFlow) process."""
    from fer.runtime.keras import load_model_folder

    model, config = load_model_folder(folder)
    return model, config


@pytest.fixture(scope="module")
def jax_run(tiny_csv, tmp_path_factory):
    """One JAX training (its start-up and XLA compiling are most of the cost) that both tests below read:
    three epochs of crop windows, erasing and weight averaging, data parallel over two CPU devices, with
    `import tensorflow` made to fail."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install -r requirements-test.txt)")
    workdir = tmp_path_factory.mktemp("jax")
    flags = [*TINY_FLAGS, "--epochs", "3", "--crop-size", "40", "--erasing", "0.5", "--ema", "0.9", "--distribute"]
    # Two virtual CPU devices; XLA compiling without LLVM optimization halves the run's CPU time (these tiny
    # programs run a few times each, so compiling them is most of the work).
    xla_flags = "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0"
    report, arrays = run_worker(tiny_csv, workdir, flags, KERAS_BACKEND="jax", HIDE_TENSORFLOW="1",
                                XLA_FLAGS=xla_flags)
    return workdir, report, arrays


@pytest.fixture(scope="module")
def torch_run(tiny_csv, tmp_path_factory):
    """The same training on PyTorch (no --distribute: Keras has no PyTorch distribution), TensorFlow hidden.
    PyTorch is not a test dependency (several hundred MB): this runs where it is installed."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed (pip install torch)")
    workdir = tmp_path_factory.mktemp("torch")
    flags = [*TINY_FLAGS, "--epochs", "3", "--crop-size", "40", "--erasing", "0.5", "--ema", "0.9"]
    report, arrays = run_worker(tiny_csv, workdir, flags, KERAS_BACKEND="torch", HIDE_TENSORFLOW="1")
    return workdir, report, arrays


def check_loads_in_tensorflow_and_predicts_the_same(run, backend: str) -> None:
    import keras

    from backend_worker import AUGMENTATION, fixed_inputs
    from training.augment import augment_batch

    workdir, report, arrays = run
    assert report["backend"] == backend and report["tensorflow_loaded"] is False  # trains where TF is not installed
    assert "weight average" in report["log"]  # the EMA weights were swapped in and scored on that backend

    assert keras.backend.backend() == "tensorflow"
    model, config = load_in_tensorflow(workdir / "model")
    assert config.input_shape == [40, 40, 1] and config.training["epochs_completed"] == 3
    # finalize() scored every TTA mode there with fer's own EmotionModel (no TensorFlow there).
    assert set(config.metrics["accuracy_by_tta"]) == {"none", "flip", "ten_crop"}
    assert config.training["trained_on"][0].endswith(f"on {backend}")
    inputs = fixed_inputs()
    predictions = np.asarray(model.predict_on_batch(inputs["faces"][:, :40, :40]))
    assert np.abs(predictions - arrays["predictions"]).max() <= 1e-4

    # The augmentation is one keras.ops definition: the same randomness gives the same batch on both backends.
    augmented = keras.ops.convert_to_numpy(
        augment_batch(inputs["faces"], AUGMENTATION, inputs["uniforms"], inputs["noise"], output_size=(40, 40)))
    assert np.abs(augmented - arrays["augmented"]).max() <= 1e-2


def test_a_folder_trained_on_jax_loads_in_tensorflow_and_predicts_the_same(jax_run):
    check_loads_in_tensorflow_and_predicts_the_same(jax_run, "jax")


def test_a_folder_trained_on_torch_loads_in_tensorflow_and_predicts_the_same(torch_run):
    check_loads_in_tensorflow_and_predicts_the_same(torch_run, "torch")


def test_distribute_trains_over_two_jax_cpu_devices(jax_run):
    workdir, report, _ = jax_run
    assert report["devices"] == 2 and "jax data parallel over 2 devices" in report["log"]
    assert_trained_and_saved(workdir, epochs=3)


def test_distribute_trains_with_a_tensorflow_mirrored_strategy_on_two_cpus(tiny_csv, tmp_path):
    # TensorFlow splits the CPU into two logical devices only before it starts: hence a fresh process.
    split_cpu = ("import tensorflow as tf; cpu = tf.config.list_physical_devices('CPU')[0]; "
                 "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2); "
                 "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    flags = [*TINY_FLAGS, "--epochs", "3", "--no-augment", "--distribute"]
    report, _ = run_worker(tiny_csv, tmp_path, flags, ("-c", split_cpu), KERAS_BACKEND="tensorflow")
    assert report["devices"] == 2 and "tensorflow data parallel over 2 devices" in report["log"]
    assert_trained_and_saved(tmp_path, epochs=3)


def assert_trained_and_saved(workdir: Path, epochs: int) -> None:
    """The loss fell over the epochs and the folder is the usual one, loadable here with safe_mode."""
    state = json.loads((workdir / "run" / "state.json").read_text())
    losses = state["history"]["loss"]
    assert len(losses) == epochs and losses[-1] < losses[0]
    assert sorted(p.name for p in (workdir / "model").iterdir() if p.suffix in (".keras", ".json")) == [
        "config.json", "model.keras"]
    model, config = load_in_tensorflow(workdir / "model")
    assert model.output_shape == (None, 7) and config.metrics["n"] == 28


def test_distribute_refuses_a_backend_without_it(monkeypatch, tmp_path):
    import keras

    from training.train import parse_args

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(SystemExit):
        parse_args(["--data", "x.csv", "--out", str(tmp_path / "m"), "--distribute"])
