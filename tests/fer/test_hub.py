"""Model sources: which strings are accepted, and loading from a pre-built Hugging Face cache offline."""

from __future__ import annotations

import shutil

import pytest
from conftest import make_model_folder

from fer.errors import ModelSourceError
from fer.model.sources import load_model, parse_hf_source, resolve_source

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("source, expected", [
    ("hf://owner/repo", ("owner/repo", None)),
    ("hf://owner/repo@main", ("owner/repo", "main")),
    (f"hf://some-org/fer.model_v2@{SHA}", ("some-org/fer.model_v2", SHA)),
    ("hf://o/r@v1.0", ("o/r", "v1.0")),
])
def test_accepted_hf_sources(source, expected):
    assert parse_hf_source(source) == expected


@pytest.mark.parametrize("source", [
    "hf://", "hf://owner", "hf://owner/", "hf:///repo", "hf://owner/repo/extra", "hf://own er/repo",
    "hf://owner/repo@", "hf://-owner/repo", "hf://owner/repo-", "hf://owner/re..po", "hf://owner/re--po",
    "hf://owner/repo@bad rev", "hf://" + "a" * 97 + "/repo",
])
def test_rejected_hf_sources(source):
    with pytest.raises(ModelSourceError, match="malformed Hugging Face source"):
        resolve_source(source)


@pytest.mark.parametrize("source", ["", "not-a-folder", "s3://bucket/model", "/no/such/dir"])
def test_unknown_sources_list_the_accepted_forms(source):
    with pytest.raises(ModelSourceError) as error:
        resolve_source(source)
    message = str(error.value)
    assert "accepted forms" in message and "hf://owner/repo@revision" in message and "local model folder" in message


@pytest.fixture
def offline_hub_cache(tmp_path, monkeypatch):
    """A Hugging Face cache holding owner/fer-tiny at commit SHA (with refs/main), and the hub set offline."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    repo = cache / "models--owner--fer-tiny"
    snapshot = repo / "snapshots" / SHA
    make_model_folder(tmp_path / "built")
    snapshot.mkdir(parents=True)
    for name in ("model.keras", "config.json"):
        shutil.copy(tmp_path / "built" / name, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)
    # huggingface_hub reads its environment at import time, so patch the constants it consults.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_load_pinned_revision_from_offline_cache(offline_hub_cache):
    model = load_model(f"hf://owner/fer-tiny@{SHA}")
    assert model.config.num_classes == 7
    assert str(resolve_source(f"hf://owner/fer-tiny@{SHA}")).endswith(SHA)
    # Without a revision the cached refs/main is used.
    assert str(resolve_source("hf://owner/fer-tiny")).endswith(SHA)


def test_offline_cache_misses_are_clear(offline_hub_cache):
    with pytest.raises(ModelSourceError, match="not in the local Hugging Face cache"):
        load_model("hf://owner/fer-tiny@" + "f" * 40)
    with pytest.raises(ModelSourceError, match="not in the local Hugging Face cache"):
        load_model("hf://owner/other-repo")


def test_local_folder_source(tiny_model_dir):
    assert load_model(tiny_model_dir).config.labels[3] == "happy"
