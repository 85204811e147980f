"""Timing helpers: every figure is the median of repeated runs after warm-up runs."""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable, Sequence


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call: the median and the spread of the timed runs (warm-up runs excluded)."""

    median: float
    runs: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return self.median * 1000.0

    @property
    def spread(self) -> tuple[float, float]:
        """(fastest, slowest) timed run, in seconds."""
        return min(self.runs), max(self.runs)

    def to_dict(self) -> dict:
        return {"median_ms": round(self.median_ms, 3), "min_ms": round(self.spread[0] * 1000, 3),
                "max_ms": round(self.spread[1] * 1000, 3), "runs": len(self.runs)}


def measure(function: Callable[[], object], repeats: int = 20, warmup: int = 3) -> Timing:
    """Call `function` `warmup` times untimed, then `repeats` times timed; return the median."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        function()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return Timing(statistics.median(runs), tuple(runs))


def measure_interleaved(functions: Sequence[Callable[[], object]], repeats: int = 20,
                        warmup: int = 3) -> list[Timing]:
    """Time several functions round-robin (A, B, C, A, B, C ...), so background load hits all alike."""
    for _ in range(warmup):
        for function in functions:
            function()
    runs: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, bucket in zip(functions, runs):
            start = time.perf_counter()
            function()
            bucket.append(time.perf_counter() - start)
    return [Timing(statistics.median(bucket), tuple(bucket)) for bucket in runs]


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero."""
    return numerator / denominator if denominator else None
