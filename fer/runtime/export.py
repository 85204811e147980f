"""ExportedModel: a model written by `python -m training.export` (ONNX or LiteRT), run without TensorFlow.

An export folder holds the model's own config.json and export.json, which names the file that serves each
test-time augmentation mode. Every file is the Keras serving graph (EmotionModel.serving_model): raw 0..255
face inputs in; calibrated probabilities and the mean logits out, with the TTA views, the temperature and
the softmax inside. ONNX files run under ONNX Runtime, .tflite files under the LiteRT interpreter.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fer.model.config import CONFIG_FILE, TTA_MODES, ModelConfig
from fer.errors import ModelSourceError
from fer.runtime.base import FaceModel, softmax

EXPORT_FILE = "export.json"
EXPORT_FORMAT_VERSION = 1
INPUT_NAME = "frames"  # the exported graphs' input name (export format 1): the face inputs
OUTPUT_NAMES = ("probabilities", "logits")


def is_export_folder(folder: str | Path) -> bool:
    """Whether `folder` was written by training.export (it holds export.json)."""
    return (Path(folder) / EXPORT_FILE).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    """export.json, checked: a known format and version, and an existing file for each TTA mode it lists."""
    path = folder / EXPORT_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelSourceError(f"{path}: cannot read the export manifest: {error}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        raise ModelSourceError(f"{path}: expected an object with a non-empty 'files' mapping")
    if manifest.get("format") not in FORMATS:
        raise ModelSourceError(f"{path}: format must be one of {', '.join(FORMATS)}, got {manifest.get('format')!r}")
    if manifest.get("format_version", EXPORT_FORMAT_VERSION) > EXPORT_FORMAT_VERSION:
        raise ModelSourceError(f"{path}: format_version {manifest['format_version']} is newer than this fer "
                               f"supports ({EXPORT_FORMAT_VERSION}); upgrade fer to load it")
    for mode, name in manifest["files"].items():
        if mode not in TTA_MODES:
            raise ModelSourceError(f"{path}: unknown tta mode {mode!r} (expected {', '.join(TTA_MODES)})")
        # Names only, no paths: an export folder cannot point outside itself.
        if not isinstance(name, str) or Path(name).name != name or not (folder / name).is_file():
            raise ModelSourceError(f"{path}: the {mode!r} file {name!r} is not a file in {folder}")
    return manifest


class OnnxRunner:
    """One ONNX Runtime session for one file (InferenceSession.run is safe to call from several threads)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from fer.runtime.onnx import open_session

        self.session = open_session(path, threads)
        names = {output.name for output in self.session.get_outputs()}
        if [i.name for i in self.session.get_inputs()] != [INPUT_NAME] or not names >= set(OUTPUT_NAMES):
            raise ModelSourceError(f"{path}: expected input {INPUT_NAME!r} and outputs {', '.join(OUTPUT_NAMES)}")

    def __call__(self, face_inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(OUTPUT_NAMES, self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: face_inputs})))


class LiteRTRunner:
    """The LiteRT interpreter for one .tflite file (ai-edge-litert, else TensorFlow's tf.lite).

    An interpreter is not thread-safe, so calls are serialized; its signature runner resizes the batch.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            try:
                from tensorflow.lite import Interpreter
            except ImportError:
                raise ModelSourceError(f"{path.name} needs the LiteRT runtime: pip install ai-edge-litert") from None
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self.runner = self.interpreter.get_signature_runner()
        except Exception as error:  # ValueError / RuntimeError from the flatbuffer reader
            raise ModelSourceError(f"{path}: LiteRT cannot load it ({type(error).__name__}: {error})") from None
        self.lock = threading.Lock()

    def __call__(self, face_inputs: np.ndarray) -> dict[str, np.ndarray]:
        with self.lock:
            outputs = self.runner(**{INPUT_NAME: face_inputs})
            # Copies: the interpreter reuses its output buffers on the next call.
            return {name: np.array(outputs[name]) for name in OUTPUT_NAMES}


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One export format: its file suffix, the runner that reads it (no TensorFlow) and the name of its writer in
    fer.runtime.export_writer (Keras; imported only when writing)."""

    suffix: str
    runner: type
    writer: str

    def write(self, graph, path: Path, calibration: np.ndarray | None) -> dict:
        """Write `graph` (export_writer.export_graph) to `path`; int8 when `calibration` faces are given."""
        from fer.runtime import export_writer

        return getattr(export_writer, self.writer)(graph, path, calibration)


