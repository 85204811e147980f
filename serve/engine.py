"""Models for a server: each loaded once with its photo and webcam recognizers and its explainer, cached by source."""

from __future__ import annotations

import dataclasses
import html
import os
import threading
from typing import TYPE_CHECKING

import numpy as np

from fer.faces import DEFAULT_DETECTOR
from fer.model.sources import DEFAULT_MODEL, bundled_models, load_model
from fer.pipeline import Recognizer
from serve.settings import (LIVE_MODEL, MAX_FACES, MAX_STREAM_FACES, MAX_STREAM_SIDE,  # noqa: F401 (re-exported)
                            STREAM_DETECTION_SIDE, STREAM_TTA)

if TYPE_CHECKING:  # its module imports TensorFlow, which loads only when an explanation is asked for
    from fer.explain import Explainer, FaceExplanation

MAX_CACHED_MODELS = 3  # each holds a model, its compiled graphs and its visualizers


def stream_tta(config) -> str:
    """The webcam's test-time augmentation: STREAM_TTA (flip), or the single view when the model's card measured it
    at least as accurate (a network trained with flips may gain nothing from them: the live model)."""
    by_tta = config.metrics.get("accuracy_by_tta") or {}
    if "none" in by_tta and STREAM_TTA in by_tta and by_tta["none"] >= by_tta[STREAM_TTA]:
        return "none"
    return STREAM_TTA


@dataclasses.dataclass
class Engine:
    """A loaded model with its photo and webcam recognizers and its explainer, shared by every session."""

    source: str
    recognizer: Recognizer
    stream_recognizer: Recognizer
    _explainer: Explainer | None = dataclasses.field(default=None, repr=False)
    _explainer_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, source: str, detector: str = DEFAULT_DETECTOR) -> Engine:
        """Load `source` (any form fer.model.sources.load_model accepts; FerError when it cannot). Predictions run on
        ONNX Runtime when the folder has its checked export; the Keras network loads with the explainer."""
        model = load_model(source)
        # The webcam runs the int8 network when its measured accuracy change is within the live paths' limit.
        live = load_model(source, precision="auto") if getattr(model, "runtime", None) == "onnx" else model
        stream = Recognizer(live, detector, max_faces=MAX_STREAM_FACES, tta=stream_tta(model.config),
                            max_side=STREAM_DETECTION_SIDE)
        return cls(source, Recognizer(model, detector, max_faces=MAX_FACES), stream)

    @property
    def explainer(self) -> Explainer:
        """The model's Explainer, built on first use (it loads TensorFlow and the Keras network)."""
        if self._explainer is None:
            with self._explainer_lock:
                if self._explainer is None:
                    from fer.explain import Explainer

                    self._explainer = Explainer(self.model)
        return self._explainer

    def explainer_if_ready(self) -> Explainer | None:
        """The explainer when loaded; otherwise None, after starting its load in a background thread (once), so
        a caller that can do without it (the webcam's Grad-CAM strip) never waits for TensorFlow."""
        if self._explainer is None and not self._explainer_lock.locked():
            threading.Thread(target=self._load_explainer_quietly, name="load-explainer", daemon=True).start()
        return self._explainer

    def _load_explainer_quietly(self) -> None:
        try:
            self.explainer  # noqa: B018 - loads it
        except Exception:  # noqa: BLE001 - a request that needs it will report the error
            pass

    @property
    def model(self):
        return self.recognizer.model

    @property
    def labels(self) -> tuple[str, ...]:
        return self.recognizer.labels

    def default_explanation_needs_tensorflow(self) -> bool:
        """Whether the model's own default method (config.json's explanation_method) needs the explainer."""
        from fer.explain import explains_without_tensorflow

        try:
            return not explains_without_tensorflow(self.model, self.model.config.explanation_method)
        except ValueError:  # an unknown method: the explainer will say so
            return True

    def heatmap(self, analysis, index: int, method: str, target: str | None = None) -> tuple[str, np.ndarray]:
        """(label, map) of face `index` of a photo's analysis for `target` (None: its predicted label): Grad-CAM on
        ONNX Runtime when the model folder can (fer.explain.explain_frames), the rest on the explainer."""
        from fer.explain import explain_frames

        label = target or analysis.faces[index].label
        if label not in self.labels:
            raise ValueError(f"unknown class {label!r}; this model's labels are: {', '.join(self.labels)}")
        maps = explain_frames(self.model, analysis.inputs[index:index + 1], method, [self.labels.index(label)],
                              lambda: self.explainer)
        return label, maps[0]

    def explain_face(self, analysis, index: int, method: str, target: str | None = None) -> FaceExplanation:
        """Face `index` explained by `method` for `target` (None: its predicted label), overlaid on its crop."""
        from fer.explain import face_explanation

        label, heatmap = self.heatmap(analysis, index, method, target)
        return face_explanation(analysis, index, label, heatmap)

    def warm_up(self, explanations: bool = True) -> None:
        """Run every per-request path once, so the first visitor does not pay for tracing."""
        self.model.warm_up()
        frame = np.zeros((240, 320, 3), np.uint8)
        self.recognizer.analyze_frame(frame)
        self.stream_recognizer.analyze_frame(frame)
        blank = np.zeros((1, *self.model.face_input_shape), np.uint8)
        if getattr(self.model, "has_gradcam", False):
            self.model.class_activation_maps(blank, [0])
        if explanations:
            self.explainer.explain(blank[0], "gradcam", 0)

    def card(self) -> str:
        """Markdown with the model's labels, input size, detector and card figures (accuracy and split)."""
        config = self.model.config
        metrics = config.metrics
        height, width, channels = config.input_shape
        if "accuracy" in metrics:
            figures = (f"accuracy **{float(metrics['accuracy']):.1%}** on "
                       f"{metrics.get('dataset', 'an unnamed dataset')}, split **{metrics.get('split', 'unknown')}** "
                       f"(n = {metrics.get('n', '?')})")
            if "macro_f1" in metrics:
                figures += f", macro-F1 {float(metrics['macro_f1']):.3f}"
        else:
            figures = "no evaluation figures in its config"
        if metrics.get("note"):
            figures += f" ({metrics['note']})"
        # The source is typed by visitors: escaped, since the page renders Markdown with HTML.
        return (f"**{html.escape(self.source)}** · {config.architecture} · input {width}×{height} "
                f"{'grey' if channels == 1 else 'RGB'} · detector {self.recognizer.detector_name} · "
                f"labels: {', '.join(config.labels)}  \n{figures}")


