"""serve.engine: a server's models, loaded once with their recognizers and explainer, cached by source."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_model_folder
from serve.engine import MAX_FACES, MAX_STREAM_FACES, STREAM_DETECTION_SIDE, Engine, EngineCache
from fer.errors import FerError
from fer.model.sources import DEFAULT_MODEL

pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match:UserWarning")


def test_settings_come_from_arguments_then_the_environment_then_the_defaults(monkeypatch):
    monkeypatch.delenv("FER_MODEL", raising=False)
    monkeypatch.delenv("FER_DETECTOR", raising=False)
    cache = EngineCache()
    assert (cache.default_source(), cache.detector_name()) == (DEFAULT_MODEL, "yunet")
    monkeypatch.setenv("FER_MODEL", " some/folder ")
    monkeypatch.setenv("FER_DETECTOR", "haar")
    assert (cache.default_source(), cache.detector_name()) == ("some/folder", "haar")  # read on each call
    assert (EngineCache("other", "yunet").default_source(), EngineCache("other", "yunet").detector_name()) == (
        "other", "yunet")
    with pytest.raises(ValueError, match="size must be at least 1"):
        EngineCache(size=0)


def test_an_engine_is_loaded_once_and_the_oldest_leaves_first(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_MODEL", str(tiny_model_dir))
    cache = EngineCache(size=1)
    engine = cache.get(None)
    assert cache.get(f" {tiny_model_dir} ") is engine and cache.get("") is engine  # blank: the default
    assert engine.recognizer.max_faces == MAX_FACES
    stream = engine.stream_recognizer
    assert (stream.max_faces, stream.settings.max_side, stream.tta) == (MAX_STREAM_FACES, STREAM_DETECTION_SIDE, "flip")
    assert stream.model is engine.model and engine.explainer.model is engine.model  # one model, three users
    other = cache.get(str(make_model_folder(tmp_path / "other", seed=1)))
    assert other is not engine
    assert cache.get(str(tiny_model_dir)) is not engine  # evicted by the second model, so loaded again
    with pytest.raises(FerError, match="unknown model source"):
        cache.get("no-such-model")


def test_warm_up_and_card(tiny_model_dir):
    engine = Engine.load(str(tiny_model_dir), "yunet")
    engine.warm_up()
    card = engine.card()
    assert card.startswith(f"**{tiny_model_dir}** · cnn · input 48×48 grey · detector yunet · labels: angry,")
    assert "accuracy **50.0%** on synthetic test data, split **PublicTest** (n = 10)" in card
    assert engine.recognizer.analyze_frame(np.zeros((60, 80, 3), np.uint8)).kept == 0


def test_the_card_escapes_the_source(tiny_model_dir):
    engine = Engine.load(str(tiny_model_dir))
    engine.source = "<b>folder</b>"  # a source typed by a visitor is shown on the page
    assert engine.card().startswith("**&lt;b&gt;folder&lt;/b&gt;**")


def test_the_webcam_runs_flip_unless_the_single_view_measured_as_accurate():
    from fer.model.config import ModelConfig
    from serve.engine import stream_tta

    def config(**by_tta):
        return ModelConfig("cnn", ["a", "b"], [48, 48, 1], "x", metrics={"accuracy_by_tta": by_tta})

    assert stream_tta(config(none=0.80, flip=0.81)) == "flip"
    assert stream_tta(config(none=0.8182, flip=0.8159, ten_crop=0.8193)) == "none"
    assert stream_tta(ModelConfig("cnn", ["a", "b"], [48, 48, 1], "x")) == "flip"  # nothing measured


def test_only_a_default_explanation_that_needs_gradients_needs_the_explainer(tiny_model_dir):
    assert Engine.load(str(tiny_model_dir)).default_explanation_needs_tensorflow()  # Keras only: no gradcam.onnx
    shipped = Engine.load(DEFAULT_MODEL)
    assert shipped.model.has_gradcam and not shipped.default_explanation_needs_tensorflow()


STARTUP_SCRIPT = """
import json, sys, time
sys.argv = ["app.py"]
import app
app.warm_up()
time.sleep(2)  # a background explainer load would have imported TensorFlow by now
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {"tensorflow", "tf_keras_vis"})))
"""


def test_the_app_starts_without_tensorflow_when_its_models_explain_on_onnx_runtime(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for name in ("FER_MODEL", "FER_STREAM_MODEL", "FER_DETECTOR"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
