"""Shared fixtures: tiny model folders built in temp dirs, the example photo, the optional real data."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "fer2013"
FER2013_CSV = DATA_DIR / "fer2013.csv.gz"
FERPLUS_CSV = DATA_DIR / "fer2013new.csv"

# A small cnn so tests build, save and run models in about a second.
TINY_CNN = dict(filters=(8, 16), dense_units=(16,), block_dropout=0.0, head_dropout=0.0, grad_cam_block=2)


def make_model_folder(folder: Path, labels=None, seed: int = 0, input_size: int = 48, onnx: bool = False,
                      gradcam: bool = False, **options) -> Path:
    """Build an untrained tiny cnn and write it as a model folder (model.keras + config.json; with onnx=True
    also its checked model.onnx, as training.finalize writes it, and with gradcam=True its gradcam.onnx).

    input_size < 48 makes a model of center crops of 48x48 face frames (crop_pct = input_size / 48)."""
    import keras

    from fer.model.config import ModelConfig
    from fer.labels import FER2013_LABELS
    from fer.runtime.keras import save_model_folder
    from fer.model.architectures import build_model

    labels = list(labels or FER2013_LABELS)
    keras.utils.set_random_seed(seed)
    built = build_model("cnn", len(labels), (input_size, input_size, 1), **{**TINY_CNN, **options})
    config = ModelConfig("cnn", labels, [input_size, input_size, 1], built.last_conv_layer,
                         architecture_options=built.options, crop_pct=input_size / 48,
                         tta="flip" if input_size == 48 else "ten_crop",
                         metrics={"accuracy": 0.5, "split": "PublicTest", "dataset": "synthetic test data", "n": 10})
    save_model_folder(built.model, config, folder)
    if onnx:
        import numpy as np

        from fer.runtime.keras import EmotionModel
        from fer.runtime.onnx_writer import write_onnx

        frames = np.random.default_rng(seed).integers(0, 256, (16, *config.face_input_shape), dtype=np.uint8)
        write_onnx(EmotionModel(built.model, config), folder, frames, "random frames")
        if gradcam:
            from fer.runtime.onnx_writer import write_gradcam_onnx

            write_gradcam_onnx(EmotionModel(built.model, config), folder, frames, "random frames")
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A FER-2013-labeled tiny model folder, shared by the session (do not modify it)."""
    return make_model_folder(tmp_path_factory.mktemp("models") / "tiny-fer2013")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from fer.model.sources import load_model

    return load_model(tiny_model_dir)


@pytest.fixture(scope="module")
def recognizer(tiny_model):
    """Recognizer() on the tiny model (YuNet, the library's defaults)."""
    from fer.pipeline import Recognizer

    return Recognizer(tiny_model)


@pytest.fixture(scope="session")
def face_photo_path() -> Path:
    """Grace Hopper's portrait (public domain, from matplotlib's sample data): one frontal face."""
    return EXAMPLES / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def face_photo(face_photo_path):
    from fer.images import load_image

    return load_image(face_photo_path)


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory):
    """A fer2013.csv with 70 Training and 28 PublicTest rows whose brightness depends on the class."""
    import numpy as np

    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"]
    for usage, count in (("Training", 70), ("PublicTest", 28)):
        for i in range(count):
            label = i % 7
            face = np.clip(rng.normal(30 + 30 * label, 10, 2304), 0, 255).astype(int)
            lines.append(f"{label},{' '.join(map(str, face))},{usage}")
    path = tmp_path_factory.mktemp("data") / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


needs_data = pytest.mark.skipif(not FER2013_CSV.is_file(), reason="../shared/data/fer2013 is not on this machine")