# The one registry of export formats: the CLI (training.export --format), the reader and the writers use it.
FORMATS = {"onnx": ExportFormat(".onnx", OnnxRunner, "write_onnx"),
           "litert": ExportFormat(".tflite", LiteRTRunner, "write_litert")}


class ExportedModel(FaceModel):
    """An export folder with EmotionModel's inference interface: labels, config, face_input_shape, preprocess(),
    logits(), predict_proba(), predict_in_batches(), warm_up() (the shared parts from fer.runtime.base.FaceModel).
    No TensorFlow; explanations need the Keras model.

    threads: intra-op threads of the runtime (None: its default, one per core).
    """

    def __init__(self, folder: str | Path, source: str = "", threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.source = source or str(folder)
        self.config = ModelConfig.load(self.folder / CONFIG_FILE)
        self.manifest = read_manifest(self.folder)
        self.format: str = self.manifest["format"]
        self.files = {mode: self.folder / name for mode, name in self.manifest["files"].items()}
        self.threads = threads
        self._runners: dict[str, OnnxRunner | LiteRTRunner] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ExportedModel({str(self.folder)!r}, format={self.format!r}, tta={list(self.files)})"

    @property
    def tta_modes(self) -> tuple[str, ...]:
        """The test-time augmentation modes this export serves (one graph each)."""
        return tuple(self.files)

    def _runner(self, tta: str):
        runner = self._runners.get(tta)
        if runner is None:
            with self._lock:  # sessions are built once, on first use of their mode
                runner = self._runners.get(tta) or FORMATS[self.format].runner(self.files[tta], self.threads)
                self._runners[tta] = runner
        return runner

    def run(self, face_inputs: np.ndarray, tta: str | None = None) -> dict[str, np.ndarray]:
        """{"probabilities", "logits"} for a batch of face inputs from the graph of `tta` (default: config.tta)."""
        tta = tta or self.config.tta
        if tta not in self.files:
            raise ValueError(f"this export serves tta {', '.join(self.files)}, not {tta!r}; export the model again "
                             f"with --tta {' '.join(sorted({*self.files, tta}))}")
        face_inputs = self.check_face_inputs(face_inputs)
        if face_inputs.shape[0] == 0:
            empty = np.zeros((0, self.config.num_classes), np.float32)
            return {name: empty for name in OUTPUT_NAMES}
        return self._runner(tta)(face_inputs)

    def logits(self, face_inputs: np.ndarray, tta: str | None = None) -> np.ndarray:
        """Mean logits over the TTA views, from the exported graph."""
        return self.run(face_inputs, tta)["logits"]

    def predict_proba(self, face_inputs: np.ndarray, tta: str | None = None,
                      temperature: float | None = None) -> np.ndarray:
        """Calibrated probabilities (N, num_classes): the graph's own, or softmax(logits / temperature)."""
        outputs = self.run(face_inputs, tta)
        if temperature is None:
            return outputs["probabilities"]
        return softmax(outputs["logits"] / temperature)

    def warm_up(self, batch_sizes: Sequence[int] = (1, 4), modes: Sequence[str] | None = None) -> None:
        """Build each mode's session and run it once, so the first real request does not pay for it."""
        for tta in modes or self.files:
            for size in batch_sizes:
                self.predict_proba(np.zeros((size, *self.config.face_input_shape), np.uint8), tta=tta)
