"""python -m training.model_table [--update README.md]: the README's model table, from each models/*/config.json
(the commands that made each model are in its card and runs/README.md)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fer.model.config import ModelConfig
from fer.model.sources import BUNDLED_MODELS_DIR
from fer.model.config import CONFIG_FILE, MODEL_FILE

START, END = "<!-- MODEL TABLE -->", "<!-- /MODEL TABLE -->"


def model_rows(models_dir: Path = BUNDLED_MODELS_DIR) -> list[str]:
    rows = []
    for folder in sorted(p for p in models_dir.iterdir() if (p / CONFIG_FILE).is_file()):
        config = ModelConfig.load(folder / CONFIG_FILE)
        metrics = config.metrics
        size_mb = sum((folder / name).stat().st_size for name in (MODEL_FILE, "model.onnx")
                      if (folder / name).is_file()) / 2**20
        adjustment = (config.training.get("logit_adjustment") or {}).get("tau")
        inference = metrics.get("tta", config.tta) + (f", logit adj. {adjustment:g}" if adjustment else "")
        accuracy = (f"{metrics['accuracy']:.2%} ({inference})" if "accuracy" in metrics else "not measured")
        if not metrics.get("complete", True):
            accuracy += " (run incomplete)"
        data = f"{metrics.get('dataset', '?').split(' (')[0]}, {len(config.labels)} classes"
        network = metrics.get("network")
        cost = (f"{network['parameters'] / 1e6:.2f}M params, {network['multiply_adds_per_view'] / 1e6:.0f}M MACs x "
                f"{network['views']}" if network else "-")
        speed = (metrics.get("speed") or {}).get("short", "-")
        rows.append(f"| [`{folder.name}`](models/{folder.name}/README.md) | {data} | {accuracy}, "
                    f"{metrics.get('split', '?')} | {metrics.get('macro_f1', float('nan')):.3f} | {cost} | "
                    f"{size_mb:.1f} MB | {speed} |")
    return rows


def model_table(models_dir: Path = BUNDLED_MODELS_DIR) -> str:
    header = ["| model | data | accuracy (TTA), split | macro-F1 | network per face | size (Keras + ONNX) | speed |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
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
