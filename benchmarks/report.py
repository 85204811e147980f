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


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def stamp() -> dict:
    """When a section finished and the load average then (timings on a busy machine are noisy)."""
    return {"date": now(), "load_average": [round(v, 2) for v in os.getloadavg()]}


def earlier_sections(path: Path, keep: list[str]) -> dict:
    """The sections `keep` of an earlier results file (none if it is absent or unreadable), each marked
    with the date of the run that measured it."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    date = earlier.get("machine", {}).get("date", "unknown")
    sections = earlier.get("sections", {})
    return {key: {"measured": {"date": date}, **sections[key]} for key in keep if key in sections}


def machine() -> dict:
    import cv2
    import keras
    import numpy
    import tensorflow

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": now(),
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
