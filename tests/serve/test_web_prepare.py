"""web.prepare without a browser: the page gets each model folder's own checked files, the webcam's model first."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from web.prepare import PrepareError, copy_model, default_sources, model_files

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO_ROOT / "models" / "ferplus-cnn" / "config.json"


def folder_with(tmp_path: Path, files: dict[str, bytes], onnx: dict | None) -> Path:
    """A model folder: the shipped config.json with `onnx` as its runtimes.onnx record (None: no record), and
    `files` beside it."""
    folder = tmp_path / "model"
    folder.mkdir()
    config = json.loads(SHIPPED_CONFIG.read_text())
    config["runtimes"] = {} if onnx is None else {"onnx": onnx}
    (folder / "config.json").write_text(json.dumps(config))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_page_gets_config_json_and_every_recorded_onnx_file(tmp_path):
    net, int8 = b"float32 network", b"int8 network"
    record = {"file": "model.onnx", "sha256": sha(net), "int8": {"file": "model.int8.onnx", "sha256": sha(int8)}}
    folder = folder_with(tmp_path, {"model.onnx": net, "model.int8.onnx": int8, "model.keras": b"keras"}, record)
    out = tmp_path / "site" / "models" / "model"
    out.mkdir(parents=True)
    (out / "export.json").write_text("{}")  # an older page's export: not kept
    (out / "model.flip.onnx").write_bytes(b"old graph")
    assert copy_model(str(folder), out) == out
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.int8.onnx", "model.onnx"]
    for name in ("config.json", "model.onnx", "model.int8.onnx"):
        assert (out / name).read_bytes() == (folder / name).read_bytes()


def test_an_int8_file_is_optional(tmp_path):
    net = b"float32 network"
    folder = folder_with(tmp_path, {"model.onnx": net}, {"file": "model.onnx", "sha256": sha(net)})
    assert model_files(folder) == ["config.json", "model.onnx"]


@pytest.mark.parametrize("case, files, record, message", [
    ("no record", {"model.onnx": b"net"}, None, "records no ONNX file"),
    ("stale export", {"model.onnx": b"net"}, {"file": "model.onnx", "sha256": sha(b"older net")}, "sha256"),
    ("missing file", {}, {"file": "model.onnx", "sha256": sha(b"net")}, "missing"),
    ("missing int8", {"model.onnx": b"net"},
     {"file": "model.onnx", "sha256": sha(b"net"), "int8": {"file": "model.int8.onnx", "sha256": sha(b"q")}},
     "missing"),
    ("damaged int8", {"model.onnx": b"net", "model.int8.onnx": b"q?"},
     {"file": "model.onnx", "sha256": sha(b"net"), "int8": {"file": "model.int8.onnx", "sha256": sha(b"q")}},
     "sha256"),
    ("outside the folder", {"model.onnx": b"net"}, {"file": "../model.onnx", "sha256": sha(b"net")}, "missing"),
])
def test_a_folder_without_its_checked_onnx_file_is_refused_with_the_fix(tmp_path, case, files, record, message):
    folder = folder_with(tmp_path, files, record)
    with pytest.raises(PrepareError, match=message) as error:
        copy_model(str(folder), tmp_path / "out")
    assert f"python -m training.finalize {folder} --onnx-only" in str(error.value), case
    assert not (tmp_path / "out").exists()  # nothing half-copied


def test_the_page_default_is_the_webcam_model(monkeypatch):
    from serve.engine import EngineCache
    from fer.model.sources import bundled_models

    monkeypatch.delenv("FER_STREAM_MODEL", raising=False)
    monkeypatch.delenv("FER_MODEL", raising=False)
    sources = default_sources()
    assert sources[0] == EngineCache().stream_source()
    assert sorted(sources) == sorted({sources[0], *bundled_models()}) and len(set(sources)) == len(sources)
    monkeypatch.setenv("FER_STREAM_MODEL", "fer2013-cnn")
    assert default_sources()[0] == "fer2013-cnn"


def test_the_shipped_models_can_be_prepared():
    """Every bundled model records its ONNX files and they match (else `make web` fails: finalize --onnx-only)."""
    from fer.model.sources import bundled_models, resolve_source

    for name in bundled_models():
        assert "model.onnx" in model_files(resolve_source(name)), name
