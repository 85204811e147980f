"""python -m training.publish: push a model folder with its model card to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer.errors import FerError
from fer.model.sources import parse_hf_source
from fer.model.config import CONFIG_FILE, MODEL_FILE
from fer.runtime.keras import load_model_folder
from fer.runtime.onnx import GRADCAM_FILE, INT8_FILE, NETWORK_FILE, OnnxModel, has_onnx
from training.card import write_model_card

PUBLISHED_FILES = [MODEL_FILE, CONFIG_FILE, NETWORK_FILE, INT8_FILE, GRADCAM_FILE, "README.md", "learning_curve.png",
                   "confusion_matrix.png"]


def publish(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
            api=None) -> str:
    """Check the folder loads, write its card, create the repo and upload; return the commit sha to pin."""
    folder = Path(folder)
    parse_hf_source(f"hf://{repo_id}")  # same validation as loading, so what we publish can be loaded
    _, config = load_model_folder(folder)
    # The Hub copy serves like the bundled models: its checked ONNX file must be there and match its hash.
    if not has_onnx(folder, config):
        raise FerError(f"{folder}: no checked model.onnx recorded in config.json; write it first with "
                       f"python -m training.finalize {folder} --onnx-only")
    OnnxModel(folder, config)  # ModelSourceError when the file's sha256 is not the recorded one
    write_model_card(folder, config, repo_id)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        allow_patterns=PUBLISHED_FILES,
        commit_message=f"Upload {config.architecture} ({config.metrics.get('split', '?')} accuracy "
                       f"{config.metrics.get('accuracy', float('nan')):.4f})",
    )
    return getattr(commit, "oid", None) or str(commit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__)
    parser.add_argument("folder", help="model folder, e.g. models/fer2013-cnn")
    parser.add_argument("repo_id", help="owner/name on the Hugging Face Hub")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--token", help="defaults to HF_TOKEN / the cached login")
    args = parser.parse_args(argv)
    try:
        sha = publish(args.folder, args.repo_id, args.private, args.token)
    except FerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # network / auth failures from huggingface_hub: report, do not trace
        print(f"error: upload to {args.repo_id} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"published {args.folder} to https://huggingface.co/{args.repo_id}")
    print(f"commit {sha}\nload it pinned with: hf://{args.repo_id}@{sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
