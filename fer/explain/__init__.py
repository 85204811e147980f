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


# tf-keras-vis's normalize() adds Keras's epsilon to the range, so an all-equal map becomes zeros, not NaN.
NORMALIZE_EPSILON = 1e-7


def gradcam_from_gradients(activations: np.ndarray, gradients: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Grad-CAM maps (N, *size) in 0..1 as tf-keras-vis computes them: the ReLU of the activations (N, h, w, C)
    weighted by their mean gradients, zoomed (zoom_linear) to `size` and normalized per map. The Keras
    Explainer and ONNX Runtime's gradcam.onnx (fer.runtime.onnx) both end here, so their maps agree."""
    weights = gradients.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((activations * weights).sum(axis=-1), 0.0)
    cam = zoom_linear(cam, size)
    low = cam.min(axis=(1, 2), keepdims=True)
    high = cam.max(axis=(1, 2), keepdims=True)
    return ((cam - low) / (high - low + NORMALIZE_EPSILON)).astype(np.float32)


def zoom_linear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps resized to (N, *size) by linear interpolation with corner pixels on corner pixels: what
    scipy.ndimage.zoom(order=1) computes (tf-keras-vis's upsampling), without scipy, which the TensorFlow-free
    install does not have. OpenCV's resize puts pixel centers elsewhere and gives other maps."""
    result = np.asarray(maps, np.float64)
    for axis, target in ((1, int(size[0])), (2, int(size[1]))):
        source = result.shape[axis]
        position = np.linspace(0.0, source - 1, target) if target > 1 else np.zeros(1)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, source - 1)
        shape = [1, 1, 1]
        shape[axis] = target
        fraction = (position - low).reshape(shape)
        result = np.take(result, low, axis=axis) * (1.0 - fraction) + np.take(result, high, axis=axis) * fraction
    return result.astype(np.float32)


def explains_without_tensorflow(model, method: str) -> bool:
    """Whether `model` gives `method`'s maps on ONNX Runtime: Grad-CAM of a folder with class maps or gradcam.onnx."""
    return check_method(method) == "gradcam" and bool(getattr(model, "has_gradcam", False))


def explain_frames(model, frames: np.ndarray, method: str, classes, explainer=None) -> np.ndarray:
    """Maps (N, *face_input_shape[:2]) in 0..1 of preprocessed face frames, one class index per face, placed in the
    frame as the Explainer places them. Grad-CAM runs on ONNX Runtime when the model can (class maps or
    gradcam.onnx: the explainer's maps, without TensorFlow); anything else goes to `explainer`, a callable that
    returns the model's Explainer, called only then (it loads TensorFlow)."""
    if explains_without_tensorflow(model, method):
        return model.class_activation_maps(frames, classes)
    if explainer is None:
        raise ValueError(f"{METHODS[check_method(method)]} of this model needs its Explainer (TensorFlow)")
    return explainer().explain_batch(frames, method, list(classes))


def face_explanation(analysis, index: int, label: str, heatmap: np.ndarray) -> FaceExplanation:
    """Face `index` of a Recognizer's analysis with `heatmap` (the map of `label`) overlaid on its crop."""
    from fer.faces import to_rgb

    return FaceExplanation(overlay(to_rgb(analysis.crops[index]), heatmap), label, bool(heatmap.any()))


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
