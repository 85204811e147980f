"""Machine description, printed tables and the JSON results file."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import cv2
    import keras
    import numpy
    import tensorflow

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": cores, "load_average": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(), "tensorflow": tensorflow.__version__, "keras": keras.__version__,
        "opencv": cv2.__version__, "numpy": numpy.__version__, "platform": platform.platform(),
    }


def print_section(number: int, title: str, lines: list[str]) -> None:
    print(f"\n[{number}] {title}", flush=True)
    for line in lines:
        print(f"    {line}", flush=True)


def write(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
