"""Training on random crops of the face frame, with random erasing and weight averaging: the folder
records crop_pct, is scored with every TTA mode (the best becomes the default), and serves the center crop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer.model.sources import load_model
from test_training import train_args
from training.finalize import choose_tta


def test_crop_training_writes_a_ten_crop_model_scored_every_way(tiny_csv, tmp_path):
    from training.train import main

    args = train_args(tiny_csv, tmp_path, "--epochs", "2", "--crop-size", "40", "--erasing", "0.5", "--ema", "0.9")
    assert main(args) == 0
    model = load_model(tmp_path / "model")
    config = model.config
    assert config.input_shape == [40, 40, 1] and config.face_input_shape == [48, 48, 1]
    assert config.crop_pct == pytest.approx(40 / 48)
    by_tta = config.metrics["accuracy_by_tta"]
    assert set(by_tta) == {"none", "flip", "ten_crop"}
    # The photo default is the most accurate mode on the selection split (the cheaper one on a tie).
    assert config.tta == config.metrics["tta"] == choose_tta(by_tta) and by_tta[config.tta] == max(by_tta.values())
    assert config.metrics["accuracy"] == pytest.approx(by_tta[config.tta])
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    # Each epoch scored the raw weights and their moving average; the better one was kept.
    assert len(state["history"]["val_ema_accuracy"]) == 2 and state["best_weights"] in ("raw", "ema")
    frames = model.preprocess([np.full((60, 60), 128, np.uint8)])
    assert frames.shape == (1, 48, 48, 1) and model.predict_proba(frames).shape == (1, 7)


def test_crop_size_must_fit_the_frame(tiny_csv, tmp_path):
    from training.train import main

    with pytest.raises(SystemExit):
        main(train_args(tiny_csv, tmp_path, "--crop-size", "50"))
    with pytest.raises(SystemExit):
        main(train_args(tiny_csv, tmp_path, "--ema", "1.5"))
