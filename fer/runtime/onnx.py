"""OnnxModel: a model folder's network run by ONNX Runtime, without TensorFlow.

training.finalize writes `model.onnx` beside `model.keras`: the bare network (raw 0..255 face inputs of
config.input_shape in, logits out), checked against Keras and recorded in config.json (`runtimes.onnx`) with
its sha256. The test-time views (fer.runtime.base.test_time_views), their mean, the temperature and the softmax
are computed around it, so all faces and all views of an image go through one session call, and one file
serves every TTA mode. An `int8` variant (quantized, judged by its PublicTest accuracy) may sit beside it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fer.model.config import CONFIG_FILE, ModelConfig
from fer.errors import ModelSourceError
from fer.runtime.base import FaceModel, average_views, softmax, test_time_views, view_offsets

RUNTIME_KEY = "onnx"
NETWORK_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
INSTALL_HINT = "pip install onnxruntime"
CLASS_MAPS = "class_maps"  # the output of networks ending in global average pooling (fer.runtime.onnx_writer)
GRADCAM_FILE = "gradcam.onnx"  # Grad-CAM's activations and gradients of a dense-head network (fer.runtime.gradcam_writer)
GRADCAM_INPUTS, GRADCAM_OUTPUTS = ("faces", "targets"), ("activations", "gradients")  # its names, read and written


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_record(config: ModelConfig, precision: str = "float32") -> dict[str, Any] | None:
    """config.json's record of the ONNX file of `precision` ("float32" or "int8"), or None."""
    record = config.runtimes.get(RUNTIME_KEY)
    if not isinstance(record, dict):
        return None
    if precision == "int8":
        record = record.get("int8")
        return record if isinstance(record, dict) else None
    return record


def gradcam_record(config: ModelConfig) -> dict[str, Any] | None:
    """config.json's record of the folder's gradcam.onnx, or None."""
    record = (onnx_record(config) or {}).get("gradcam")
    return record if isinstance(record, dict) else None


def int8_within_limit(config: ModelConfig) -> bool:
    """Whether the folder's int8 file was judged fit for the live paths (its accuracy change within the limit
    training.finalize applies)."""
    record = onnx_record(config, "int8")
    return bool(record and record.get("within_limit"))


def has_onnx(folder: Path, config: ModelConfig, precision: str = "float32") -> bool:
    record = onnx_record(config, precision)
    return record is not None and (Path(folder) / str(record.get("file", ""))).is_file()


NO_SPINNING = ("session.intra_op.allow_spinning", "0")


def open_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session for `path` (ModelSourceError when the runtime or the file is unusable)."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelSourceError(f"{path.name} needs ONNX Runtime: {INSTALL_HINT}") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    # Idle intra-op threads sleep instead of spinning: our calls are short and come between other work (decoding,
    # detection, Gradio's threads), which spinning threads starve on a 2-core machine (benchmarks section 1, the
    # CLI row).
    options.add_session_config_entry(NO_SPINNING[0], NO_SPINNING[1])
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own Fail / InvalidGraph / ... types
        raise ModelSourceError(f"{path}: ONNX Runtime cannot load it ({type(error).__name__}: {error})") from None


