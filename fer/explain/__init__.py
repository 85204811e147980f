"""Explanations: the method registry, overlays and the result type, without TensorFlow. The maps themselves come
from Explainer (fer.explain.maps, tf-keras-vis), which loads TensorFlow on first use: `from fer.explain import
Explainer` works and pays for it only then."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# Method key -> the name shown to people.
METHODS: dict[str, str] = {
    "saliency": "Vanilla Saliency",
    "smoothgrad": "SmoothGrad",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
}
DEFAULT_METHOD = "gradcam"


@dataclasses.dataclass(frozen=True)
class FaceExplanation:
    """One face's explanation map, overlaid on the face crop."""

    image: np.ndarray  # RGB uint8, the crop's size
    label: str  # the class explained
    evidence: bool  # False: an all-zero map, a real outcome (every channel argues against the class)


def check_method(method: str) -> str:
    """Return the method key, or raise ValueError naming the accepted ones."""
    key = str(method).strip().lower()
    if key not in METHODS:
        # Accept the display names too ("Grad-CAM++"), as the app's dropdown shows those.
        by_title = {title.lower(): name for name, title in METHODS.items()}
        if key in by_title:
            return by_title[key]
        raise ValueError(f"unknown explanation method {method!r}; accepted: {', '.join(METHODS)}")
    return key


def overlay(face_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45,
            colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a 0..1 heatmap (resized to the face) over a face crop; returns RGB uint8 of the face's size."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within 0..1, got {alpha}")
    face = np.asarray(face_rgb)
    if face.ndim == 3 and face.shape[2] == 1:
        face = face[:, :, 0]
    if face.ndim == 2:
        face = cv2.cvtColor(face.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    if face.ndim != 3 or face.shape[2] not in (3, 4) or min(face.shape[:2]) < 1:
        raise ValueError(f"overlay() takes a grey or RGB face image, got shape {face.shape}")
    face = np.ascontiguousarray(face[:, :, :3], dtype=np.uint8)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {heatmap.shape}")
    height, width = face.shape[:2]
    heat = cv2.resize(np.clip(np.nan_to_num(heatmap), 0.0, 1.0), (width, height), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.uint8(np.rint(heat * 255)), colormap)  # OpenCV color maps are BGR
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(colored, alpha, face, 1.0 - alpha, 0.0)


def __getattr__(name: str):
    if name == "Explainer":
        from fer.explain.maps import Explainer

        return Explainer
    raise AttributeError(f"module 'fer.explain' has no attribute {name!r}")
