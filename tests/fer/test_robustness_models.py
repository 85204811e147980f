"""Hostile model sources: missing or inconsistent folders, unsafe .keras files and malformed hf:// ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fer.model import sources as hub
from fer.model.config import ModelConfig
from fer.errors import ModelSourceError
from fer.model.sources import load_model, parse_hf_source, resolve_source
from fer.runtime.keras import load_model_folder


@pytest.fixture
def model_copy(tmp_path, tiny_model_dir) -> Path:
    """A private copy of the tiny model folder that a test may damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_missing_folder_is_refused_with_the_accepted_forms(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelSourceError) as raised:
        load_model(missing)
    message = str(raised.value)
    assert message.startswith(f"unknown model source {str(missing)!r}; accepted forms:")
    assert "hf://owner/repo@revision" in message and "local model folder" in message
    with pytest.raises(ModelSourceError, match=r"no-such-model: model folder not found"):
        load_model_folder(missing)


def test_unknown_bundled_name_is_refused():
    with pytest.raises(ModelSourceError, match=r"unknown model source 'no-such-bundled-model'; accepted forms"):
        resolve_source("no-such-bundled-model")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda folder: (folder / "model.keras").unlink(), "no model.keras in the model folder"),
        (lambda folder: (folder / "config.json").unlink(), "config.json does not exist"),
        (lambda folder: (folder / "config.json").write_text("{not json"), "config.json is not valid JSON"),
        (lambda folder: (folder / "config.json").write_text("[1, 2]"), "config.json must hold a JSON object"),
        (lambda folder: (folder / "model.keras").write_text("not a zip"), "model.keras: not a Keras .keras archive"),
    ],
    ids=["no-model", "no-config", "bad-json", "json-list", "not-zip"],
)
def test_damaged_folder_is_refused(model_copy, damage, message):
    damage(model_copy)
    with pytest.raises(ModelSourceError, match=message):
        load_model(model_copy)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"labels": ["a", "b", "c", "d", "e", "f", "g", "h"]}, "config.json lists 8 labels but the model outputs 7 values"),
        ({"labels": ["happy", "sad"]}, "config.json lists 2 labels but the model outputs 7 values"),
        ({"input_shape": [64, 64, 1]}, "config.json input_shape [64, 64, 1] but the model takes [48, 48, 1]"),
        ({"input_shape": [48, 48, 3]}, "config.json input_shape [48, 48, 3] but the model takes [48, 48, 1]"),
        ({"last_conv_layer": "conv_that_is_not_there"}, "last_conv_layer 'conv_that_is_not_there' is not a layer"),
        ({"input_shape": [48, 48, 2]}, "config input_shape must be [height, width, 1 or 3], got [48, 48, 2]"),
        ({"labels": ["happy", "happy"]}, "config labels must be unique"),
        ({"temperature": 0}, "config temperature must be > 0, got 0"),
        ({"output": "probabilities"}, "config output must be 'logits', got 'probabilities'"),
        ({"format_version": 99}, "config.json has format_version 99; this fer supports up to 1"),
    ],
    ids=["more-labels", "fewer-labels", "input-size", "input-channels", "last-conv", "bad-channels",
         "duplicate-labels", "temperature", "output", "future-version"],
)
def test_config_that_disagrees_with_the_model_is_refused(model_copy, changes, message):
    edit_config(model_copy, **changes)
    with pytest.raises(ModelSourceError) as raised:
        load_model(model_copy)
    assert message in str(raised.value)


def test_config_missing_required_keys_lists_them(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    del config["labels"], config["last_conv_layer"]
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSourceError, match="config.json is missing required keys: labels, last_conv_layer"):
        load_model(model_copy)


