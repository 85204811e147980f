"""Which model files a figure came from: each model folder's ONNX hash (config.json) and a hash of its model.keras.

Every section of benchmarks/results.json records these for the models it measured, and every published table
carries them (benchmarks.report), so a figure cannot pass for one of a model that is no longer the one shipped.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Iterable

from fer.model.config import CONFIG_FILE, MODEL_FILE
from fer.model.sources import bundled_models, resolve_source
from fer.runtime.onnx import RUNTIME_KEY, file_sha256


def model_hashes(source: str | Path) -> dict[str, str | None]:
    """{"onnx": the sha256 config.json records for model.onnx, "keras": the sha256 of model.keras} of a model
    folder (None for a file it does not have), and "gradcam": the recorded sha256 of its gradcam.onnx when it has
    one (the photo path's Grad-CAM runs on it)."""
    folder = resolve_source(source)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        config = {}
    record = config.get("runtimes", {}).get(RUNTIME_KEY)
    keras_file = folder / MODEL_FILE
    hashes = {"onnx": record.get("sha256") if isinstance(record, dict) else None,
              "keras": _file_hash(keras_file.resolve(), *_signature(keras_file)) if keras_file.is_file() else None}
    gradcam = record.get("gradcam") if isinstance(record, dict) else None
    if isinstance(gradcam, dict):
        hashes["gradcam"] = gradcam.get("sha256")
    return hashes


def _signature(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=32)
def _file_hash(path: Path, size: int, mtime_ns: int) -> str:  # size and mtime: a rewritten file is hashed again
    return file_sha256(path)


def measured(sources: Iterable[str | Path]) -> dict[str, dict[str, str | None]]:
    """Hashes of each model a section measured, by the name it was loaded by (a bundled name or a folder)."""
    return {str(source): model_hashes(source) for source in dict.fromkeys(sources)}


def shipped() -> dict[str, dict[str, str | None]]:
    """Hashes of every model shipped in models/ (what a published figure must have been measured with)."""
    return measured(bundled_models())


def mismatches(recorded: dict[str, dict], current: dict[str, dict] | None = None) -> list[str]:
    """Why recorded model hashes are not those of the shipped models (empty when they all are)."""
    current = shipped() if current is None else current
    problems = []
    for name, hashes in recorded.items():
        if name not in current:
            problems.append(f"{name} is not a shipped model")
        elif hashes != current[name]:
            changed = [kind for kind in sorted(set(hashes) | set(current[name]))
                       if hashes.get(kind) != current[name].get(kind)]
            problems.append(f"{name}'s {' and '.join(changed)} file changed since")
    return problems
