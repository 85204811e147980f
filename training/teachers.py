"""Soft training targets from teacher models (distillation), in the student's label order and averaged over
teachers. Two ways: "fixed" targets are each teacher's calibrated probabilities on the training faces (its own
preprocessing and test-time augmentation), computed once and kept in the run directory so a resumed run trains on
the same targets; an "online" teacher scores every augmented and mixed training batch as the student sees it
(consistent teaching: Beyer et al. 2022, "Knowledge distillation: a good teacher is patient and consistent"), so
the targets follow the crops, erasing and CutMix instead of describing the clean face."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from fer.errors import FerError
from fer.labels import fer2013_spelling
from fer.model.sources import load_model
from fer.runtime.base import average_views, softmax

TARGETS_FILE = "teacher_targets.npy"
TARGETS_RECORD = "teacher_targets.json"


def label_columns(teacher_labels: Sequence[str], student_labels: Sequence[str], teacher: str) -> list[int]:
    """For each student label, the teacher's column with the same class (FER+ and FER-2013 spellings agree)."""
    columns = {fer2013_spelling(label): index for index, label in enumerate(teacher_labels)}
    missing = [label for label in student_labels if fer2013_spelling(label) not in columns]
    if missing:
        raise FerError(f"teacher {teacher} has no class for the student's {', '.join(missing)} "
                       f"(its labels: {', '.join(teacher_labels)})")
    return [columns[fer2013_spelling(label)] for label in student_labels]


def in_student_order(probabilities: np.ndarray, columns: list[int]) -> np.ndarray:
    """A teacher's probabilities in the student's label order; classes the student lacks dropped, rows renormalized."""
    kept = np.asarray(probabilities, np.float64)[:, columns]
    return kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)


def teacher_probabilities(sources: Sequence[str], faces: np.ndarray, student_labels: Sequence[str]) -> np.ndarray:
    """Mean over teachers of their probabilities on `faces` (grey 48x48 crops), in the student's label order.
    A teacher's classes the student lacks are dropped and the rest renormalized."""
    if not sources:
        raise ValueError("no teacher given")
    total = np.zeros((len(faces), len(student_labels)), np.float64)
    for source in sources:
        teacher = load_model(source)
        columns = label_columns(teacher.labels, student_labels, source)
        total += in_student_order(teacher.predict_in_batches(teacher.preprocess(faces)), columns)
    return (total / len(sources)).astype(np.float32)


def cached_teacher_targets(run_dir: Path, sources: Sequence[str], faces: np.ndarray,
                           student_labels: Sequence[str]) -> np.ndarray:
    """teacher_probabilities(), computed on a run's first sitting and read back on the next ones."""
    record = {"teachers": list(sources), "faces": int(len(faces)), "labels": list(student_labels)}
    targets_path, record_path = run_dir / TARGETS_FILE, run_dir / TARGETS_RECORD
    if targets_path.is_file() and record_path.is_file():
        if json.loads(record_path.read_text()) != record:
            raise FerError(f"{targets_path} was made for other teachers or data ({record_path}); "
                           "remove both files to compute the targets again")
        return np.load(targets_path)
    targets = teacher_probabilities(sources, faces, student_labels)
    np.save(targets_path, targets)
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    return targets


def mix_targets(labels: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x the data's targets + weight x the teachers' probabilities."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"teacher weight must be in [0, 1], got {weight}")
    if labels.shape != teacher.shape:
        raise ValueError(f"targets {labels.shape} and teacher probabilities {teacher.shape} differ in shape")
    return ((1.0 - weight) * labels + weight * teacher).astype(np.float32)


class OnlineTeacher:
    """Calibrated probabilities of one or more teachers on network inputs (the student's augmented batches), in
    the student's label order. Teachers run on ONNX Runtime where their folder has a checked export (one thread:
    the student's training holds the cores), else on Keras. With tta "flip" each teacher averages its logits over
    the batch and its mirror image, the mode its own accuracy is measured in (the stronger teacher, at twice the
    cost)."""

    def __init__(self, sources: Sequence[str], student_labels: Sequence[str], input_shape: Sequence[int],
                 tta: str = "none") -> None:
        if not sources:
            raise ValueError("no teacher given")
        if tta not in ("none", "flip"):
            raise ValueError(f"an online teacher's tta must be 'none' or 'flip', got {tta!r}")
        self.tta = tta
        self.teachers = []
        for source in sources:
            teacher = load_model(source)
            if tuple(teacher.input_shape) != tuple(input_shape):
                raise FerError(f"an online teacher must take the student's input {tuple(input_shape)}; "
                               f"{source} takes {tuple(teacher.input_shape)} (use the fixed targets instead)")
            if getattr(teacher, "runtime", "") == "onnx":
                from fer.runtime.onnx import OnnxModel

                teacher = OnnxModel(teacher.folder, teacher.config, source=source, threads=1)
            self.teachers.append((teacher, label_columns(teacher.labels, student_labels, source)))

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        if self.tta == "flip":  # one call per teacher: the batch, then its mirror (NHWC: width is axis 2)
            inputs = np.concatenate([inputs, inputs[:, :, ::-1, :]])
        views = 2 if self.tta == "flip" else 1
        total = sum(in_student_order(softmax(average_views(network_logits(teacher, inputs), views)
                                             / teacher.config.temperature), columns)
                    for teacher, columns in self.teachers)
        return (total / len(self.teachers)).astype(np.float32)


def network_logits(teacher, inputs: np.ndarray) -> np.ndarray:
    """The teacher network alone (no TTA) on (N, *input_shape) float inputs with raw 0-255 pixels."""
    if hasattr(teacher, "network_logits"):
        return np.asarray(teacher.network_logits(inputs), np.float64)
    import keras

    return np.asarray(keras.ops.convert_to_numpy(teacher.model(np.asarray(inputs, np.float32), training=False)),
                      np.float64)
