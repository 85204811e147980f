"""Model sources: load_model() from a local folder, a bundled model name, or hf://owner/repo@revision."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from fer.errors import ModelSourceError
from fer.runtime.export import ExportedModel, is_export_folder

if TYPE_CHECKING:
    from fer.runtime.keras import EmotionModel
    from fer.runtime.onnx import OnnxModel

# fer.runtime.keras imports Keras and TensorFlow: it loads only for a model run on Keras, so the ONNX runtime
# and exported models (fer.runtime.export) run without them.

# An installed package carries the models as fer/bundled_models; a source checkout has them in models/.
_PACKAGE = Path(__file__).resolve().parent.parent  # fer/
_INSTALLED_MODELS = _PACKAGE / "bundled_models"
BUNDLED_MODELS_DIR = _INSTALLED_MODELS if _INSTALLED_MODELS.is_dir() else _PACKAGE.parent / "models"
# The default is the bundled model that does best on real photographs, not the one with the higher FER-2013
# PublicTest figure (benchmarks/accuracy.py compares them; docs/models.md has the figures).
DEFAULT_MODEL = "ferplus-cnn"
HF_PREFIX = "hf://"
# Hub repo ids: owner/name, letters, digits, '-', '_', '.', no leading/trailing separators, <= 96 chars.
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HF_SOURCE = re.compile(rf"^hf://(?P<repo>{_REPO_PART}/{_REPO_PART})(?:@(?P<revision>[A-Za-z0-9._/-]{{1,200}}))?$")

ACCEPTED_FORMS = (
    "a local model folder (containing model.keras, config.json and usually model.onnx)",
    "an exported model folder (export.json, config.json and .onnx or .tflite files from `python -m training.export`)",
    f"a bundled model name ({', '.join(n for n in ('fer2013-cnn', 'ferplus-cnn'))} ...)",
    "hf://owner/repo or hf://owner/repo@revision (a commit sha, tag or branch)",
)


def parse_hf_source(source: str) -> tuple[str, str | None]:
    """Split 'hf://owner/repo@revision' into (repo_id, revision or None); raise on malformed ids."""
    # fullmatch, not match: the pattern's `$` also matches before a trailing newline.
    match = _HF_SOURCE.fullmatch(source)
    # No ".." in the repo or the revision: git refs cannot hold it, and a revision names a path in the HF cache.
    if not match or ".." in source or "--" in match.group("repo"):
        raise ModelSourceError(
            f"malformed Hugging Face source {source!r}: expected hf://owner/repo or hf://owner/repo@revision"
        )
    return match.group("repo"), match.group("revision")


def bundled_models() -> list[str]:
    """Names of the model folders shipped in models/."""
    from fer.model.config import MODEL_FILE

    if not BUNDLED_MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_MODELS_DIR.iterdir() if (p / MODEL_FILE).is_file())


def resolve_source(source: str | Path) -> Path:
    """Turn any accepted source into a local model folder, downloading from the Hub if needed."""
    text = str(source).strip()
    if text.startswith(HF_PREFIX):
        repo_id, revision = parse_hf_source(text)
        return download_from_hub(repo_id, revision)
    path = Path(text).expanduser()
    if text and path.is_dir():
        return path
    if text and "/" not in text and (BUNDLED_MODELS_DIR / text).is_dir():
        return BUNDLED_MODELS_DIR / text
    accepted = "\n  - ".join(ACCEPTED_FORMS)
    raise ModelSourceError(f"unknown model source {text!r}; accepted forms:\n  - {accepted}")


def download_from_hub(repo_id: str, revision: str | None = None) -> Path:
    """snapshot_download the model folder files; reuses the HF cache and honours HF_TOKEN / HF_HUB_OFFLINE."""
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from fer.model.config import CONFIG_FILE, MODEL_FILE

    try:
        folder = huggingface_hub.snapshot_download(
            repo_id=repo_id,
            revision=revision,
            allow_patterns=[MODEL_FILE, CONFIG_FILE, "README.md", "*.onnx"],
        )
    except RepositoryNotFoundError:
        raise ModelSourceError(f"hf://{repo_id}: repository not found (or private without a token in HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ModelSourceError(f"hf://{repo_id}@{revision}: revision not found") from None
    except LocalEntryNotFoundError:
        raise ModelSourceError(
            f"hf://{repo_id}@{revision or 'main'}: not in the local Hugging Face cache and the Hub cannot be reached"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise ModelSourceError(f"hf://{repo_id}: download failed: {error}") from None
    return Path(folder)


RUNTIMES = ("auto", "onnx", "keras")


def load_model(source: str | Path = DEFAULT_MODEL, runtime: str = "auto",
               precision: str = "float32") -> EmotionModel | ExportedModel | OnnxModel:
    """Load a model from any accepted source (see ACCEPTED_FORMS).

    A model folder runs on ONNX Runtime (OnnxModel: its checked model.onnx, no TensorFlow) when runtime is
    "auto" and both the file and onnxruntime are there, else on Keras (EmotionModel); "onnx" or "keras" insist.
    precision "int8" picks the folder's quantized ONNX file (ONNX Runtime only); "auto" picks it when its recorded
    accuracy change is within the live paths' limit, else float32 (the webcam and other live paths use
    "auto"). An export folder from
    training.export gives an ExportedModel (ONNX Runtime or LiteRT) whatever runtime says."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if precision not in ("float32", "int8", "auto"):
        raise ValueError(f"precision must be 'float32', 'int8' or 'auto', got {precision!r}")
    folder = resolve_source(source)
    if is_export_folder(folder):
        return ExportedModel(folder, source=str(source))
    if runtime != "keras":
        from fer.model.config import CONFIG_FILE, ModelConfig
        from fer.runtime.onnx import OnnxModel, has_onnx, int8_within_limit, onnxruntime_available

        config = ModelConfig.load(folder / CONFIG_FILE)
        if precision == "auto":
            precision = "int8" if int8_within_limit(config) and has_onnx(folder, config, "int8") else "float32"
        if has_onnx(folder, config, precision) and (runtime == "onnx" or onnxruntime_available()):
            return OnnxModel(folder, config, source=str(source), precision=precision)
        if runtime == "onnx" or precision != "float32":
            raise ModelSourceError(f"{source}: no {precision} ONNX file recorded in its config.json (write it with "
                                   f"python -m training.finalize FOLDER --onnx-only)")
    try:
        from fer.runtime.keras import EmotionModel
        from fer.runtime.keras import load_model_folder
    except ImportError as error:  # a TensorFlow-free install (pip install "fer-explain[onnx]")
        raise ModelSourceError(f"{source}: this model folder has no ONNX file and a Keras model folder needs "
                               f"TensorFlow and Keras ({error}); install them with pip install "
                               "'fer-explain[keras]'") from None

    model, config = load_model_folder(folder)
    return EmotionModel(model, config, source=str(source))
