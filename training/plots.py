"""Learning-curve and confusion-matrix pictures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(figure, path: str | Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)  # pyplot keeps every open figure alive otherwise
    return Path(path)


def plot_learning_curve(history: dict[str, list[float]], path: str | Path) -> Path:
    """Loss and accuracy per epoch for train and validation (and the weight average when it was scored)."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for key, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
        for prefix, style, name in (("", "-", "train"), ("val_", "--", "validation"),
                                    ("val_ema_", ":", "validation, weight average")):
            values = history.get(prefix + key)
            if values:
                axis.plot(epochs[: len(values)], values, style, label=f"{name} {key}")
        axis.set_xlabel("epoch")
        axis.set_title(key)
        axis.grid(alpha=0.3)
        axis.legend()
    return _save(figure, path)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                          title: str = "") -> Path:
    """Row-normalized confusion matrix with counts, true classes on rows."""
    matrix = np.asarray(matrix, dtype=np.float64)
    normalized = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(1.0 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    image = axis.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if normalized[i, j] > 0.5 else "black"
            axis.text(j, i, f"{normalized[i, j]:.2f}\n({int(matrix[i, j])})", ha="center", va="center",
                      fontsize=7, color=color)
    axis.set_title(title)
    figure.colorbar(image, ax=axis, fraction=0.046)
    return _save(figure, path)


def plot_run_comparison(runs: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
                        target: float | None = None, title: str = "") -> Path:
    """Validation accuracy per epoch of several runs (solid), their training accuracy (dotted, same color)."""
    figure, axis = plt.subplots(figsize=(8, 5))
    for index, (name, (train, validation)) in enumerate(runs.items()):
        color = f"C{index % 10}"
        axis.plot(np.arange(1, len(validation) + 1), validation, "-", color=color, label=f"{name} validation")
        if len(train):
            axis.plot(np.arange(1, len(train) + 1), train, ":", color=color, label=f"{name} train (augmented)")
    if target is not None:
        axis.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return _save(figure, path)
