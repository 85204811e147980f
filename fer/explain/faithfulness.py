"""Faithfulness of an explanation map (Petsiuk et al. 2018, RISE): does the model's score fall fast when the pixels
the map ranks first are deleted, and rise fast when they are inserted first?

deletion: start from the face, replace pixels with the face's mean grey in the map's order (most important first)
    in `steps` equal steps, and record the class probability after each: a faithful map gives a low area under
    that curve.
insertion: start from a blurred copy of the face and restore the original pixels in the map's order: a faithful
    map gives a high area.
Both are compared with the same curves for random orders (the mean of a few), the baseline a map must beat. Every
step of every curve of a face goes through the network in one call. No TensorFlow: any model with
network_probabilities (OnnxModel, EmotionModel) is enough.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

DEFAULT_STEPS = 20
DEFAULT_RANDOM_ORDERS = 3
BLUR_SIGMA = 5.0  # of the insertion start, in input pixels: the face's layout survives, its features do not


@dataclasses.dataclass(frozen=True)
class Faithfulness:
    """The curves (class probability at each fraction of pixels deleted / inserted) and their areas."""

    label: str
    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    random_deletion: np.ndarray
    random_insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return area(self.fractions, self.deletion)

    @property
    def insertion_auc(self) -> float:
        return area(self.fractions, self.insertion)

    @property
    def random_deletion_auc(self) -> float:
        return area(self.fractions, self.random_deletion)

    @property
    def random_insertion_auc(self) -> float:
        return area(self.fractions, self.random_insertion)

    def to_dict(self) -> dict[str, Any]:
        """The four areas, rounded, as the CLI's --json prints them."""
        return {"label": self.label, "deletion_auc": round(self.deletion_auc, 4),
                "insertion_auc": round(self.insertion_auc, 4),
                "random_deletion_auc": round(self.random_deletion_auc, 4),
                "random_insertion_auc": round(self.random_insertion_auc, 4)}


def area(fractions: np.ndarray, values: np.ndarray) -> float:
    """Area under a curve sampled at `fractions` (0..1), by the trapezoid rule."""
    values = np.asarray(values, np.float64)
    widths = np.diff(np.asarray(fractions, np.float64))
    return float(np.sum(widths * (values[1:] + values[:-1]) / 2.0))


def network_probabilities(model, inputs: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of the network alone (no test-time views) on (N, *input_shape) inputs."""
    from fer.runtime.base import softmax

    if hasattr(model, "network_logits"):
        logits = model.network_logits(inputs)
    else:  # the Keras EmotionModel
        logits = np.asarray(model.model.predict_on_batch(np.asarray(inputs, np.float32)))
    return softmax(np.asarray(logits, np.float64) / model.config.temperature)


def _orders(heatmap: np.ndarray, random_orders: int, seed: int) -> list[np.ndarray]:
    """Pixel indices most important first (ties broken by position), then `random_orders` random orders."""
    flat = np.asarray(heatmap, np.float64).ravel()
    orders = [np.lexsort((np.arange(flat.size), -flat))]
    rng = np.random.default_rng(seed)
    orders += [rng.permutation(flat.size) for _ in range(random_orders)]
    return orders


def _curve_inputs(face: np.ndarray, start: np.ndarray, order: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One input per step: `face` with its first counts[k] pixels (in `order`) taken from `start`."""
    height, width, channels = face.shape
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    rank = rank.reshape(height, width, 1)
    return np.stack([np.where(rank < count, start, face) for count in counts]).astype(np.float32)


def faithfulness(model, face_input: np.ndarray, heatmap: np.ndarray, target: int, steps: int = DEFAULT_STEPS,
                 random_orders: int = DEFAULT_RANDOM_ORDERS, seed: int = 0) -> Faithfulness:
    """Deletion and insertion curves of one face input (the network's view, config.input_shape, raw 0..255) for
    class `target` under the map `heatmap` (the input's height x width, or larger: it is resized), with the
    random-order baseline; all (2 + 2 x random_orders) x (steps + 1) inputs in one network call."""
    face = np.asarray(face_input, np.float32)
    if face.ndim != 3 or list(face.shape) != list(model.config.input_shape):
        raise ValueError(f"expected one face input of shape {tuple(model.config.input_shape)}, got {face.shape}")
    if steps < 1 or random_orders < 1:
        raise ValueError("steps and random_orders must be at least 1")
    if not 0 <= int(target) < model.config.num_classes:
        raise ValueError(f"class index {target} is out of range for {model.config.num_classes} classes")
    height, width = face.shape[:2]
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.shape != (height, width):
        heatmap = _input_region(heatmap, model.config)
    counts = np.round(np.linspace(0, height * width, steps + 1)).astype(np.int64)
    mean = np.full_like(face, face.mean())
    blurred = cv2.GaussianBlur(face, (0, 0), BLUR_SIGMA).reshape(face.shape)
    batches = []
    for order in _orders(heatmap, random_orders, seed):
        batches.append(_curve_inputs(face, mean, order, counts))  # deletion
        batches.append(_curve_inputs(blurred, face, order, counts))  # insertion
    probabilities = network_probabilities(model, np.concatenate(batches))[:, int(target)]
    curves = probabilities.reshape(len(batches), steps + 1)
    return Faithfulness(model.config.labels[int(target)], counts / counts[-1], curves[0], curves[1],
                        curves[2::2].mean(axis=0), curves[3::2].mean(axis=0))


def _input_region(heatmap: np.ndarray, config) -> np.ndarray:
    """A frame-sized map's center, the part the network sees (any other size: resized to the input)."""
    height, width = config.input_shape[:2]
    frame_h, frame_w = config.face_input_shape[:2]
    if heatmap.shape == (frame_h, frame_w):
        top, left = (frame_h - height) // 2, (frame_w - width) // 2
        return heatmap[top:top + height, left:left + width]
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {heatmap.shape}")
    return cv2.resize(heatmap, (width, height), interpolation=cv2.INTER_LINEAR)


def faithfulness_figure(result: Faithfulness, method_title: str = ""):
    """The deletion and insertion curves beside their random baselines (small, for the app's explanation panel)."""
    from matplotlib.figure import Figure  # only the app draws this

    figure = Figure(figsize=(6, 2.4), layout="constrained")
    for index, (name, curve, baseline, better) in enumerate((
            ("deletion", result.deletion, result.random_deletion, "lower"),
            ("insertion", result.insertion, result.random_insertion, "higher"))):
        axes = figure.add_subplot(1, 2, index + 1)
        axes.plot(result.fractions, curve, label=f"map, AUC {area(result.fractions, curve):.2f}", linewidth=2)
        axes.plot(result.fractions, baseline, "--", label=f"random, AUC {area(result.fractions, baseline):.2f}",
                  linewidth=1.5)
        axes.set(xlabel=f"fraction of pixels {'deleted' if name == 'deletion' else 'inserted'}",
                 ylabel=f"p({result.label})" if index == 0 else None, ylim=(0, 1),
                 title=f"{method_title} {name} ({better} is better)".strip())
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", frameon=False)
    return figure
