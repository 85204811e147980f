"""training.compare_runs: several runs' curves on one picture and a table that tells climbing from flat."""

from __future__ import annotations

import json

import pytest

from fer.errors import FerError
from training.compare_runs import load_run, main


def write_run(run_dir, val, ema=None, train=None, seconds=600.0):
    run_dir.mkdir(parents=True)
    history = {"val_accuracy": val, "accuracy": train or [v - 0.05 for v in val]}
    if ema is not None:
        history["val_ema_accuracy"] = ema
    (run_dir / "state.json").write_text(json.dumps({"history": history, "train_seconds": seconds}))
    return run_dir


def test_each_epoch_counts_the_better_of_the_raw_and_averaged_weights(tmp_path):
    run = load_run(write_run(tmp_path / "a", val=[0.5, 0.62, 0.6, 0.61], ema=[0.4, 0.6, 0.63, 0.6]))
    assert run.val_accuracy == [0.5, 0.62, 0.63, 0.61]
    assert run.best == (0.63, 3)
    assert run.train_minutes == pytest.approx(10.0)


def test_late_gain_tells_a_climbing_run_from_a_flat_one(tmp_path):
    climbing = load_run(write_run(tmp_path / "climbing", val=[0.5, 0.55, 0.6, 0.65]))
    flat = load_run(write_run(tmp_path / "flat", val=[0.5, 0.65, 0.65, 0.64]))
    assert climbing.late_gain() == pytest.approx(0.05)
    assert flat.late_gain() == pytest.approx(0.0)


def test_the_cli_writes_the_picture_and_the_table(tmp_path, capsys):
    first = write_run(tmp_path / "first", val=[0.5, 0.6, 0.66])
    second = write_run(tmp_path / "second", val=[0.52, 0.61], ema=[0.53, 0.64])
    out = tmp_path / "curves.png"
    assert main([str(first), str(second), "--out", str(out), "--target", "0.7"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert "| first | 3 | 10 | 0.6600 (3) |" in table
    assert "| second | 2 | 10 | 0.6400 (2) |" in table


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FerError, match="no state.json"):
        load_run(tmp_path / "empty")
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    write_run(tmp_path / "fresh", val=[])
    with pytest.raises(FerError, match="no finished epoch"):
        load_run(tmp_path / "fresh")
