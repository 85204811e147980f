"""The light path: `import fer` + Recognizer and the batch CLI run an ONNX export without TensorFlow or Keras."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from conftest import EXAMPLES, REPO_ROOT

from fer.pipeline import Recognizer
from training import export

HEAVY = ("tensorflow", "keras", "tf_keras_vis")
# Run in a fresh interpreter: the test process itself has TensorFlow loaded.
SCRIPT = """
import json, sys
import fer
recognizer = fer.Recognizer(model=sys.argv[1])
faces = [face.to_dict() for face in recognizer.predict(sys.argv[2])]
from fer.__main__ import main
code = main(["predict", sys.argv[3], "--model", sys.argv[1], "--csv", sys.argv[4], "--quiet"])
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
print(json.dumps({{"faces": faces, "code": code, "heavy": heavy, "model": type(recognizer.model).__name__}}))
""".format(heavy=set(HEAVY))


@pytest.fixture(scope="module")
def onnx_folder(tiny_model, tmp_path_factory):
    return export.export_model(tiny_model, tmp_path_factory.mktemp("light") / "tiny-onnx", "onnx", modes=["flip"])


def test_recognizer_and_batch_csv_run_an_export_without_tensorflow(onnx_folder, tiny_model, face_photo_path,
                                                                   tmp_path):
    table = tmp_path / "faces.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(onnx_folder), str(face_photo_path), str(EXAMPLES),
                           str(table)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["model"] == "ExportedModel" and result["code"] == 0
    # The same faces and, within the export tolerance, the same probabilities as the Keras model.
    expected = Recognizer(tiny_model).predict(face_photo_path)
    assert [face["box"] for face in result["faces"]] == [face.box.to_list() for face in expected]
    for got, want in zip(result["faces"], expected):
        np.testing.assert_allclose([got["emotions"][label] for label in tiny_model.labels],
                                   [want.probabilities[label] for label in tiny_model.labels], atol=export.TOLERANCE)
    rows = list(csv.DictReader(table.open()))
    assert {row["file"].rsplit("/", 1)[-1] for row in rows} == {"astronaut.jpg", "grace_hopper.jpg"}
    assert all(row["top_label"] in tiny_model.labels for row in rows)


def test_recognizer_takes_a_loaded_export_and_the_webcam_tta(onnx_folder, tiny_model, face_photo_path):
    from fer.model.sources import load_model

    exported = load_model(onnx_folder)
    stream = Recognizer(exported, tta="flip", max_side=320)  # what app.py's webcam path asks for
    analysis = stream.analyze(face_photo_path)
    expected = Recognizer(tiny_model, tta="flip", max_side=320).analyze(face_photo_path)
    np.testing.assert_array_equal(analysis.inputs, expected.inputs)  # one preprocessing function
    np.testing.assert_allclose(analysis.probabilities, expected.probabilities, atol=export.TOLERANCE)


def test_the_onnx_extra_installs_no_tensorflow():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    light = project["dependencies"] + project["optional-dependencies"]["onnx"]
    assert any(requirement.startswith("onnxruntime") for requirement in light)
    assert not any(requirement.startswith(HEAVY + ("tensorflow-cpu",)) for requirement in light)
    keras_extra = project["optional-dependencies"]["keras"]
    assert any(r.startswith("tensorflow") for r in keras_extra) and any(r.startswith("keras") for r in keras_extra)
    for extra in ("app", "explain", "train", "export"):  # everything that needs Keras pulls it in
        assert "fer-explain[keras]" in project["optional-dependencies"][extra]


DEFAULT_SCRIPT = """
import json, sys
import fer
recognizer = fer.Recognizer()
faces = [face.to_dict() for face in recognizer.predict(sys.argv[1])]
from fer.__main__ import main
code = main(["predict", sys.argv[1], "--quiet"])
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})
print(json.dumps({{"faces": faces, "code": code, "heavy": heavy, "model": type(recognizer.model).__name__}}))
""".format(heavy=set(HEAVY))


def test_the_default_recognizer_and_cli_import_no_tensorflow(face_photo_path, tmp_path):
    """Recognizer() with its defaults (the bundled model's checked model.onnx on ONNX Runtime) never loads
    TensorFlow or Keras, and gives the Keras model's probabilities."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", DEFAULT_SCRIPT, str(face_photo_path)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["model"] == "OnnxModel" and result["code"] == 0
    from fer.model.sources import load_model

    expected = Recognizer(load_model("ferplus-cnn", runtime="keras")).predict(face_photo_path)
    assert len(result["faces"]) == len(expected) == 1
    np.testing.assert_allclose(list(result["faces"][0]["emotions"].values()),
                               list(expected[0].probabilities.values()), atol=export.TOLERANCE)
