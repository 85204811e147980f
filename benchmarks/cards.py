"""python -m benchmarks.cards: each shipped model's measured speed into its card and the README's model table.

python -m benchmarks.cards --folder PATH: time one model folder kept outside models/ (e.g. a ResNet50 too big for
git) the same way as the throughput section (one face per call, its own TTA, as load_model() serves it) and write
the figure into its config.json and card, for the architecture tables (python -m training.model_table --per-class).

From the `throughput` section of benchmarks/results.json, and only when that section was a full run with the model
files shipped now (the same rule as the published tables): faces/s with one face per call in the model's own TTA
mode on ONNX Runtime (float32, and int8 where the live paths use it). Writes `metrics.speed` into each config.json
(not the weights: the model hashes stay), the card, and the README's model table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import provenance, report
from fer.model.config import CONFIG_FILE, ModelConfig
from fer.model.sources import BUNDLED_MODELS_DIR

README = Path(__file__).resolve().parent.parent / "README.md"


def speeds(section: dict, name: str, tta: str) -> dict[str, float]:
    """Faces/s at batch 1 by precision, for `name` in its own TTA mode."""
    return {row.get("precision", "float32"): row["faces_per_second"][1] for row in section.get("rows", [])
            if row["model"] == name and row["tta"] == tta}


def speed_record(tta: str, measured: dict[str, float], date: str, benchmark: str) -> dict:
    parts = [f"{fps:,.0f} faces/s ({1000 / fps:.1f} ms per face) in {precision}" for precision, fps in measured.items()]
    best = max(measured.values())
    return {"text": f"one face per call, {tta} TTA, ONNX Runtime on this project's 2-core CPU: " + "; ".join(parts),
            "short": f"{1000 / best:.1f} ms/face", "benchmark": benchmark, "measured": date,
            "faces_per_second": measured}


def time_folder(folder: Path, repeats: int = 30) -> dict:
    """Faces/s at batch 1 in the folder's own TTA, on the example photos' faces, as load_model() serves it."""
    import datetime

    from benchmarks.frames import example_faces
    from benchmarks.timing import measure
    from fer.model.sources import load_model
    from training.card import write_model_card

    model = load_model(folder)
    runtime = getattr(model, "runtime", "keras")
    if runtime != "onnx":
        raise ValueError(f"{folder}: served by {runtime}, not ONNX Runtime; write its model.onnx first "
                         f"(python -m training.finalize {folder} --onnx-only)")
    batch = model.preprocess([example_faces()[0].image])
    timing = measure(lambda: model.predict_proba(batch), repeats, warmup=3)
    precision = getattr(model, "precision", "float32")
    config = model.config
    config.metrics["speed"] = speed_record(config.tta, {precision: round(1 / timing.median, 1)},
                                           datetime.date.today().isoformat(),
                                           f"python -m benchmarks.cards --folder {folder}")
    config.save(Path(folder) / CONFIG_FILE)
    write_model_card(folder, config)
    return config.metrics["speed"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="time this model folder instead (see above)")
    args = parser.parse_args(argv)
    if args.folder:
        print(f"{args.folder}: {time_folder(args.folder)['text']}")
        return 0
    from training.card import write_model_card
    from training.model_table import model_table, update_readme

    results = report.load_results()
    section = results.get("sections", {}).get("throughput")
    problem = report.unpublishable(section, provenance.shipped())
    if problem:
        print(f"error: the throughput figures cannot go into the cards: {problem}", file=sys.stderr)
        return 2
    date = section.get("measured", {}).get("date", "?")
    for folder in sorted(p for p in BUNDLED_MODELS_DIR.iterdir() if (p / CONFIG_FILE).is_file()):
        config = ModelConfig.load(folder / CONFIG_FILE)
        measured = speeds(section, folder.name, config.tta)
        if not measured:
            continue
        config.metrics["speed"] = speed_record(config.tta, measured, date, "python -m benchmarks.run --only throughput")
        config.save(folder / CONFIG_FILE)
        write_model_card(folder, config)
        print(f"{folder.name}: {config.metrics['speed']['text']}")
    update_readme(README, model_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
