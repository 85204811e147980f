"""The pip library stands alone: every module of fer imports without the app's dependencies (gradio, starlette),
and Recognizer() predicts a photo with TensorFlow and Keras unimportable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT

EVERY_MODULE = """
import importlib, json, pkgutil, sys
for name in ("gradio", "starlette"):
    sys.modules[name] = None  # any import of them now fails
import fer
names = sorted(m.name for m in pkgutil.walk_packages(fer.__path__, "fer."))
for name in names:
    importlib.import_module(name)
print(json.dumps(names))
"""

WITHOUT_TENSORFLOW = """
import json, sys
for name in ("tensorflow", "keras", "tf_keras_vis"):
    sys.modules[name] = None
from fer import Recognizer
faces = Recognizer().predict(sys.argv[1])
print(json.dumps([face.to_dict() for face in faces]))
"""


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_every_fer_module_imports_without_gradio_or_starlette():
    names = json.loads(run(EVERY_MODULE))
    assert {"fer.pipeline", "fer.runtime.onnx", "fer.explain.maps", "fer.compat", "fer.video"} <= set(names)
    assert not any(name.startswith(("fer.engine", "fer.gradio_support", "fer.private_mode")) for name in names)


def test_recognizer_predicts_a_photo_with_tensorflow_unimportable(face_photo_path):
    (face,) = json.loads(run(WITHOUT_TENSORFLOW, str(face_photo_path)))
    assert face["box"] and abs(sum(face["emotions"].values()) - 1.0) < 1e-4
