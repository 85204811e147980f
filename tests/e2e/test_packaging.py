"""A plain wheel install carries the bundled models and the YuNet file, and Recognizer() works anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import EXAMPLES, REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: setuptools comes from the test environment, so no network is needed.
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, capture_output=True, cwd=out)
    (path,) = out.glob("*.whl")
    return path


def test_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("fer/assets/face_detection_yunet.onnx", "fer/assets/YUNET_LICENSE",
                     "fer/bundled_models/fer2013-cnn/model.keras", "fer/bundled_models/fer2013-cnn/config.json",
                     "fer/bundled_models/ferplus-cnn/model.keras", "fer/bundled_models/ferplus-cnn/config.json",
                     "fer/bundled_models/ferplus-cnn/model.onnx", "fer/bundled_models/ferplus-cnn/gradcam.onnx",
                     "fer/pipeline.py", "fer/video.py"):
        assert required in names
    assert not any(name.startswith(("tests/", "training/", "benchmarks/")) for name in names)


def test_installed_package_recognizes_faces_from_any_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    script = ("import fer, sys; from fer import Recognizer; r = Recognizer();"
              "faces = r.predict(sys.argv[1]);"
              "print(fer.__file__, r.detector_name, len(faces), faces[0].label)")
    env = {**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script, str(EXAMPLES / "grace_hopper.jpg")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    location, detector, count, label = result.stdout.split()[-4:]
    assert location.startswith(str(target)) and detector == "yunet" and count == "1" and label
