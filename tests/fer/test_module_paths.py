"""The modules moved in 0.3.0 keep their old import paths for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

MOVED = {
    "fer.recognizer": ("fer.pipeline", "Recognizer"),
    "fer.config": ("fer.model.config", "ModelConfig"),
    "fer.preprocessing": ("fer.model.preprocessing", "preprocess_face"),
    "fer.hub": ("fer.model.sources", "load_model"),
    "fer.models": ("fer.model.architectures", "build_model"),
    "fer.inference": ("fer.runtime.base", "FaceModel"),
    "fer.exported": ("fer.runtime.export", "ExportedModel"),
    "fer.classifier": ("fer.runtime.keras", "EmotionModel"),
    "fer.model_folder": ("fer.runtime.keras", "load_model_folder"),
    "fer.stream": ("fer.live", "LiveSession"),
    "fer.tracking": ("fer.live", "FaceTracker"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_paths_warn_and_give_the_same_objects(old):
    new, name = MOVED[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_the_public_api_is_unchanged_and_explainer_joins_it():
    import fer
    from fer.explain.maps import Explainer
    from fer.pipeline import Recognizer

    assert fer.Recognizer is Recognizer and fer.Explainer is Explainer
    assert set(fer.__all__) >= {"Recognizer", "FER", "Video", "load_model", "Explainer", "FrameAnalysis"}


def test_detectors_live_in_one_registry():
    from fer.faces import DETECTORS, HaarFaceDetector, YuNetFaceDetector, register_detector

    assert DETECTORS == {"yunet": YuNetFaceDetector, "haar": HaarFaceDetector}
    with pytest.raises(ValueError, match="already registered"):
        register_detector("haar")(type("Other", (), {}))
