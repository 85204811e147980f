"""training.train on several processes (machines): two JAX processes on this machine, a loopback coordinator."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_CNN

TESTS = Path(__file__).resolve().parents[1]  # tests/: the shared helpers
# training.train in a process where backend_worker hides TensorFlow (HIDE_TENSORFLOW=1), as on a JAX-only machine,
# which also saves its import time. On JAX, finalize leaves model.onnx for later (Keras exports ONNX through
# tf2onnx); what is checked here is the weights the processes trained together.
LAUNCH = "import sys, backend_worker; sys.exit(backend_worker.main(sys.argv[1:]))"
# 64 rows, a global batch of 16: 8 rows per process and step, so 4 steps per epoch.
FLAGS = ["--model-options", json.dumps(TINY_CNN), "--batch-size", "16", "--lr", "0.05", "--limit", "64",
         "--epochs", "2", "--no-explanations", "--distribute"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_train_one_model_and_end_with_identical_weights(tiny_csv, tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install -r requirements-test.txt)")
    import keras

    import training.schedules  # noqa: F401  (registers the learning-rate schedule that last.keras holds)

    coordinator = f"127.0.0.1:{free_port()}"
    # XLA without LLVM optimization: these tiny programs run a few times each, compiling is most of the work.
    environment = {**os.environ, "KERAS_BACKEND": "jax", "HIDE_TENSORFLOW": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                   "XLA_FLAGS": "--xla_backend_optimization_level=0", "JAX_PLATFORMS": "cpu",
                   "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    processes = []
    for process in range(2):
        folder = tmp_path / f"process{process}"
        command = [sys.executable, "-c", LAUNCH, "--data", str(tiny_csv), "--out", str(folder / "model"),
                   "--run-dir", str(folder / "run"), *FLAGS, "--coordinator", coordinator,
                   "--num-processes", "2", "--process-id", str(process)]
        processes.append(subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True, cwd=TESTS.parent))
    try:
        logs = [process.communicate(timeout=240)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    for number, (process, log) in enumerate(zip(processes, logs)):
        assert process.returncode == 0, log[-4000:]
        assert f"process {number} of 2, coordinator {coordinator}" in log
        assert "data parallel over 2 devices in 2 processes, 8 images each per step" in log

    weights, steps, histories = [], [], []
    for number in range(2):
        folder = tmp_path / f"process{number}"
        weights.append(keras.saving.load_model(folder / "model" / "model.keras", safe_mode=True).get_weights())
        resumed = keras.saving.load_model(folder / "run" / "last.keras", safe_mode=True)
        steps.append(int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)))
        histories.append(json.loads((folder / "run" / "state.json").read_text())["history"])
    # Each process fed its own 32 rows (8 a step) and every step averaged both halves' gradients: the same
    # weights, the same global loss and accuracy, in 2 epochs of 4 steps.
    assert steps == [8, 8]
    assert len(weights[0]) == len(weights[1]) > 0
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)
    for key in ("loss", "val_loss", "val_accuracy"):
        assert histories[0][key] == histories[1][key] and len(histories[0][key]) == 2


def test_each_process_takes_every_nth_row_and_as_many_as_the_others():
    from training.distribute import process_part

    assert process_part(10, 0, 1).tolist() == list(range(10))  # one process keeps every row
    assert process_part(10, 0, 3).tolist() == [0, 3, 6] and process_part(10, 2, 3).tolist() == [2, 5, 8]
    assert sorted(np.concatenate([process_part(11, index, 2) for index in range(2)]).tolist()) == list(range(10))


@pytest.mark.parametrize("backend, extra, message", [
    ("jax", ["--num-processes", "2"], "need --coordinator"),
    ("jax", ["--distribute", "--coordinator", "localhost"], "must be HOST:PORT"),
    ("jax", ["--coordinator", "localhost:1234"], "needs --distribute"),
    ("tensorflow", ["--distribute", "--coordinator", "localhost:1234"], "on the jax backend"),
    ("jax", ["--distribute", "--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "2"],
     "--process-id must be in 0..1"),
    ("jax", ["--distribute", "--coordinator", "localhost:1234", "--num-processes", "2", "--time-budget", "5"],
     "--time-budget cannot"),
])
def test_process_options_are_checked(monkeypatch, tmp_path, capsys, backend, extra, message):
    import keras

    from training.train import parse_args

    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    with pytest.raises(SystemExit):
        parse_args(["--data", "x.csv", "--out", str(tmp_path / "m"), *extra])
    assert message in capsys.readouterr().err


def test_a_complete_set_of_process_options_is_accepted(monkeypatch, tmp_path):
    import keras

    from training.train import parse_args

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    args = parse_args(["--data", "x.csv", "--out", str(tmp_path / "m"), "--distribute", "--coordinator",
                       "10.0.0.1:1234", "--num-processes", "4", "--process-id", "3"])
    assert (args.coordinator, args.num_processes, args.process_id) == ("10.0.0.1:1234", 4, 3)
