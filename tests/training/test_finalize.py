"""The last step of a run (training.finalize): the photo TTA chosen by measurement, the card's training record
and per-class table, and re-finalizing a finished run's folder from the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fer.model.sources import load_model
from test_training import train_args
from training.card import model_card
from training.explanations import choose_default
from training.finalize import choose_tta, main


def test_the_most_accurate_mode_wins_and_a_tie_goes_to_the_cheaper():
    assert choose_tta({"none": 0.60, "flip": 0.62, "ten_crop": 0.61}) == "flip"
    assert choose_tta({"none": 0.60, "flip": 0.60, "ten_crop": 0.60}) == "none"
    assert choose_tta({"ten_crop": 0.70, "flip": 0.70}) == "flip"
    assert choose_tta({"none": 0.5, "flip": 0.5, "ten_crop": 0.51}) == "ten_crop"
    with pytest.raises(ValueError):
        choose_tta({})


def method_figures(gain: float, ms: float, passed: bool = True) -> dict:
    return {"deletion_auc": 0.45 - gain / 2, "insertion_auc": 0.45 + gain / 2, "random_deletion_auc": 0.45,
            "random_insertion_auc": 0.45, "ms_per_face": ms, "sanity": {"passed": passed}}


def test_the_default_explanation_is_the_most_faithful_unless_a_close_one_is_lighter_to_serve():
    table = {"saliency": method_figures(0.028, 4.5), "gradcam": method_figures(0.026, 4.2),
             "scorecam": method_figures(0.3, 180, passed=False)}
    assert choose_default(table)[0] == "saliency"  # a failed sanity check rules out the most faithful
    chosen, why = choose_default(table, served_without_tensorflow={"gradcam"})
    assert chosen == "gradcam" and "without TensorFlow" in why and "scorecam fail" in why
    # Served without TensorFlow only breaks near-ties: 0.01 or more behind, the more faithful method stays.
    table["saliency"] = method_figures(0.04, 4.5)
    assert choose_default(table, served_without_tensorflow={"gradcam"})[0] == "saliency"
    # Without an ONNX path, a close method needs to be 5x faster to win.
    table["gradcam"] = method_figures(0.035, 0.9)
    assert choose_default(table)[0] == "gradcam"
    # A most faithful method served without TensorFlow stays, even beside a close one 5x faster on TensorFlow.
    table["saliency"] = method_figures(0.03, 0.1)
    assert choose_default(table)[0] == "saliency"
    assert choose_default(table, served_without_tensorflow={"gradcam"})[0] == "gradcam"


@pytest.fixture(scope="module")
def finished_run(tiny_csv, tmp_path_factory):
    from training.train import main as train

    workdir = tmp_path_factory.mktemp("finalize")
    assert train(train_args(tiny_csv, workdir, "--epochs", "1", "--crop-size", "40", "--ema", "0.9")) == 0
    return workdir


def test_the_card_records_where_and_how_fast_it_trained_and_every_class(finished_run):
    config = load_model(finished_run / "model").config
    assert config.training["trained_on"][0].endswith("on tensorflow") and "CPU cores" in config.training["trained_on"][0]
    assert config.training["images_per_second_median"] > 0
    card = (finished_run / "model" / "README.md").read_text()
    for mode in ("single view", "flip", "ten-crop"):
        assert f"| accuracy, {mode}" in card
    assert card.count("(the default for photos)") == 1
    assert "| class | recall | precision | F1 | support |" in card
    for label in config.labels:
        assert f"| {label} | " in card
    assert "Trained on: " in card and "training images/s" in card and "minutes of training" in card
    assert "![Learning curves](learning_curve.png)" in card and "![Confusion matrix](confusion_matrix.png)" in card
    # Without a folder there is nothing to link.
    assert "![" not in model_card(config)


def test_finalize_refreshes_a_finished_runs_folder(finished_run, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(finished_run / "model", folder)
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run / "run", run_dir)
    # A run from before the machine was recorded; the card must say what it is told, not guess.
    state = json.loads((run_dir / "state.json").read_text())
    del state["trained_on"]
    (run_dir / "state.json").write_text(json.dumps(state))
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["tta"], config["metrics"] = "ten_crop", {}
    config_path.write_text(json.dumps(config))
    (folder / "README.md").unlink()

    assert main([str(folder), "--run-dir", str(run_dir), "--trained-on", "2 CPU cores, no GPU (by hand)"]) == 0
    assert "accuracy by TTA:" in capsys.readouterr().out
    refreshed = load_model(folder).config
    by_tta = refreshed.metrics["accuracy_by_tta"]
    assert refreshed.tta == choose_tta(by_tta) and refreshed.metrics["accuracy"] == pytest.approx(by_tta[refreshed.tta])
    assert refreshed.training["trained_on"] == ["2 CPU cores, no GPU (by hand)"]
    card = (folder / "README.md").read_text()
    assert "Trained on: 2 CPU cores, no GPU (by hand)." in card
    # The explanation table: every method with its faithfulness against random and its sanity verdict; the
    # default method is one of them and the card says why; the checked model.onnx is recorded.
    table = refreshed.metrics["explanations"]
    assert set(table["methods"]) == {"saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam"}
    for row in table["methods"].values():
        assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["random_insertion_auc"] <= 1 and "passed" in row["sanity"]
    assert refreshed.explanation_method == table["default"] and f"Default explanation: {table['why']}" in card
    assert refreshed.runtimes["onnx"]["max_abs_difference"] <= 1e-4 and "| gradcam |" in card


def test_a_fixed_tta_is_kept_and_the_card_says_it_was_not_picked(finished_run, tmp_path, capsys):
    folder, run_dir = tmp_path / "model", tmp_path / "run"
    shutil.copytree(finished_run / "model", folder)
    shutil.copytree(finished_run / "run", run_dir)
    for mode in ("none", "ten_crop"):
        args = [str(folder), "--run-dir", str(run_dir), "--no-explanations", "--tta", mode]
        assert main(args) == 0
        assert f"-> {mode} (--tta)" in capsys.readouterr().out
        config = load_model(folder).config
        assert config.tta == mode and config.metrics["tta_fixed"] is True
        assert config.metrics["accuracy"] == pytest.approx(config.metrics["accuracy_by_tta"][mode])
        assert f"({mode}) was fixed beforehand" in config.metrics["note"]
    with pytest.raises(SystemExit):
        main([str(folder), "--tta", "twelve_crop"])


def test_finalize_without_the_runs_state_is_a_clear_error(finished_run, tmp_path, capsys):
    assert main([str(finished_run / "model"), "--run-dir", str(tmp_path)]) == 2
    assert "no state.json" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2


def test_logit_adjustment_is_baked_into_the_bias_and_can_be_changed_or_removed(finished_run, tmp_path, capsys):
    import keras

    from fer.model.architectures import LOGITS_NAME

    folder = tmp_path / "model"
    shutil.copytree(finished_run / "model", folder)
    run_dir = str(finished_run / "run")

    def bias():
        return keras.ops.convert_to_numpy(load_model(folder, runtime="keras").model.get_layer(LOGITS_NAME).bias)

    original = bias()
    assert main([str(folder), "--run-dir", run_dir, "--logit-adjustment", "0.5", "--no-explanations"]) == 0
    assert "logit adjustment (tau: accuracy / macro-F1): 0: " in capsys.readouterr().out
    config = load_model(folder).config
    prior = np.asarray(config.training["logit_adjustment"]["prior"])
    assert config.training["logit_adjustment"]["tau"] == 0.5 and prior.sum() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(bias(), original - 0.5 * np.log(prior), atol=1e-5)
    assert [row["tau"] for row in config.metrics["logit_adjustment_sweep"]][:2] == [0.0, 0.1]
    assert "Logit adjustment tau = 0.5" in (folder / "README.md").read_text()

    # Finalizing again replaces the adjustment instead of stacking it; 0 removes it.
    assert main([str(folder), "--run-dir", run_dir, "--logit-adjustment", "0.2", "--no-explanations"]) == 0
    np.testing.assert_allclose(bias(), original - 0.2 * np.log(prior), atol=1e-5)
    assert main([str(folder), "--run-dir", run_dir, "--no-explanations"]) == 0
    np.testing.assert_allclose(bias(), original, atol=1e-5)
    assert "logit_adjustment" not in load_model(folder).config.training
    assert main([str(folder), "--run-dir", run_dir, "--logit-adjustment", "5", "--no-explanations"]) == 2