class OnnxModel(FaceModel):
    """A model folder served by ONNX Runtime: labels, config, preprocess(), logits(), predict_proba(),
    predict_in_batches(), warm_up() like the Keras EmotionModel; explanations use keras_model().

    precision: "float32" (the checked export) or "int8" (when the folder has one).
    threads: ONNX Runtime's intra-op threads (None: its default, one per core).
    """

    runtime = "onnx"

    def __init__(self, folder: str | Path, config: ModelConfig | None = None, source: str = "",
                 precision: str = "float32", threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.config = config or ModelConfig.load(self.folder / CONFIG_FILE)
        self.source = source or str(folder)
        self.precision = precision
        record = onnx_record(self.config, precision)
        if record is None:
            raise ModelSourceError(f"{self.folder}: config.json records no {precision} ONNX file; write it with "
                                   f"python -m training.finalize {self.folder} --onnx-only")
        self.path = self.folder / str(record.get("file", ""))
        if not self.path.is_file() or self.path.parent != self.folder:
            raise ModelSourceError(f"{self.folder}: the ONNX file {record.get('file')!r} is missing")
        # A changed model.keras without a new export would serve other weights: the hash ties them together.
        if record.get("sha256") != file_sha256(self.path):
            raise ModelSourceError(f"{self.path}: its sha256 is not the one config.json records (a stale or "
                                   f"damaged export); write it again with python -m training.finalize "
                                   f"{self.folder} --onnx-only")
        self.session = open_session(self.path, threads)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != list(self.config.input_shape):
            raise ModelSourceError(f"{self.path}: expected one input of shape (N, "
                                   f"{', '.join(map(str, self.config.input_shape))})")
        self.input_name = inputs[0].name
        outputs = [output.name for output in self.session.get_outputs()]
        self.output_name = "logits" if "logits" in outputs else outputs[0]
        self.has_class_maps = CLASS_MAPS in outputs
        record = gradcam_record(self.config)
        # Grad-CAM without TensorFlow: from the class maps, or from gradcam.onnx (float32 only: it shares
        # model.onnx's weights, and the explanations describe the float network).
        self.has_gradcam = self.has_class_maps or bool(
            precision == "float32" and record and (self.folder / str(record.get("file", ""))).is_file())
        self._gradcam_session = None
        self._gradcam_lock = threading.Lock()
        self._keras = None
        self._keras_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.folder)!r}, precision={self.precision!r})"

    def network_logits(self, inputs: np.ndarray) -> np.ndarray:
        """The network alone on (N, *input_shape) inputs: one session call."""
        return self.session.run([self.output_name], {self.input_name: np.asarray(inputs, np.float32)})[0]

    def logits(self, face_inputs: np.ndarray, tta: str | None = None) -> np.ndarray:
        """Mean logits over the TTA views (config.tta unless given): every face and view in one call."""
        tta = tta or self.config.tta
        face_inputs = self.check_face_inputs(face_inputs)
        if face_inputs.shape[0] == 0:
            return np.zeros((0, self.config.num_classes), np.float32)
        views = len(view_offsets(self.config, tta))
        return average_views(self.network_logits(test_time_views(face_inputs, self.config, tta)), views)

    def predict_proba(self, face_inputs: np.ndarray, tta: str | None = None,
                      temperature: float | None = None) -> np.ndarray:
        temperature = self.config.temperature if temperature is None else temperature
        return softmax(self.logits(face_inputs, tta) / temperature).astype(np.float32)

    def class_activation_maps(self, face_inputs: np.ndarray, classes: Sequence[int]) -> np.ndarray:
        """Grad-CAM of one class per face, (N, *face_input_shape[:2]) in 0..1, placed in the frame (zero outside the
        center the network sees) as fer.explain's Grad-CAM places its maps, without TensorFlow:
        - a network ending in global average pooling and its logits layer: one forward pass; the map is the ReLU
          of the class's weighted feature maps (the "class_maps" output), upsampled, normalized per face;
        - a network with gradcam.onnx (a dense head): its activations and gradients, turned into maps by
          fer.explain.gradcam_from_gradients, the function fer.explain's Explainer uses: the same maps."""
        import cv2

        if not self.has_gradcam:
            raise ModelSourceError(f"{self.path.name} has no class maps (only networks ending in global average "
                                   f"pooling have them) and the folder has no {GRADCAM_FILE}; use "
                                   "fer.explain.Explainer for Grad-CAM")
        face_inputs = self.check_face_inputs(face_inputs)
        classes = [int(c) for c in classes]
        if len(classes) != len(face_inputs):
            raise ValueError(f"got {len(classes)} classes for {len(face_inputs)} faces")
        if any(not 0 <= c < self.config.num_classes for c in classes):
            raise ValueError(f"class indices must be within 0..{self.config.num_classes - 1}, got {classes}")
        frame_h, frame_w = self.config.face_input_shape[:2]
        height, width = self.config.input_shape[:2]
        result = np.zeros((len(face_inputs), frame_h, frame_w), np.float32)
        if not len(face_inputs):
            return result
        inputs = test_time_views(face_inputs, self.config, "none")
        top, left = (frame_h - height) // 2, (frame_w - width) // 2
        if not self.has_class_maps:
            from fer.explain import gradcam_from_gradients

            targets = np.eye(self.config.num_classes, dtype=np.float32)[classes]
            activations, gradients = self.gradcam_session().run(list(GRADCAM_OUTPUTS),
                                                                dict(zip(GRADCAM_INPUTS, (inputs, targets))))
            result[:, top:top + height, left:left + width] = gradcam_from_gradients(activations, gradients,
                                                                                    (height, width))
            return result
        maps = self.session.run([CLASS_MAPS], {self.input_name: inputs})[0]
        for index, (face_maps, target) in enumerate(zip(maps, classes)):
            cam = cv2.resize(np.maximum(face_maps[:, :, target], 0.0), (width, height), interpolation=cv2.INTER_LINEAR)
            low, high = float(cam.min()), float(cam.max())
            result[index, top:top + height, left:left + width] = (cam - low) / (high - low) if high > low else 0.0
        return result

    def gradcam_session(self):
        """The ONNX Runtime session of the folder's gradcam.onnx, opened on first use after checking its sha256 and
        that the model.onnx whose weights it reads is the recorded one (OnnxModel checked that file's hash)."""
        if self._gradcam_session is None:
            with self._gradcam_lock:
                if self._gradcam_session is None:
                    record = gradcam_record(self.config) or {}
                    path = self.folder / str(record.get("file", GRADCAM_FILE))
                    if not self.has_gradcam or not path.is_file():
                        raise ModelSourceError(f"{self.folder}: no {GRADCAM_FILE} recorded in config.json")
                    if record.get("sha256") != file_sha256(path) or record.get("weights_sha256") != file_sha256(
                            self.path):
                        raise ModelSourceError(f"{path}: its sha256, or that of the model.onnx whose weights it "
                                               "reads, is not the one config.json records; write it again with "
                                               f"python -m training.finalize {self.folder} --gradcam-only")
                    self._gradcam_session = open_session(path)
        return self._gradcam_session

    def keras_model(self):
        """The same folder's Keras EmotionModel (TensorFlow loads here, on first use), for explanations."""
        if self._keras is None:
            with self._keras_lock:
                if self._keras is None:
                    from fer.runtime.keras import EmotionModel
                    from fer.runtime.keras import load_model_folder

                    model, config = load_model_folder(self.folder)
                    self._keras = EmotionModel(model, config, source=self.source)
        return self._keras
