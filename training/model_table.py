"""python -m training.model_table [--update README.md]: the README's model table, from each models/*/config.json
(the commands that made each model are in its card and runs/README.md).

python -m training.model_table --per-class [--folder PATH ...] [--update docs/models.md]: the architectures side by
side as the literature reports them (one table per dataset: accuracy, macro-F1, recall of each class, parameters,
ms per face), from the shipped folders and any other model folder given (e.g. a ResNet50 kept outside git)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fer.model.config import ModelConfig
from fer.model.sources import BUNDLED_MODELS_DIR
from fer.model.config import CONFIG_FILE, MODEL_FILE

START, END = "<!-- MODEL TABLE -->", "<!-- /MODEL TABLE -->"
# Trained models kept outside models/ (their weights are too big for git) whose committed cards join the
# architecture tables: the seeds compare a ResNet50 with the custom CNN.
COMPARED_RUNS = tuple(Path(__file__).resolve().parent.parent / "runs" / name / "model"
                      for name in ("ferplus-resnet50", "fer2013-resnet50"))
PER_CLASS_START, PER_CLASS_END = "<!-- PER-CLASS TABLE -->", "<!-- /PER-CLASS TABLE -->"


def model_rows(models_dir: Path = BUNDLED_MODELS_DIR) -> list[str]:
    rows = []
    for folder in model_folders(models_dir):
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


def model_folders(models_dir: Path = BUNDLED_MODELS_DIR, extra: list[Path] | None = None) -> list[Path]:
    shipped = sorted(p for p in models_dir.iterdir() if (p / CONFIG_FILE).is_file())
    missing = [str(folder) for folder in extra or [] if not (folder / CONFIG_FILE).is_file()]
    if missing:
        raise ValueError(f"not model folders (no {CONFIG_FILE}): {', '.join(missing)}")
    return shipped + list(extra or [])


def compared_folders(extra: list[Path] | None = None) -> list[Path]:
    """The shipped folders, the COMPARED_RUNS whose cards are here, and `extra`."""
    return model_folders(extra=[p for p in COMPARED_RUNS if (p / CONFIG_FILE).is_file()] + list(extra or []))


def per_class_tables(folders: list[Path]) -> str:
    """One markdown table per dataset (its labels in order): each model's accuracy with its TTA, macro-F1, recall of
    every class, parameters and ms per face, on the split its card names."""
    by_dataset: dict[tuple[str, tuple[str, ...]], list[tuple[str, ModelConfig]]] = {}
    for folder in folders:
        config = ModelConfig.load(folder / CONFIG_FILE)
        if "per_class" not in config.metrics:
            continue
        dataset = config.metrics.get("dataset", "?").split(" (")[0]
        # A run's folder is runs/NAME/model: the run names it.
        name = folder.parent.name if folder.name == "model" else folder.name
        by_dataset.setdefault((dataset, tuple(config.labels)), []).append((name, config))
    tables = []
    for (dataset, labels), configs in by_dataset.items():
        split = ", ".join(sorted({config.metrics.get("split", "?") for _, config in configs}))
        lines = [f"**{dataset}**, {split} (recall per class)", "",
                 "| model | architecture | accuracy (TTA) | macro-F1 | " + " | ".join(labels) + " | parameters | ms per face |",
                 "| --- | --- | --- | --- | " + " | ".join("---" for _ in labels) + " | --- | --- |"]
        for name, config in configs:
            metrics = config.metrics
            recall = [f"{metrics['per_class'][label]['recall']:.2f}" for label in labels]
            network = metrics.get("network")
            parameters = f"{network['parameters'] / 1e6:.2f}M" if network else "-"
            speed = (metrics.get("speed") or {}).get("short", "-").replace("/face", "").replace(" ms", "")
            lines.append(f"| `{name}` | {config.architecture} | {metrics['accuracy']:.2%} "
                         f"({metrics.get('tta', config.tta)}) | {metrics.get('macro_f1', float('nan')):.3f} | "
                         + " | ".join(recall) + f" | {parameters} | {speed} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def update_readme(path: Path, table: str, start: str = START, end: str = END) -> None:
    text = path.read_text()
    block = f"{start}\n{table}\n{end}"
    pattern = re.compile(re.escape(start) + r"(.*?" + re.escape(end) + r")?", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {start} marker")
    path.write_text(pattern.sub(lambda _: block, text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.model_table", description=__doc__)
    parser.add_argument("--update", type=Path, help="rewrite the table between the markers in this file")
    parser.add_argument("--per-class", action="store_true",
                        help="the architectures side by side per dataset (recall of each class), not the model table")
    parser.add_argument("--folder", type=Path, action="append", default=[],
                        help="with --per-class: another model folder to include (repeatable)")
    args = parser.parse_args(argv)
    if args.folder and not args.per_class:
        parser.error("--folder goes with --per-class")
    try:
        table = per_class_tables(compared_folders(args.folder)) if args.per_class else model_table()
    except ValueError as error:
        parser.error(str(error))
    if args.update:
        markers = (PER_CLASS_START, PER_CLASS_END) if args.per_class else (START, END)
        update_readme(args.update, table, *markers)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
