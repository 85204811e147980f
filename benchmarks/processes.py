"""Child processes for the app benchmarks: free ports, peak memory from /proc, JSON-printing children."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

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


def answers(url: str) -> bool:
    """Whether the server at `url` serves its page (HTTP 200)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def served(command: list[str], log: Path, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None,
           timeout: float = 300.0, ready: Callable[[str], bool] = answers) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start a server command (given a free port as its last argument), wait until `ready(url)`, yield (url,
    process), and stop it: the one start / poll / stop of the app for the tests and the benchmarks."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(log, "wb") as output:
        process = subprocess.Popen([*command, str(port)], cwd=cwd, env=env or child_environment(), stdout=output,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not ready(url):
                if process.poll() is not None:
                    raise RuntimeError(f"{' '.join(command[:3])} exited with {process.returncode}:\n"
                                       f"{log.read_text(errors='replace')[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n"
                                       f"{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
