"""python -m benchmarks.cards: each shipped model's measured speed into its card and the README's model table.

From the `throughput` section of benchmarks/results.json, and only when that section was a full run with the model
files shipped now (the same rule as the published tables): faces/s with one face per call in the model's own TTA
mode on ONNX Runtime (float32, and int8 where the live paths use it). Writes `metrics.speed` into each config.json
(not the weights: the model hashes stay), the card, and the README's model table."""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
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
        parts = [f"{fps:,.0f} faces/s ({1000 / fps:.1f} ms per face) in {precision}" for precision, fps in measured.items()]
        best = max(measured.values())
        config.metrics["speed"] = {
            "text": f"one face per call, {config.tta} TTA, ONNX Runtime on this project's 2-core CPU: " + "; ".join(parts),
            "short": f"{1000 / best:.1f} ms/face", "benchmark": "python -m benchmarks.run --only throughput",
            "measured": date, "faces_per_second": measured}
        config.save(folder / CONFIG_FILE)
        write_model_card(folder, config)
        print(f"{folder.name}: {config.metrics['speed']['text']}")
    update_readme(README, model_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