class EngineCache:
    """Engines by model source; at most `size` in memory (the oldest loaded leaves first).

    model / detector: the server's settings (e.g. command-line flags). When None, the FER_MODEL and
    FER_DETECTOR environment variables (read on each call), then the library defaults.
    """

    def __init__(self, model: str | None = None, detector: str | None = None, size: int = MAX_CACHED_MODELS) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.model, self.detector, self.size = model, detector, size
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def default_source(self) -> str:
        return self.model or os.environ.get("FER_MODEL", "").strip() or DEFAULT_MODEL

    def stream_source(self, source: str | None = None) -> str:
        """The webcam's model: the visitor's pick when it is not the default, else FER_STREAM_MODEL, else the
        bundled live model (the default model when it is not bundled)."""
        key = (source or "").strip()
        if key and key != self.default_source():
            return key
        chosen = os.environ.get("FER_STREAM_MODEL", "").strip()
        if chosen:
            return chosen
        return LIVE_MODEL if LIVE_MODEL in bundled_models() else self.default_source()

    def detector_name(self) -> str:
        return self.detector or os.environ.get("FER_DETECTOR", "").strip() or DEFAULT_DETECTOR

    def get(self, source: str | None = None) -> Engine:
        """The Engine for `source` (blank: the default), loading it on first use (FerError for bad sources)."""
        key = (source or "").strip() or self.default_source()
        engine = self._engines.get(key)
        if engine is None:
            with self._lock:  # one load at a time; cached models keep serving meanwhile
                engine = self._engines.get(key)
                if engine is None:
                    engine = Engine.load(key, self.detector_name())
                    while len(self._engines) >= self.size:
                        self._engines.pop(next(iter(self._engines)))  # the oldest loaded
                    self._engines[key] = engine
        return engine
