"""The writers of export folders' files (Keras's own ONNX and LiteRT exports), beside their reader
fer.runtime.export, which names them in its FORMATS registry. Keras and TensorFlow load with this module."""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np

from fer.runtime.keras import EmotionModel
from fer.runtime.onnx_writer import quantize, require_onnx


def export_graph(model: EmotionModel, tta: str) -> keras.Model:
    """serving_model(tta) with the mean logits beside the probabilities (predict_proba(temperature=...))."""
    graph = model.serving_model(tta)
    # "tta_mean" is the AverageViews layer of fer.runtime.keras.build_serving_model: the logits before temperature.
    outputs = {"probabilities": graph.output, "logits": graph.get_layer("tta_mean").output}
    both = keras.Model(graph.input, outputs, name=f"export_{tta}")
    both(np.zeros((1, *model.face_input_shape), np.float32))  # Keras exports only models that have been called
    return both


def write_onnx(graph: keras.Model, path: Path, calibration: np.ndarray | None) -> dict:
    """Keras's own ONNX export (tf2onnx); int8: static QDQ quantization by ONNX Runtime on `calibration`
    (fer.runtime.onnx_writer.quantize, the same as a model folder's model.int8.onnx)."""
    onnx = require_onnx()

    if calibration is None:
        graph.export(str(path), format="onnx", verbose=False)
    else:
        with tempfile.TemporaryDirectory() as folder:
            float_path = Path(folder) / "float.onnx"
            graph.export(str(float_path), format="onnx", verbose=False)
            quantize(float_path, path, calibration)
    opset = max(entry.version for entry in onnx.load(str(path)).opset_import if entry.domain in ("", "ai.onnx"))
    return {"onnx_opset": opset}


def write_litert(graph: keras.Model, path: Path, calibration: np.ndarray | None) -> dict:
    """Keras's own LiteRT export (tf.lite converter); int8: full-integer weights and activations, float I/O."""
    options = {}
    if calibration is not None:
        import tensorflow as tf

        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))}
    graph.export(str(path), format="litert", verbose=False, **options)
    return {}
