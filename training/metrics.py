"""Classification metrics, calibration error and temperature fitting, in plain numpy."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fer.runtime.base import softmax


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def expected_calibration_error(probabilities: np.ndarray, true: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-1 confidence over equal-width bins (Guo et al., 2017)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == true
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def classification_metrics(probabilities: np.ndarray, true: np.ndarray, labels: Sequence[str]) -> dict:
    """accuracy, n, macro/weighted F1, per-class precision/recall/F1/support, confusion matrix, ECE."""
    true = np.asarray(true, np.int64)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(true, predicted, len(labels))
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    hits = np.diag(matrix)
    precision = np.divide(hits, predicted_count, out=np.zeros(len(labels)), where=predicted_count > 0)
    recall = np.divide(hits, support, out=np.zeros(len(labels)), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(labels)), where=(precision + recall) > 0)
    present = support > 0
    return {
        "accuracy": float(hits.sum() / max(len(true), 1)),
        "n": int(len(true)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / max(support.sum(), 1)),
        "per_class": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "confusion_matrix": matrix.tolist(),
        "labels": list(labels),
        "ece": expected_calibration_error(probabilities, true),
    }


def negative_log_likelihood(logits: np.ndarray, true: np.ndarray, temperature: float) -> float:
    probabilities = softmax(logits / temperature)
    return float(-np.mean(np.log(probabilities[np.arange(len(true)), true] + 1e-12)))


def fit_temperature(logits: np.ndarray, true: np.ndarray) -> float:
    """Temperature minimizing NLL on held-out logits (golden-section search on log T in [0.05, 20])."""
    low, high = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    f_a, f_b = negative_log_likelihood(logits, true, np.exp(a)), negative_log_likelihood(logits, true, np.exp(b))
    for _ in range(60):
        if f_a < f_b:
            high, b, f_b = b, a, f_a
            a = high - ratio * (high - low)
            f_a = negative_log_likelihood(logits, true, np.exp(a))
        else:
            low, a, f_a = a, b, f_b
            b = low + ratio * (high - low)
            f_b = negative_log_likelihood(logits, true, np.exp(b))
    return float(np.exp((low + high) / 2))


def format_table(metrics: dict) -> str:
    """A plain-text per-class table with the headline figures underneath."""
    lines = [f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for label, row in metrics["per_class"].items():
        lines.append(f"{label:<12}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>9d}")
    lines.append(f"accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
                 f"weighted-F1 {metrics['weighted_f1']:.4f}  ECE {metrics['ece']:.4f}  n={metrics['n']}")
    return "\n".join(lines)
