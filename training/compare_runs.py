"""python -m training.compare_runs RUN_DIR... --out curves.png [--target 0.70]: several runs' validation curves
on one picture and a table of where each one stands, to tell a run still climbing from one that has flattened."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from fer.errors import FerError
from training import plots
from training.run_state import STATE_FILE, read_run_state


@dataclass(frozen=True)
class RunCurve:
    name: str
    train_accuracy: list[float]  # on augmented training batches: not comparable with validation
    val_accuracy: list[float]  # single view, the better of the raw and weight-averaged weights each epoch
    train_minutes: float

    @property
    def best(self) -> tuple[float, int]:
        """Best validation accuracy and its 1-based epoch."""
        epoch = max(range(len(self.val_accuracy)), key=self.val_accuracy.__getitem__)
        return self.val_accuracy[epoch], epoch + 1

    def late_gain(self, fraction: float = 0.25) -> float:
        """How much the last `fraction` of the epochs added to the best accuracy before them."""
        split = max(1, round(len(self.val_accuracy) * (1 - fraction)))
        return max(self.val_accuracy) - max(self.val_accuracy[:split])


def load_run(run_dir: str | Path) -> RunCurve:
    run_dir = Path(run_dir)
    state = read_run_state(run_dir)
    try:
        history = state["history"]
        raw = history["val_accuracy"]
    except (KeyError, TypeError) as error:
        raise FerError(f"{run_dir / STATE_FILE} has no readable history ({error})") from None
    if not raw:
        raise FerError(f"{run_dir / STATE_FILE} has no finished epoch yet")
    averaged = history.get("val_ema_accuracy") or raw
    return RunCurve(name=run_dir.name, train_accuracy=list(history.get("accuracy", [])),
                    val_accuracy=[max(pair) for pair in zip(raw, averaged)],
                    train_minutes=state.get("train_seconds", 0.0) / 60)


def format_comparison(curves: list[RunCurve]) -> str:
    rows = ["| run | epochs | minutes | best validation (epoch) | gain in the last quarter | train accuracy, last epoch |",
            "| --- | --- | --- | --- | --- | --- |"]
    for curve in curves:
        best, epoch = curve.best
        train = f"{curve.train_accuracy[-1]:.4f}" if curve.train_accuracy else "–"
        rows.append(f"| {curve.name} | {len(curve.val_accuracy)} | {curve.train_minutes:.0f} | {best:.4f} ({epoch}) | "
                    f"{curve.late_gain():+.4f} | {train} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run directories (each with a state.json)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--target", type=float, default=None, help="accuracy to draw as a line, e.g. 0.70")
    parser.add_argument("--title", default="", help="the picture's title")
    args = parser.parse_args(argv)
    try:
        curves = [load_run(run_dir) for run_dir in args.run_dirs]
    except FerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plots.plot_run_comparison({curve.name: (curve.train_accuracy, curve.val_accuracy) for curve in curves},
                              args.out, target=args.target, title=args.title)
    print(format_comparison(curves))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
