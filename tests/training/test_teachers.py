"""Distillation targets (training.teachers): teachers' probabilities in the student's label order, mixed with the
labels, computed once per run and reused on resume; training with --teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_model_folder
from fer.errors import FerError
from fer.model.sources import load_model
from fer.labels import FER2013_LABELS, FERPLUS_LABELS
from test_training import train_args
from training.teachers import (TARGETS_FILE, TARGETS_RECORD, cached_teacher_targets, label_columns, mix_targets,
                               teacher_probabilities)


def test_a_ferplus_teacher_maps_onto_fer2013_labels_and_not_the_other_way():
    columns = label_columns(FERPLUS_LABELS, FER2013_LABELS, "ferplus")
    assert [FERPLUS_LABELS[c] for c in columns] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise",
                                                    "neutral"]
    with pytest.raises(FerError, match="no class for the student's contempt"):
        label_columns(FER2013_LABELS, FERPLUS_LABELS, "fer2013")


def test_mixing_weights_labels_and_teachers():
    labels = np.eye(3, dtype=np.float32)[[0, 1]]
    teacher = np.array([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0]], np.float32)
    mixed = mix_targets(labels, teacher, 0.25)
    np.testing.assert_allclose(mixed, [[0.8, 0.2, 0.0], [0.125, 0.875, 0.0]], atol=1e-6)
    np.testing.assert_allclose(mix_targets(labels, teacher, 0.0), labels)
    with pytest.raises(ValueError):
        mix_targets(labels, teacher, 1.5)
    with pytest.raises(ValueError):
        mix_targets(labels, teacher[:, :2], 0.5)


@pytest.fixture(scope="module")
def faces():
    return np.random.default_rng(0).integers(0, 256, (12, 48, 48), dtype=np.uint8)


def test_teachers_are_averaged_in_the_students_order(tiny_model_dir, tmp_path, faces):
    ferplus = make_model_folder(tmp_path / "ferplus", labels=FERPLUS_LABELS, seed=1)
    single = teacher_probabilities([str(tiny_model_dir)], faces, FER2013_LABELS)
    model = load_model(tiny_model_dir)
    np.testing.assert_allclose(single, model.predict_in_batches(model.preprocess(faces)), atol=1e-6)

    both = teacher_probabilities([str(tiny_model_dir), str(ferplus)], faces, FER2013_LABELS)
    other = load_model(ferplus)
    mapped = other.predict_in_batches(other.preprocess(faces))[:, label_columns(FERPLUS_LABELS, FER2013_LABELS, "")]
    mapped /= mapped.sum(axis=1, keepdims=True)  # contempt dropped
    np.testing.assert_allclose(both, (single + mapped) / 2, atol=1e-6)
    np.testing.assert_allclose(both.sum(axis=1), 1.0, atol=1e-5)


def test_targets_are_kept_for_the_run_and_checked_on_reuse(tiny_model_dir, tmp_path, faces):
    first = cached_teacher_targets(tmp_path, [str(tiny_model_dir)], faces, FER2013_LABELS)
    assert (tmp_path / TARGETS_FILE).is_file()
    np.save(tmp_path / TARGETS_FILE, first * 0 + 1 / 7)  # what is kept is read back, not recomputed
    np.testing.assert_allclose(cached_teacher_targets(tmp_path, [str(tiny_model_dir)], faces, FER2013_LABELS), 1 / 7)
    with pytest.raises(FerError, match="other teachers or data"):
        cached_teacher_targets(tmp_path, [str(tiny_model_dir), "another"], faces, FER2013_LABELS)


def test_training_with_a_teacher(tiny_csv, tiny_model_dir, tmp_path, capsys):
    from training.train import main

    args = train_args(tiny_csv, tmp_path, "--epochs", "1", "--teacher", str(tiny_model_dir), "--teacher-weight", "0.7")
    assert main(args) == 0
    assert "teachers " in capsys.readouterr().out
    record = json.loads((tmp_path / "run" / TARGETS_RECORD).read_text())
    assert record == {"teachers": [str(tiny_model_dir)], "faces": 70, "labels": list(FER2013_LABELS)}
    config = load_model(tmp_path / "model").config
    assert config.training["teacher"] == [str(tiny_model_dir)] and config.training["teacher_weight"] == 0.7
    with pytest.raises(SystemExit):
        main(train_args(tiny_csv, tmp_path / "bad", "--teacher", str(tiny_model_dir), "--teacher-weight", "2"))


def test_an_online_teacher_scores_network_inputs_on_either_runtime(tmp_path):
    from training.teachers import OnlineTeacher

    folder = make_model_folder(tmp_path / "ferplus", labels=FERPLUS_LABELS, seed=2, input_size=40, onnx=True)
    inputs = np.random.default_rng(1).uniform(0, 255, (5, 40, 40, 1)).astype(np.float32)
    online = OnlineTeacher([str(folder)], FER2013_LABELS, (40, 40, 1))
    assert online.teachers[0][0].runtime == "onnx"
    keras_model = load_model(folder, runtime="keras")
    logits = np.asarray(keras_model.model(inputs, training=False), np.float64)
    expected = np.exp(logits / keras_model.config.temperature)[:, label_columns(FERPLUS_LABELS, FER2013_LABELS, "")]
    expected /= expected.sum(axis=1, keepdims=True)  # contempt dropped, the rest renormalized
    np.testing.assert_allclose(online(inputs), expected, atol=1e-4)
    with pytest.raises(FerError, match="student's input"):
        OnlineTeacher([str(folder)], FER2013_LABELS, (48, 48, 1))
    keras_only = make_model_folder(tmp_path / "keras-only", labels=FERPLUS_LABELS, seed=2, input_size=40)
    on_keras = OnlineTeacher([str(keras_only)], FER2013_LABELS, (40, 40, 1))
    assert not hasattr(on_keras.teachers[0][0], "network_logits")  # the Keras model itself
    np.testing.assert_allclose(on_keras(inputs), expected, atol=1e-4)  # the same weights (seed 2), the same answer
    mirrored = np.asarray(keras_model.model(inputs[:, :, ::-1, :], training=False), np.float64)
    flip_logits = (logits + mirrored) / 2  # flip TTA: the mean of the two views' logits, then the temperature
    expected_flip = np.exp(flip_logits / keras_model.config.temperature)[:, label_columns(FERPLUS_LABELS, FER2013_LABELS, "")]
    expected_flip /= expected_flip.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(OnlineTeacher([str(folder)], FER2013_LABELS, (40, 40, 1), tta="flip")(inputs),
                               expected_flip, atol=1e-4)
    assert np.abs(expected_flip - expected).max() > 1e-3  # the mirror view changes the answer, so the check can fail
    with pytest.raises(ValueError, match="tta"):
        OnlineTeacher([str(folder)], FER2013_LABELS, (40, 40, 1), tta="ten_crop")


def test_batches_take_the_online_teachers_view_of_what_the_student_sees():
    from training.pipeline import Augmentation, make_dataset

    images = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1), dtype=np.uint8)
    labels = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    seen = []

    def teacher(batch):  # a stand-in that records its inputs and votes by mean brightness
        seen.append(batch.copy())
        return np.where(batch.mean(axis=(1, 2, 3))[:, None] > 127, [[0, 0, 1]], [[1, 0, 0]]).astype(np.float32)

    batches = make_dataset(images, labels, 4, True, Augmentation(erasing=1.0), output_size=(40, 40),
                           mix="cutmix", mix_alpha=1.0, teacher=teacher, teacher_weight=0.6)
    inputs, targets = batches[0]
    np.testing.assert_array_equal(seen[-1], inputs)  # the augmented, mixed batch itself
    assert inputs.shape == (4, 40, 40, 1)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(targets >= 0.6 * teacher(inputs) - 1e-6)
    plain = make_dataset(images, labels, 4, False, teacher=teacher, teacher_weight=0.6)
    np.testing.assert_array_equal(plain[0][1], labels[:4])  # validation batches keep their labels


def test_training_with_an_online_teacher(tiny_csv, tmp_path, capsys):
    from training.train import main

    teacher = make_model_folder(tmp_path / "teacher", labels=FER2013_LABELS, seed=3, onnx=True)
    args = train_args(tiny_csv, tmp_path, "--epochs", "1", "--teacher", str(teacher), "--teacher-mode", "online",
                      "--teacher-tta", "flip")
    assert main(args) == 0
    assert "online (tta flip): weight 0.5" in capsys.readouterr().out
    assert not (tmp_path / "run" / TARGETS_FILE).exists()
    training = load_model(tmp_path / "model").config.training
    assert training["teacher_mode"] == "online" and training["teacher_tta"] == "flip"
    with pytest.raises(SystemExit):  # fixed targets already carry each teacher's own TTA
        main(train_args(tiny_csv, tmp_path / "fixed", "--teacher", str(teacher), "--teacher-tta", "flip"))
