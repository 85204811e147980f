"""Child processes for the app benchmarks: free ports, peak memory from /proc, JSON-printing children."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GIB = 1024 ** 3


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for app children: no analytics, local traffic not sent through a proxy."""
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost", "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak resident set) of a process in bytes, from /proc (Linux only)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024  # reported in kB
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return values


def run_json_child(module: str, arguments: list[str], timeout: float, **environment: str) -> dict:
    """Run `python -m module arguments` in the repository (extra `environment` variables set) and parse the
    JSON object it prints last."""
    done = subprocess.run([sys.executable, "-m", module, *arguments], cwd=REPO_ROOT,
                          env=child_environment(**environment),
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"python -m {module} exited with {done.returncode}: {tail}")
    return json.loads(lines[-1])
