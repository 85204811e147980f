"""python -m training.evaluate: accuracy, F1, confusion matrix and calibration of a model on any split."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer.runtime.keras import EmotionModel  # noqa: E402
from fer.model.config import TTA_MODES  # noqa: E402
from fer.data import SPLITS, FaceDataset, load_dataset  # noqa: E402
from fer.errors import FerError  # noqa: E402
from fer.model.sources import load_model  # noqa: E402
from training.metrics import classification_metrics, format_table  # noqa: E402


def evaluate(model: EmotionModel, dataset: FaceDataset, tta: str | None = None,
             temperature: float | None = None) -> dict:
    """Metrics of `model` on `dataset` with the model's configured inference unless overridden."""
    if list(dataset.label_names) != list(model.labels):
        raise FerError(
            f"the model's labels {list(model.labels)} differ from the data's {list(dataset.label_names)}; "
            "evaluate FER+ models with --ferplus and FER-2013 models without it"
        )
    images = model.preprocess(dataset.images)
    probabilities = model.predict_in_batches(images, tta=tta, temperature=temperature)
    metrics = classification_metrics(probabilities, dataset.labels, model.labels)
    metrics["tta"] = tta or model.config.tta
    metrics["temperature"] = model.config.temperature if temperature is None else temperature
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--model", required=True, help="model folder, bundled name or hf://owner/repo@revision")
    parser.add_argument("--data", required=True, help="fer2013.csv[.gz] or a Kaggle image folder")
    parser.add_argument("--ferplus", help="fer2013new.csv (reference: the FER+ majority label)")
    parser.add_argument("--split", default="PrivateTest", choices=SPLITS)
    parser.add_argument("--json", dest="json_out", help="write the metrics to this JSON file")
    parser.add_argument("--tta", choices=TTA_MODES, help="test-time augmentation (default: the model's config)")
    parser.add_argument("--no-tta", action="store_true", help="same as --tta none")
    parser.add_argument("--no-temperature", action="store_true", help="use raw softmax (temperature 1)")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model)
        dataset = load_dataset(args.data, args.split, args.ferplus)
        metrics = evaluate(model, dataset, tta="none" if args.no_tta else args.tta,
                           temperature=1.0 if args.no_temperature else None)
    except (FerError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics.update(model=args.model, data=str(args.data), ferplus=args.ferplus, split=args.split)
    print(f"{args.model} on {args.data} [{args.split}]")
    print(format_table(metrics))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
