"""Training, resume, time budget, balancing, evaluation metrics and the publish card, on small generated data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer.model.sources import load_model
from fer.labels import FER2013_LABELS
from training import pipeline
from training.metrics import classification_metrics, expected_calibration_error, fit_temperature

TINY_OPTIONS = json.dumps({"filters": [8, 16], "dense_units": [16], "block_dropout": 0.0, "head_dropout": 0.0,
                           "grad_cam_block": 2})


def train_args(csv, tmp_path, *extra):
    return ["--data", str(csv), "--out", str(tmp_path / "model"), "--run-dir", str(tmp_path / "run"),
            "--model-options", TINY_OPTIONS, "--batch-size", "16", "--lr", "0.05", "--no-explanations", *extra]


def test_training_writes_a_loadable_model_folder_with_metrics_and_plots(tiny_csv, tmp_path):
    from training.train import main

    assert main(train_args(tiny_csv, tmp_path, "--epochs", "2")) == 0
    model = load_model(tmp_path / "model")
    config = model.config
    assert config.labels == list(FER2013_LABELS) and config.last_conv_layer == "block2_relu2"
    assert config.metrics["split"] == "PublicTest" and config.metrics["n"] == 28
    assert 0.0 <= config.metrics["accuracy"] <= 1.0 and config.metrics["complete"] is True
    assert config.temperature > 0 and "ece_before_temperature" in config.metrics
    assert config.training["epochs"] == 2 and config.training["epochs_completed"] == 2
    assert "training.train" in config.training["command"] and "--resume" not in config.training["command"]
    for name in ("learning_curve.png", "confusion_matrix.png", "README.md"):
        assert (tmp_path / "model" / name).stat().st_size > 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epochs_completed"] == 2 and len(state["history"]["val_accuracy"]) == 2


def test_time_budget_stops_saves_and_resume_continues(tiny_csv, tmp_path):
    from training.train import main

    # A budget far below one epoch: stop (and save) at the first epoch boundary.
    assert main(train_args(tiny_csv, tmp_path, "--epochs", "3", "--time-budget", "0.001")) == 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epochs_completed"] == 1
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["metrics"]["complete"] is False and "resume with --resume" in config["metrics"]["note"]
    import keras

    steps_after_first = int(keras.saving.load_model(tmp_path / "run" / "last.keras").optimizer.iterations)
    assert steps_after_first == 5  # 70 rows / batch 16

    # Starting again without --resume must not clobber the run.
    assert main(train_args(tiny_csv, tmp_path, "--epochs", "3")) == 2
    assert main(train_args(tiny_csv, tmp_path, "--epochs", "3", "--resume")) == 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epochs_completed"] == 3 and len(state["history"]["loss"]) == 3
    resumed = keras.saving.load_model(tmp_path / "run" / "last.keras")
    assert int(resumed.optimizer.iterations) == 15  # the optimizer and schedule continued, not restarted
    assert json.loads((tmp_path / "model" / "config.json").read_text())["metrics"]["complete"] is True


def test_resume_without_a_saved_run_is_a_clear_error(tiny_csv, tmp_path, capsys):
    from training.train import main

    assert main(train_args(tiny_csv, tmp_path, "--resume")) == 2
    assert "no saved run" in capsys.readouterr().err


@pytest.mark.parametrize("mode", pipeline.BALANCE_MODES)
def test_every_balancing_mode(mode):
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    indices = pipeline.balanced_indices(labels, mode, 3, seed=0)
    counts = np.bincount(labels[indices], minlength=3).tolist()
    expected = {"none": [6, 3, 1], "weights": [6, 3, 1], "oversample": [6, 6, 6], "undersample": [1, 1, 1]}
    assert counts == expected[mode]
    if mode == "weights":
        weights = pipeline.class_weights(labels, 3)
        np.testing.assert_allclose(weights, [10 / 18, 10 / 9, 10 / 3])
        assert weights[labels].mean() == pytest.approx(1.0)


def test_balanced_training_run(tiny_csv, tmp_path):
    from training.train import main

    assert main(train_args(tiny_csv, tmp_path, "--epochs", "1", "--balance", "oversample", "--no-augment")) == 0
    assert (tmp_path / "model" / "model.keras").is_file()
    with pytest.raises(ValueError, match="balance must be one of"):
        pipeline.balanced_indices(np.zeros(3, int), "smote", 2, 0)


def test_augmentation_keeps_shape_and_range():
    from training.augment import random_inputs

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    augmentation = pipeline.Augmentation(erasing=0.5)
    out = np.asarray(pipeline.augment_batch(images, augmentation, *random_inputs(rng, 8, augmentation, (48, 48, 1))))
    assert out.shape == (8, 48, 48, 1)
    assert out.min() >= 0.0 and out.max() <= 255.0
    assert not np.allclose(out, images)
    off = pipeline.Augmentation(flip=False, rotation_degrees=0, zoom=0, shift=0, crop_min=1.0)
    assert not off.enabled
    uniforms, _ = random_inputs(rng, 8, off, (48, 48, 1))
    np.testing.assert_allclose(pipeline.augment_batch(images, off, uniforms), images, atol=1e-3)


def test_windows_sample_like_crop_and_resize_with_flips():
    """The keras.ops crop keeps the semantics of the tf.image.crop_and_resize it replaced, frame edges included."""
    import tensorflow as tf

    from training.augment import _crop

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (16, 48, 48, 1)).astype(np.float32)
    scale = rng.uniform(0.7, 1.1, 16).astype(np.float32)  # some boxes reach past the frame
    center_y, center_x = (0.5 + rng.uniform(-0.1, 0.1, (2, 16))).astype(np.float32)
    flip = rng.random(16) < 0.5
    ours = np.asarray(_crop(images, center_y, center_x, scale, flip, (40, 40)))
    y1, y2, x1, x2 = center_y - scale / 2, center_y + scale / 2, center_x - scale / 2, center_x + scale / 2
    boxes = np.stack([y1, np.where(flip, x2, x1), y2, np.where(flip, x1, x2)], axis=1)
    reference = tf.image.crop_and_resize(images, boxes, tf.range(16), (40, 40), extrapolation_value=0.0).numpy()
    np.testing.assert_allclose(ours, reference, atol=0.01)


def test_face_batches_are_reproducible_and_reshuffled_each_epoch():
    images = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 48, 48, 1), np.uint8)
    targets, weights = np.eye(10, dtype=np.float32), np.linspace(0.1, 1, 10, dtype=np.float32)
    augmentation = pipeline.Augmentation(erasing=0.5)

    def batches(**kwargs):
        return pipeline.make_dataset(images, targets, 4, True, augmentation, weights, seed=3, **kwargs)

    first, again = batches(), batches()
    assert len(first) == 3 and len(batches(drop_remainder=True)) == 2
    x, y, w = first[0]
    assert x.dtype == np.float32 and x.shape == (4, 48, 48, 1) and y.shape == (4, 10)
    np.testing.assert_array_equal(w, weights[y.argmax(axis=1)])  # rows stay together
    np.testing.assert_array_equal(x, again[0][0])  # randomness comes from (seed, epoch, batch), not call order
    rows = np.concatenate([first[i][1].argmax(axis=1) for i in range(3)])
    assert sorted(rows.tolist()) == list(range(10))
    first.on_epoch_end()
    reshuffled = np.concatenate([first[i][1].argmax(axis=1) for i in range(3)])
    assert sorted(reshuffled.tolist()) == list(range(10)) and reshuffled.tolist() != rows.tolist()
    resumed = batches(epoch=1)  # a resumed run continues the sequence instead of repeating epoch 0
    np.testing.assert_array_equal(resumed[1][0], first[1][0])
    validation = pipeline.make_dataset(images, targets, 4, False, augmentation)
    np.testing.assert_array_equal(validation[0][0], images[:4].astype(np.float32))  # in order, not augmented
    with pytest.raises(ValueError, match="differ in length"):
        pipeline.make_dataset(images, targets[:5], 4, True)


def test_metrics_against_a_hand_computed_confusion_matrix():
    labels = ["a", "b", "c"]
    true = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.eye(3)[predicted] * 0.7 + 0.1
    metrics = classification_metrics(probabilities, true, labels)
    assert metrics["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert metrics["accuracy"] == pytest.approx(4 / 6) and metrics["n"] == 6
    a, b, c = metrics["per_class"]["a"], metrics["per_class"]["b"], metrics["per_class"]["c"]
    assert (a["precision"], a["recall"], a["support"]) == (1.0, pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"]) == (0.5, 0.5)
    assert (c["precision"], c["recall"], c["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert metrics["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert metrics["weighted_f1"] == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6)
    # Every prediction has confidence 0.8; accuracy is 4/6, so ECE = |4/6 - 0.8|.
    assert metrics["ece"] == pytest.approx(abs(4 / 6 - 0.8))
    assert metrics["labels"] == labels


def test_temperature_scaling_reduces_calibration_error():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 2000)
    logits = rng.normal(0, 1, (2000, 4))
    logits[np.arange(2000), true] += 1.0
    overconfident = logits * 4.0
    temperature = fit_temperature(overconfident, true)
    assert 3.0 < temperature < 5.0
    from fer.runtime.keras import softmax

    before = expected_calibration_error(softmax(overconfident), true)
    after = expected_calibration_error(softmax(overconfident / temperature), true)
    assert after < before / 2


def test_evaluate_cli_writes_every_field(tiny_csv, tiny_model_dir, tmp_path, capsys):
    from training.evaluate import main

    out = tmp_path / "metrics.json"
    assert main(["--model", str(tiny_model_dir), "--data", str(tiny_csv), "--split", "PublicTest",
                 "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    for key in ("accuracy", "n", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "labels", "ece"):
        assert key in metrics
    assert metrics["n"] == 28 and np.sum(metrics["confusion_matrix"]) == 28
    assert metrics["accuracy"] == pytest.approx(np.trace(metrics["confusion_matrix"]) / 28)
    assert metrics["tta"] == "flip"
    assert "macro-F1" in capsys.readouterr().out
    assert main(["--model", str(tiny_model_dir), "--data", str(tiny_csv), "--split", "PrivateTest"]) == 2
    assert "no usable rows in split(s) PrivateTest" in capsys.readouterr().err


def test_publish_writes_the_card_and_uploads_the_folder(tiny_model_dir, tmp_path):
    import shutil

    from conftest import make_model_folder
    from fer.errors import FerError
    from training.publish import PUBLISHED_FILES, publish

    # A folder without its checked model.onnx is refused before anything is uploaded.
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    with pytest.raises(FerError, match="no checked model.onnx"):
        publish(bare, "someone/fer-tiny", api=object())
    folder = make_model_folder(tmp_path / "model", onnx=True)

    class RecordingApi:
        def __init__(self):
            self.calls = []

        def create_repo(self, **kwargs):
            self.calls.append(("create_repo", kwargs))

        def upload_folder(self, **kwargs):
            self.calls.append(("upload_folder", kwargs))
            return type("Commit", (), {"oid": "abc123"})()

    api = RecordingApi()
    assert publish(folder, "someone/fer-tiny", api=api) == "abc123"
    (create, create_args), (upload, upload_args) = api.calls
    assert create == "create_repo" and create_args["repo_id"] == "someone/fer-tiny" and create_args["exist_ok"]
    assert upload == "upload_folder" and upload_args["folder_path"] == str(folder)
    assert upload_args["allow_patterns"] == PUBLISHED_FILES and "model.onnx" in PUBLISHED_FILES
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: keras\npipeline_tag: image-classification")
    assert "split: PublicTest" in card and "value: 0.5000" in card
    for label in FER2013_LABELS:
        assert label in card
    assert "Intended use and limitations" in card and "hf://someone/fer-tiny" in card
    from fer.errors import ModelSourceError

    with pytest.raises(ModelSourceError, match="malformed"):
        publish(folder, "not a repo", api=api)


def test_model_table_reads_every_model_folder(tmp_path, tiny_model_dir):
    import shutil

    from training.model_table import END, START, model_table, update_readme

    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny")
    table = model_table(tmp_path / "models")
    row = table.splitlines()[2]
    assert row.startswith("| [`tiny`](models/tiny/README.md) | synthetic test data, 7 classes | 50.00% (flip), PublicTest |")
    # The cost per face comes from the card's network figures; the logit adjustment is named.
    adjusted = tmp_path / "models" / "adjusted"
    shutil.copytree(tiny_model_dir, adjusted)
    config = json.loads((adjusted / "config.json").read_text())
    config["training"] = {"logit_adjustment": {"tau": 0.25, "prior": [1 / 7] * 7}}
    config["metrics"]["network"] = {"parameters": 450000, "multiply_adds_per_view": 34_000_000, "views": 2}
    config["metrics"]["speed"] = {"short": "3 ms/face"}
    (adjusted / "config.json").write_text(json.dumps(config))
    adjusted_row = next(line for line in model_table(tmp_path / "models").splitlines() if "`adjusted`" in line)
    assert "50.00% (flip, logit adj. 0.25)" in adjusted_row and "0.45M params, 34M MACs x 2" in adjusted_row
    assert adjusted_row.endswith("| 3 ms/face |")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START}\nold\n{END}\n\nrest\n")
    update_readme(readme, table)
    text = readme.read_text()
    assert "old" not in text and row in text and text.endswith("rest\n")


def test_a_flag_file_pauses_training_between_batches(tmp_path):
    import threading
    import time

    from training.train import PauseWhileFlagged

    flag = tmp_path / "PAUSE"
    pause = PauseWhileFlagged(flag, poll_seconds=0.01)
    pause.on_train_batch_end(0)  # no flag: returns at once
    assert pause.paused_seconds == 0.0
    flag.touch()
    waiter = threading.Thread(target=pause.on_train_batch_end, args=(1,))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()  # waiting while the flag exists
    flag.unlink()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and pause.paused_seconds >= 0.15


@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_mixing_blends_images_and_targets_in_the_same_proportion(mode):
    from training.pipeline import mix_batch

    rng = np.random.default_rng(0)
    images = np.stack([np.full((8, 8, 1), 10.0 * i, np.float32) for i in range(6)])
    targets = np.eye(6, dtype=np.float32)
    mixed, mixed_targets = mix_batch(images, targets, mode, 1.0, rng)
    assert mixed.shape == images.shape and mixed_targets.shape == targets.shape
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-6)
    for row in range(6):
        own = mixed_targets[row, row]
        partner = int(np.argmax(np.where(np.arange(6) == row, -1, mixed_targets[row])))
        other = 1.0 - own if own < 1 else 0.0
        # Each face's mean brightness is the targets' blend of its own and its partner's brightness.
        expected = own * 10.0 * row + other * 10.0 * (partner if other else row)
        assert mixed[row].mean() == pytest.approx(expected, abs=1e-3)


def test_mixing_is_reproducible_and_off_for_validation(tiny_csv):
    from training.pipeline import make_dataset

    images = np.random.default_rng(0).integers(0, 255, (32, 8, 8, 1)).astype(np.uint8)
    targets = np.eye(4, dtype=np.float32)[np.arange(32) % 4]
    first = make_dataset(images, targets, 16, True, seed=3, mix="cutmix", mix_alpha=0.5)[0]
    again = make_dataset(images, targets, 16, True, seed=3, mix="cutmix", mix_alpha=0.5)[0]
    np.testing.assert_array_equal(first[0], again[0])
    assert (first[1].max(axis=1) < 1).any()  # some targets are blends
    validation = make_dataset(images, targets, 16, False, mix="mixup", mix_alpha=0.5)[0]
    np.testing.assert_array_equal(validation[1], targets[:16])
    with pytest.raises(ValueError, match="positive alpha"):
        make_dataset(images, targets, 16, True, mix="mixup", mix_alpha=0.0)


def test_the_per_class_tables_group_models_by_dataset_and_refuse_a_folder_without_a_config(tmp_path, tiny_model_dir):
    import shutil

    from training.model_table import PER_CLASS_END, PER_CLASS_START, main, model_folders, per_class_tables

    def with_recall(folder, recall, **metrics):
        config = json.loads((folder / "config.json").read_text())
        config["metrics"].update(per_class={label: {"recall": recall.get(label, 0.5)} for label in config["labels"]},
                                 **metrics)
        (folder / "config.json").write_text(json.dumps(config))

    models = tmp_path / "models"
    shutil.copytree(tiny_model_dir, models / "tiny")
    shutil.copytree(tiny_model_dir, models / "no-recall")  # a card without per-class figures is left out
    with_recall(models / "tiny", {})
    other = tmp_path / "runs" / "resnet" / "model"  # a run's folder: named by its run
    shutil.copytree(tiny_model_dir, other)
    with_recall(other, {"happy": 0.875}, network={"parameters": 23_600_000, "multiply_adds_per_view": 1, "views": 1})
    text = per_class_tables(model_folders(models, [other]))
    header, rows = text.splitlines()[2], [line for line in text.splitlines() if line.startswith("| `")]
    labels = json.loads((other / "config.json").read_text())["labels"]
    assert header.startswith("| model | architecture | accuracy (TTA) | macro-F1 | " + " | ".join(labels))
    assert [row.split(" | ")[0] for row in rows] == ["| `tiny`", "| `resnet`"]  # one table: same data and labels
    assert "0.88" in rows[1].split(" | ")[4 + labels.index("happy")] and rows[1].endswith("| 23.60M | - |")
    with pytest.raises(ValueError, match="not model folders"):
        model_folders(models, [tmp_path])
    page = tmp_path / "models.md"
    page.write_text(f"x\n{PER_CLASS_START}\n{PER_CLASS_END}\n")
    with pytest.raises(SystemExit):
        main(["--folder", str(other)])  # --folder only with --per-class


def test_the_published_model_tables_are_what_the_shipped_folders_say():
    from training.model_table import END, PER_CLASS_END, PER_CLASS_START, START, compared_folders, model_table, per_class_tables

    root = Path(__file__).resolve().parents[2]
    readme, models_page = (root / "README.md").read_text(), (root / "docs" / "models.md").read_text()
    assert f"{START}\n{model_table()}\n{END}" in readme, "run python -m training.model_table --update README.md"
    assert f"{PER_CLASS_START}\n{per_class_tables(compared_folders())}\n{PER_CLASS_END}" in models_page, \
        "run python -m training.model_table --per-class --update docs/models.md"