def test_keras_file_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path, tiny_model_dir):
    import keras
    from keras import layers

    marker = tmp_path / "code-ran"
    marker_name = str(marker)
    inputs = keras.Input((48, 48, 1), name="pixels")
    # A lambda with a side effect: if safe_mode let it through, loading would recreate the marker file.
    x = layers.Lambda(lambda t: (open(marker_name, "a").close(), t * 2.0)[1], name="double")(inputs)
    x = layers.Conv2D(4, 3, name="conv")(x)
    outputs = layers.Dense(7, name="logits")(layers.Flatten()(x))
    folder = tmp_path / "lambda-model"
    folder.mkdir()
    keras.Model(inputs, outputs).save(folder / "model.keras")
    config = ModelConfig.load(tiny_model_dir / "config.json")
    config.last_conv_layer = "conv"
    config.save(folder / "config.json")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelSourceError) as raised:
        load_model(folder)
    message = str(raised.value)
    assert message.startswith(f"{folder / 'model.keras'}: cannot load model (ValueError: ")
    assert "`Lambda` layer" in message and "arbitrary code execution" in message
    assert not marker.exists()


# hf:// ids, table-driven: what parse_hf_source() accepts and what it refuses. ---------------------------

ACCEPTED = [
    ("hf://owner/repo", ("owner/repo", None)),
    ("hf://a/b", ("a/b", None)),
    ("hf://Owner-Name/repo_name.v2", ("Owner-Name/repo_name.v2", None)),
    ("hf://owner/repo@main", ("owner/repo", "main")),
    ("hf://owner/repo@v1.0", ("owner/repo", "v1.0")),
    ("hf://owner/repo@refs/pr/1", ("owner/repo", "refs/pr/1")),
    ("hf://owner/repo@" + "0123456789abcdef" * 2 + "01234567", ("owner/repo", "0123456789abcdef" * 2 + "01234567")),
    ("hf://o/" + "r" * 96, ("o/" + "r" * 96, None)),
]
REJECTED = [
    "hf://",
    "hf://owner",
    "hf://owner/",
    "hf:///repo",
    "hf://owner/repo/extra",
    "hf://owner/repo@",
    "hf://owner/repo@main@dev",
    "hf://owner/re po",
    "hf://owner/repo@my branch",
    "hf://-owner/repo",
    "hf://owner/repo-",
    "hf://owner/.repo",
    "hf://owner/re..po",
    "hf://owner/re--po",
    "hf://own€r/repo",
    "hf://o/" + "r" * 97,
    "hf://owner/repo@../../etc",
    "hf://owner/repo\n",
    "hf://owner/repo@main\n",
    "hf://owner/repo?revision=main",
    "hf://owner/repo#main",
]


@pytest.mark.parametrize("source, expected", ACCEPTED, ids=[source for source, _ in ACCEPTED])
def test_hf_source_accepted(source, expected, monkeypatch):
    assert parse_hf_source(source) == expected
    # resolve_source hands exactly that repo and revision to the download (stubbed: no network here).
    calls = []
    monkeypatch.setattr(hub, "download_from_hub", lambda repo, revision: calls.append((repo, revision)) or Path("x"))
    assert resolve_source(f"  {source} ") == Path("x")
    assert calls == [expected]


@pytest.mark.parametrize("source", REJECTED, ids=[repr(source) for source in REJECTED])
def test_hf_source_rejected(source, monkeypatch):
    monkeypatch.setattr(hub, "download_from_hub", lambda *args: pytest.fail(f"{source!r} reached the download"))
    with pytest.raises(ModelSourceError) as raised:
        parse_hf_source(source)
    assert str(raised.value) == (f"malformed Hugging Face source {source!r}: "
                                 "expected hf://owner/repo or hf://owner/repo@revision")


@pytest.mark.parametrize("source", ["hf:/owner/repo", "HF://owner/repo", "huggingface://owner/repo", "owner/repo"])
def test_near_miss_prefixes_are_unknown_sources_not_downloads(source, monkeypatch):
    monkeypatch.setattr(hub, "download_from_hub", lambda *args: pytest.fail(f"{source!r} reached the download"))
    with pytest.raises(ModelSourceError, match=f"unknown model source {source!r}; accepted forms"):
        resolve_source(source)
