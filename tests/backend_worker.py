"""Run by tests/training/test_backends.py in a subprocess under another KERAS_BACKEND: train, predict, augment, report.

usage: python tests/backend_worker.py CSV WORKDIR [training flags...]
Writes WORKDIR/result.npz (predictions of the saved folder on fixed inputs, an augmented fixed batch) and
WORKDIR/report.json (backend, devices). With HIDE_TENSORFLOW=1, `import tensorflow` fails, as on GPU hosts
that have only JAX or PyTorch."""

from __future__ import annotations

import functools
import importlib.machinery
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class HideTensorFlow:
    """A meta-path finder that makes `import tensorflow` fail (Keras then treats it as not installed).

    Finding the spec succeeds (PyTorch's dynamo asks importlib.util.find_spec about many modules at import and
    does not expect an error there); loading the module raises."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (hidden by tests/backend_worker.py)", name=spec.name)

    def exec_module(self, module):  # never reached: create_module raises
        raise ModuleNotFoundError(module.__name__)


if os.environ.get("HIDE_TENSORFLOW") == "1":
    sys.meta_path.insert(0, HideTensorFlow())

import keras  # noqa: E402
import numpy as np  # noqa: E402

from training.augment import RANDOM_COLUMNS, Augmentation, augment_batch  # noqa: E402
from training.pipeline import compiled  # noqa: E402
from training.train import main  # noqa: E402


def fixed_inputs() -> dict[str, np.ndarray]:
    """The same arrays in every process: faces for predictions, and the randomness for one augmented batch."""
    rng = np.random.default_rng(123)
    return {"faces": rng.integers(0, 256, (6, 48, 48, 1)).astype(np.float32),
            "uniforms": rng.random((6, RANDOM_COLUMNS), dtype=np.float32),
            "noise": rng.random((6, 40, 40, 1), dtype=np.float32)}


AUGMENTATION = Augmentation(rotation_degrees=10, zoom=0.1, shift=0.083, crop_min=1.0, erasing=0.5, window=40 / 48)


def run(csv: str, workdir: Path, flags: list[str]) -> None:
    folder = workdir / "model"
    code = main(["--data", csv, "--out", str(folder), "--run-dir", str(workdir / "run"), "--no-explanations", *flags])
    if code != 0:
        raise SystemExit(f"training failed with exit code {code}")
    model = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    inputs = fixed_inputs()
    side = model.input_shape[1]
    predictions = keras.ops.convert_to_numpy(model.predict_on_batch(inputs["faces"][:, :side, :side]))
    # Compiled as the pipeline compiles it: run eagerly, JAX would compile each of its ~40 ops on its own.
    augment = compiled(functools.partial(augment_batch, augmentation=AUGMENTATION, output_size=(40, 40)))
    augmented = keras.ops.convert_to_numpy(augment(inputs["faces"], uniforms=inputs["uniforms"], noise=inputs["noise"]))
    np.savez(workdir / "result.npz", predictions=predictions, augmented=augmented)
    # keras.distribution has no PyTorch implementation (list_devices fails there): one device.
    devices = 1 if keras.backend.backend() == "torch" else len(keras.distribution.list_devices())
    report = {"backend": keras.backend.backend(), "devices": devices,
              "tensorflow_loaded": "tensorflow" in sys.modules}
    (workdir / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    run(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
