"""fer: facial expression recognition with explainable, CPU-fast Keras models."""

import os

# TensorFlow's C++ start-up chatter hides real messages; users can still override this.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer.errors import DataFormatError, FerError, ImageError, ModelSourceError  # noqa: E402
from fer.labels import FER2013_LABELS, FERPLUS_LABELS  # noqa: E402

__all__ = [
    "FER2013_LABELS", "FERPLUS_LABELS", "FerError", "DataFormatError", "ImageError", "ModelSourceError",
    "load_model", "build_model", "list_models", "Recognizer", "FacePrediction", "FrameAnalysis", "preprocess_face",
    "Explainer",
    "FER", "Video", "__version__",
]
__version__ = "0.3.0"

# TensorFlow loads lazily: `import fer` stays cheap until a model is needed.
_LAZY = {
    "load_model": "fer.model.sources",
    "build_model": "fer.model.architectures",
    "list_models": "fer.model.architectures",
    "Recognizer": "fer.pipeline",
    "FacePrediction": "fer.pipeline",
    "FrameAnalysis": "fer.pipeline",
    "Explainer": "fer.explain",  # TensorFlow loads with it
    "preprocess_face": "fer.model.preprocessing",
    # The PyPI `fer` package's API, so code written for it runs unchanged (fer.compat).
    "FER": "fer.compat",
    "Video": "fer.compat",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fer' has no attribute {name!r}")
