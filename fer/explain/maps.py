"""Explainer: the explanation maps of one Keras model (Saliency, SmoothGrad, Grad-CAM, Grad-CAM++, Score-CAM through
tf-keras-vis). Imports TensorFlow: fer.explain loads it only when an Explainer is made."""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Sequence

import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils import normalize

from fer.runtime.keras import EmotionModel
from fer.errors import ModelSourceError
from fer.explain import (DEFAULT_METHOD, METHODS, FaceExplanation, check_method, face_explanation,
                         gradcam_from_gradients)

if TYPE_CHECKING:  # for type hints only
    from fer.pipeline import FrameAnalysis

# tf-keras-vis hands a single-input functional model a list of one tensor; Keras 3 warns about the
# structure and then handles it correctly, so this one message is noise.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)

class Explainer:
    """The tf-keras-vis visualizers of one EmotionModel, built once and reused for every request.

    All methods target the chosen class's logit (the model's output layer), except Score-CAM, which by
    its definition weighs masked inputs by the softmax probability of that class. Calls are serialized
    with a lock: the visualizers build Keras graphs per call and the model is shared by every session.
    """

    def __init__(self, model: EmotionModel, smooth_samples: int = 20, smooth_noise: float = 0.2,
                 scorecam_max_maps: int | None = 64) -> None:
        if smooth_samples < 1:
            raise ValueError(f"smooth_samples must be at least 1, got {smooth_samples}")
        if hasattr(model, "keras_model"):  # served by ONNX Runtime: explain with the same folder's Keras network
            model = model.keras_model()
        if not isinstance(getattr(model, "model", None), keras.Model):
            raise ModelSourceError(f"{getattr(model, 'source', model)} has no Keras network to explain (an ONNX / "
                                   "LiteRT export); explanations need the model folder it came from (model.keras)")
        self.model = model
        network = model.model
        # The Grad-CAM layer is a fact of the model, stored in its config; never guessed.
        self.layer = model.config.last_conv_layer
        network.get_layer(self.layer)  # fail early (ValueError) if the config names a missing layer
        channels = int(network.get_layer(self.layer).output.shape[-1])
        # Faster Score-CAM: only the maps with the largest variance, which keeps it under a second on CPU.
        self.scorecam_max_maps = None if not scorecam_max_maps or scorecam_max_maps >= channels else scorecam_max_maps
        self.smooth_samples, self.smooth_noise = smooth_samples, smooth_noise
        # clone=False: no model modifier is needed because the output layer already emits logits.
        saliency = Saliency(network, clone=False)
        self._visualisers = {
            "saliency": saliency,
            "smoothgrad": saliency,
            "gradcam": Gradcam(network, clone=False),
            "gradcam++": GradcamPlusPlus(network, clone=False),
            "scorecam": Scorecam(network, clone=False),
        }
        self._lock = threading.Lock()
        self._gradcam_step = self._compile_gradcam_step(network)

    def _compile_gradcam_step(self, network: keras.Model):
        """Conv activations and their gradients in one compiled call with a fixed signature.

        tf-keras-vis's Gradcam rebuilds a two-output model on every call (~100 ms on CPU); building it
        once and tracing the tape once makes Grad-CAM a few milliseconds per face. The maps are the
        same as Gradcam's (tests/fer/test_explain.py checks this).
        """
        cam_model = keras.Model(network.inputs, [network.get_layer(self.layer).output, network.outputs[0]])
        shape = (None, *self.model.input_shape)
        signature = [tf.TensorSpec(shape, tf.float32), tf.TensorSpec((None, self.model.config.num_classes), tf.float32)]

        @tf.function(input_signature=signature)
        def step(faces, targets):
            with tf.GradientTape() as tape:
                activations, logits = cam_model(faces, training=False)
                score = tf.reduce_sum(logits * targets, axis=-1)
            return activations, tape.gradient(score, activations)

        return step

    def _gradcam(self, faces: np.ndarray, targets: tf.Tensor) -> np.ndarray:
        """Grad-CAM exactly as tf-keras-vis computes it: ReLU(sum of activations weighted by mean
        gradients), zoomed (linear) to the input size, normalized per map."""
        activations, gradients = (t.numpy() for t in self._gradcam_step(tf.constant(faces), targets))
        return gradcam_from_gradients(activations, gradients, faces.shape[1:3])

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(METHODS)

    @property
    def busy(self) -> bool:
        """True while another thread is computing an explanation (callers may skip instead of waiting)."""
        return self._lock.locked()

    def class_index(self, target: int | str) -> int:
        """A class given by index or by label name -> its index (ValueError naming the labels otherwise)."""
        labels = self.model.labels
        if isinstance(target, str):
            if target not in labels:
                raise ValueError(f"unknown class {target!r}; this model's labels are: {', '.join(labels)}")
            return labels.index(target)
        index = int(target)
        if not 0 <= index < len(labels):
            raise ValueError(f"class index {index} is out of range for {len(labels)} classes")
        return index

    def explain(self, face: np.ndarray, method: str = DEFAULT_METHOD, target: int | str = 0) -> np.ndarray:
        """Heatmap (H, W) float32 in 0..1 for one preprocessed face and a class (index or label name).

        `face` is one frame from model.preprocess() (the map then covers the whole frame, zero outside the
        center the network sees) or one network input, as (H, W, C) or a batch of one (1, H, W, C).
        """
        face = np.asarray(face)
        if face.ndim == 4 and face.shape[0] == 1:
            face = face[0]
        if face.ndim != 3:
            raise ValueError(f"explain() takes one face of shape (H, W, C) or (1, H, W, C), got {face.shape}; "
                             "use explain_batch() for several faces")
        return self.explain_batch(face[None], method, [target])[0]

    def explain_face(self, analysis: FrameAnalysis, index: int, method: str = DEFAULT_METHOD,
                     target: str | None = None) -> FaceExplanation:
        """Face `index` of a Recognizer's analysis: the map of `target` (None: the predicted label) on its crop."""
        label = target or analysis.faces[index].label
        return face_explanation(analysis, index, label, self.explain(analysis.inputs[index], method, label))

    def explain_batch(self, faces: np.ndarray, method: str = DEFAULT_METHOD,
                      targets: Sequence[int | str] | int | str = 0) -> np.ndarray:
        """Heatmaps (N, H, W) float32 in 0..1 for a batch of frames (or network inputs), one class per face."""
        method = check_method(method)
        faces = np.asarray(faces)
        expected = tuple(self.model.input_shape)
        frames = faces.ndim == 4 and tuple(faces.shape[1:]) == tuple(self.model.face_input_shape) != expected
        if frames:
            faces = self.model.network_inputs(faces)
        if faces.ndim != 4 or tuple(faces.shape[1:]) != expected:
            raise ValueError(f"expected a batch of shape (N, {', '.join(map(str, self.model.face_input_shape))}), "
                             f"got {faces.shape}")
        count = faces.shape[0]
        if count == 0:
            return np.zeros((0, *(self.model.face_input_shape if frames else expected)[:2]), np.float32)
        indices = [targets] * count if isinstance(targets, (int, np.integer, str)) else list(targets)
        if len(indices) != count:
            raise ValueError(f"got {len(indices)} classes for {count} faces")
        indices = [self.class_index(target) for target in indices]
        heatmaps = self._explain_inputs(faces, method, indices)
        return self._to_frame(heatmaps) if frames else heatmaps

    def _to_frame(self, heatmaps: np.ndarray) -> np.ndarray:
        """Place center-crop maps in frame-sized maps (zero where the network does not look)."""
        frame_h, frame_w = self.model.face_input_shape[:2]
        height, width = heatmaps.shape[1:3]
        top, left = (frame_h - height) // 2, (frame_w - width) // 2
        framed = np.zeros((heatmaps.shape[0], frame_h, frame_w), np.float32)
        framed[:, top:top + height, left:left + width] = heatmaps
        return framed

    def _explain_inputs(self, faces: np.ndarray, method: str, indices: list[int]) -> np.ndarray:
        count, expected = faces.shape[0], tuple(self.model.input_shape)
        targets = tf.one_hot(indices, self.model.config.num_classes)
        with self._lock:
            heatmaps = self._methods[method](faces.astype(np.float32), targets)
        heatmaps = np.nan_to_num(np.asarray(heatmaps, dtype=np.float32).reshape(count, *expected[:2]))
        return np.clip(heatmaps, 0.0, 1.0)

    @property
    def _methods(self):
        """Each method key of fer.explain.METHODS -> its implementation (faces, one-hot targets) -> maps."""
        return {"saliency": self._saliency, "smoothgrad": self._smoothgrad, "gradcam": self._gradcam,
                "gradcam++": self._gradcam_plus_plus, "scorecam": self._scorecam}

    @staticmethod
    def _score(targets: tf.Tensor):
        def score(output: tf.Tensor) -> tf.Tensor:
            # One value per face: the output (logit) of that face's target class.
            return tf.reduce_sum(output * targets, axis=-1)

        return score

    def _saliency(self, faces: np.ndarray, targets: tf.Tensor) -> np.ndarray:
        return self._visualisers["saliency"](self._score(targets), tf.constant(faces))

    def _gradcam_plus_plus(self, faces: np.ndarray, targets: tf.Tensor) -> np.ndarray:
        return self._visualisers["gradcam++"](self._score(targets), tf.constant(faces), penultimate_layer=self.layer,
                                              seek_penultimate_conv_layer=False)

    def _scorecam(self, faces: np.ndarray, targets: tf.Tensor) -> np.ndarray:
        # Score-CAM calls model.predict(); its progress bar would spam the server log. Interactive logging is
        # thread-local in Keras 3, so switching it off here affects this thread only.
        interactive = keras.config.is_interactive_logging_enabled()
        keras.config.disable_interactive_logging()
        try:
            return self._visualisers["scorecam"](self._score(targets), tf.constant(faces), max_N=self.scorecam_max_maps,
                                                 batch_size=128, penultimate_layer=self.layer,
                                                 seek_penultimate_conv_layer=False)
        finally:
            if interactive:
                keras.config.enable_interactive_logging()

    def _smoothgrad(self, faces: np.ndarray, targets: tf.Tensor) -> np.ndarray:
        """SmoothGrad as tf-keras-vis computes it (mean |gradient| over noisy copies, max over channels,
        normalized), but with all noisy copies in ONE gradient call instead of one call per sample:
        about 10x faster on CPU. A fixed seed makes the same face give the same map every time."""
        samples, count = self.smooth_samples, faces.shape[0]
        axes = tuple(range(1, faces.ndim))
        sigma = self.smooth_noise * (faces.max(axis=axes, keepdims=True) - faces.min(axis=axes, keepdims=True))
        # Legacy RandomState draws the same numbers tf-keras-vis draws after np.random.seed(0), so the
        # two implementations can be checked against each other (tests/fer/test_explain.py).
        noise = np.random.RandomState(0).standard_normal((samples, *faces.shape)).astype(np.float32)
        noisy = (faces[None] + noise * sigma[None]).reshape(samples * count, *faces.shape[1:])
        tiled_targets = tf.tile(targets, [samples, 1])

        def score(output: tf.Tensor) -> tf.Tensor:
            return tf.reduce_sum(output * tiled_targets, axis=-1)

        gradients = self._visualisers["saliency"](score, tf.constant(noisy), keepdims=True, normalize_map=False)
        mean_gradient = np.asarray(gradients).reshape(samples, *faces.shape).mean(axis=0)
        return normalize(mean_gradient.max(axis=-1))
