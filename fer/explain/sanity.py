"""Sanity check by model randomization (Adebayo et al. 2018): a map that still looks the same once the network's
top layers are re-initialized does not explain what the network learned.

The cascade re-initializes the layers from the logits down, at up to three points: the logits layer; every layer
above the Grad-CAM layer; and those plus the convolution block that ends in the Grad-CAM layer. At each point the
maps of the randomized network are compared with the trained network's on the same faces and classes (Spearman
rank correlation and SSIM, averaged over faces). A method fails when its mean Spearman correlation stays above
PASS_SPEARMAN once every layer above the Grad-CAM layer is randomized. Needs Keras (fer.explain.maps).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np

PASS_SPEARMAN = 0.5
CASCADE = ("logits", "above the Grad-CAM layer", "and its block")


@dataclasses.dataclass(frozen=True)
class SanityResult:
    """One method's similarity to the trained maps at each cascade point, and the verdict."""

    method: str
    faces: int
    spearman: dict[str, float]
    ssim: dict[str, float]
    seconds_per_face: float

    @property
    def passed(self) -> bool:
        return self.spearman[CASCADE[1]] <= PASS_SPEARMAN

    def to_dict(self) -> dict:
        return {"method": self.method, "faces": self.faces, "passed": self.passed,
                "spearman": {k: round(v, 4) for k, v in self.spearman.items()},
                "ssim": {k: round(v, 4) for k, v in self.ssim.items()},
                "ms_per_face": round(1000 * self.seconds_per_face, 1)}


def ssim(first: np.ndarray, second: np.ndarray) -> float:
    """Structural similarity of two maps in 0..1 (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03)."""
    import cv2

    x, y = np.asarray(first, np.float64), np.asarray(second, np.float64)
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(image):
        return cv2.GaussianBlur(image, (0, 0), 1.5)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2
    covariance = blur(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(index.mean())


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Rank correlation of two maps' pixels; 0 when either map is constant (no ranking to agree with)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(first, np.float64).ravel(), np.asarray(second, np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def cascade_layers(network, grad_cam_layer: str) -> dict[str, list[str]]:
    """Layer names re-initialized at each cascade point (layers with weights only)."""
    from fer.model.architectures import LOGITS_NAME

    names = [layer.name for layer in network.layers]
    if grad_cam_layer not in names:
        raise ValueError(f"{grad_cam_layer!r} is not a layer of the network")
    position = names.index(grad_cam_layer)
    weighted = {layer.name for layer in network.layers if layer.weights}
    above = [name for name in names[position + 1:] if name in weighted]
    block = grad_cam_layer.split("_")[0]  # cnn layers are named blockN_...
    own_block = [name for name in names[:position + 1] if name.split("_")[0] == block and name in weighted]
    if not own_block:  # other architectures: the last weighted layer at or below the Grad-CAM layer
        own_block = [name for name in names[:position + 1] if name in weighted][-1:]
    return {CASCADE[0]: [LOGITS_NAME], CASCADE[1]: above, CASCADE[2]: above + own_block}


def randomized(network, layers: Sequence[str], seed: int):
    """A copy of `network` with `layers` re-initialized by their own initializers and the rest kept."""
    import keras

    keras.utils.set_random_seed(seed)
    fresh = keras.Model.from_config(network.get_config())
    for layer in network.layers:
        if layer.name not in layers and layer.weights:
            fresh.get_layer(layer.name).set_weights(layer.get_weights())
    return fresh


def sanity_check(model, faces: np.ndarray, classes: Sequence[int], methods: Sequence[str],
                 faces_per_method: dict[str, int] | None = None, seed: int = 0,
                 progress=None) -> list[SanityResult]:
    """Compare each method's maps of the trained network with those of the cascade of randomized networks.

    model: an EmotionModel (or an OnnxModel, whose Keras network is used); faces: network inputs
    (config.input_shape); classes: the class explained for each face; faces_per_method: fewer faces for the slow
    methods (default: all)."""
    from fer.runtime.keras import EmotionModel
    from fer.explain.maps import Explainer

    if hasattr(model, "keras_model"):
        model = model.keras_model()
    faces, classes = np.asarray(faces), [int(c) for c in classes]
    trained = Explainer(model)
    points = cascade_layers(model.model, model.config.last_conv_layer)
    explainers = {point: Explainer(EmotionModel(randomized(model.model, layers, seed + i), model.config))
                  for i, (point, layers) in enumerate(points.items())}
    results = []
    for method in methods:
        count = min(len(faces), (faces_per_method or {}).get(method, len(faces)))
        chosen, targets = faces[:count], classes[:count]
        start = time.perf_counter()
        reference = trained.explain_batch(chosen, method, targets)
        seconds = (time.perf_counter() - start) / max(count, 1)
        rho, structure = {}, {}
        for point, explainer in explainers.items():
            maps = explainer.explain_batch(chosen, method, targets)
            rho[point] = float(np.mean([spearman(a, b) for a, b in zip(reference, maps)]))
            structure[point] = float(np.mean([ssim(a, b) for a, b in zip(reference, maps)]))
        results.append(SanityResult(method, count, rho, structure, seconds))
        if progress is not None:
            progress(results[-1])
    return results
