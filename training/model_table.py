"""python -m training.model_table [--update README.md]: the README's model table, from each models/*/config.json."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fer.config import ModelConfig
from fer.hub import BUNDLED_MODELS_DIR
from fer.model_folder import CONFIG_FILE, MODEL_FILE

START, END = "<!-- MODEL TABLE -->", "<!-- /MODEL TABLE -->"


def model_rows(models_dir: Path = BUNDLED_MODELS_DIR) -> list[str]:
    rows = []
    for folder in sorted(p for p in models_dir.iterdir() if (p / CONFIG_FILE).is_file()):
        config = ModelConfig.load(folder / CONFIG_FILE)
        metrics = config.metrics
        size_mb = (folder / MODEL_FILE).stat().st_size / 2**20
        accuracy = f"{metrics['accuracy']:.4f}" if "accuracy" in metrics else "not measured"
        macro_f1 = f"{metrics['macro_f1']:.4f}" if "macro_f1" in metrics else "–"
        status = "" if metrics.get("complete", True) else " (run incomplete)"
        epochs = f"{config.training.get('epochs_completed', metrics.get('epoch', '?'))}/{config.training.get('epochs', '?')}"
        rows.append(
            f"| `{folder.name}` | {config.architecture}, {config.input_shape[0]}x{config.input_shape[1]} grey, "
            f"{len(config.labels)} classes | {metrics.get('dataset', '?')} {metrics.get('split', '?')} "
            f"(n = {metrics.get('n', '?')}) | {accuracy}{status} | {macro_f1} | {epochs} | {size_mb:.1f} MB | "
            f"`{config.training.get('command', '?')}` |"
        )
    return rows


def model_table(models_dir: Path = BUNDLED_MODELS_DIR) -> str:
    header = ["| model | network | measured on | accuracy | macro-F1 | epochs | size | reproduce |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    return "\n".join(header + model_rows(models_dir))


def update_readme(path: Path, table: str) -> None:
    text = path.read_text()
    block = f"{START}\n{table}\n{END}"
    pattern = re.compile(re.escape(START) + r"(.*?" + re.escape(END) + r")?", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {START} marker")
    path.write_text(pattern.sub(lambda _: block, text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.model_table", description=__doc__)
    parser.add_argument("--update", type=Path, help="rewrite the table between the markers in this file")
    args = parser.parse_args(argv)
    table = model_table()
    if args.update:
        update_readme(args.update, table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
