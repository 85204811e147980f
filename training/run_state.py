"""A training run's state file (`runs/<name>/state.json`): epochs done, history, timing; read without Keras."""

from __future__ import annotations

import json
from pathlib import Path

from fer.errors import FerError

STATE_FILE = "state.json"


def read_run_state(run_dir: str | Path, hint: str = "") -> dict:
    """The run's state as written by training.train; FerError when it is missing or not JSON."""
    state_path = Path(run_dir) / STATE_FILE
    if not state_path.is_file():
        raise FerError(f"{run_dir} is not a run directory: it has no {STATE_FILE}{hint}")
    try:
        return json.loads(state_path.read_text())
    except json.JSONDecodeError as error:
        raise FerError(f"{state_path} is not readable JSON ({error})") from None
