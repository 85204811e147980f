"""python -m training.model_table [--update README.md]: the README's model table, from each models/*/config.json."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fer.config import ModelConfig
from fer.hub import BUNDLED_MODELS_DIR
from fer.config import CONFIG_FILE, MODEL_FILE

START, END = "<!-- MODEL TABLE -->", "<!-- /MODEL TABLE -->"


def model_rows(models_dir: Path = BUNDLED_MODELS_DIR) -> list[str]:
    rows = []
    for folder in sorted(p for p in models_dir.iterdir() if (p / CONFIG_FILE).is_file()):
        config = ModelConfig.load(folder / CONFIG_FILE)
        metrics = config.metrics
        size_mb = (folder / MODEL_FILE).stat().st_size / 2**20
        training = config.training
        adjustment = (training.get("logit_adjustment") or {}).get("tau")
        inference = metrics.get("tta", config.tta) + (f", logit adjustment {adjustment:g}" if adjustment else "")
        accuracy = f"{metrics['accuracy']:.4f} ({inference})" if "accuracy" in metrics else "not measured"
        macro_f1 = f"{metrics['macro_f1']:.4f}" if "macro_f1" in metrics else "–"
        status = "" if metrics.get("complete", True) else " (run incomplete)"
        epochs = f"{training.get('epochs_completed', metrics.get('epoch', '?'))}/{training.get('epochs', '?')}"
        if training.get("train_minutes") is not None:
            epochs += f", {training['train_minutes']:.0f} min"
        height, width, channels = config.input_shape
        network = f"{config.architecture}, {height}x{width}"
        if config.crop_pct != 1.0:
            network += f" of {config.frame_shape[0]}x{config.frame_shape[1]}"
        network += f" {'grey' if channels == 1 else 'RGB'}, {len(config.labels)} classes"
        rows.append(
            f"| `{folder.name}` | {network} | {metrics.get('dataset', '?')} {metrics.get('split', '?')} "
            f"(n = {metrics.get('n', '?')}) | {accuracy}{status} | {macro_f1} | {epochs} | {size_mb:.1f} MB | "
            f"`{training.get('command', '?')}`"
            + (f", then `python -m training.finalize {training.get('out', folder)} --logit-adjustment {adjustment:g}`"
               if adjustment else "") + " |"
        )
    return rows


def model_table(models_dir: Path = BUNDLED_MODELS_DIR) -> str:
    header = ["| model | network | measured on | accuracy (TTA) | macro-F1 | epochs, training time | size | reproduce |",
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
