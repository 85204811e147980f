"""Model folders: round trip, safe loading, and clear errors for missing or mismatched files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_model_folder

from fer.model.config import ModelConfig
from fer.errors import ModelSourceError
from fer.model.sources import load_model
from fer.labels import FERPLUS_LABELS
from fer.runtime.keras import load_model_folder


def test_round_trip_keeps_weights_and_config(tmp_path):
    folder = make_model_folder(tmp_path / "m", labels=FERPLUS_LABELS, seed=3)
    model, config = load_model_folder(folder)
    assert config.labels == list(FERPLUS_LABELS) and config.input_shape == [48, 48, 1]
    assert config.metrics["split"] == "PublicTest"
    batch = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1)).astype(np.float32)
    again, _ = load_model_folder(folder)
    np.testing.assert_allclose(model(batch), again(batch), rtol=1e-6)
    loaded = load_model(folder)
    probabilities = loaded.predict_proba(batch.astype(np.uint8))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_missing_files_and_mismatches_are_clear(tmp_path):
    with pytest.raises(ModelSourceError, match="model folder not found"):
        load_model_folder(tmp_path / "absent")
    folder = make_model_folder(tmp_path / "m")
    (folder / "config.json").unlink()
    with pytest.raises(ModelSourceError, match="config.json does not exist"):
        load_model_folder(folder)
    folder = make_model_folder(tmp_path / "m2")
    config = json.loads((folder / "config.json").read_text())
    original_labels = config["labels"]
    config["labels"] = list(FERPLUS_LABELS)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSourceError, match="config.json lists 8 labels but the model outputs 7 values"):
        load_model_folder(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelSourceError, match="not valid JSON"):
        load_model_folder(folder)
    config["labels"] = original_labels
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.keras").write_bytes(b"garbage")
    with pytest.raises(ModelSourceError, match="not a Keras .keras archive"):
        load_model_folder(folder)


def test_config_validation():
    with pytest.raises(ModelSourceError, match="input_shape"):
        ModelConfig("cnn", ["a", "b"], [48, 48, 2], "x")
    with pytest.raises(ModelSourceError, match="unique"):
        ModelConfig("cnn", ["a", "a"], [48, 48, 1], "x")
    with pytest.raises(ModelSourceError, match="missing required keys: last_conv_layer"):
        ModelConfig.from_dict({"architecture": "cnn", "labels": ["a", "b"], "input_shape": [48, 48, 1]})
    with pytest.raises(ModelSourceError, match="format_version 99"):
        ModelConfig.from_dict({"architecture": "cnn", "labels": ["a", "b"], "input_shape": [48, 48, 1],
                               "last_conv_layer": "x", "format_version": 99})


def test_saved_folder_leaves_the_optimizer_state_out(tmp_path):
    """Keras 3 would store momentum buffers as large as the weights; shipped folders must stay small."""
    import keras

    folder = make_model_folder(tmp_path / "plain")
    model, config = load_model_folder(folder)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.fit(np.zeros((2, 48, 48, 1)), np.zeros((2, 7)), verbose=0)
    from fer.runtime.keras import save_model_folder

    save_model_folder(model, config, tmp_path / "trained")
    plain_size = (folder / "model.keras").stat().st_size
    trained_size = (tmp_path / "trained" / "model.keras").stat().st_size
    assert trained_size < plain_size * 1.2
    reloaded, _ = load_model_folder(tmp_path / "trained")
    batch = np.random.default_rng(1).integers(0, 256, (2, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(reloaded(batch), model(batch, training=False), rtol=1e-5, atol=1e-6)
