"""Running ``ignn-pyg`` as a user does: a separate process, its exit status and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def cli_env() -> dict[str, str]:
    """This environment, with the checkout on ``PYTHONPATH`` and one thread per process."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def cli_command(*args: object) -> list[str]:
    """``python -m ignn_pyg ARGS`` with this interpreter."""
    return [sys.executable, "-m", "ignn_pyg", *map(str, args)]


def run_cli(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``ignn-pyg ARGS`` to completion, capturing stdout and stderr as text with the
    carriage returns kept (text mode would turn a progress bar's ``\r`` into ``\n``)."""
    process = subprocess.run(cli_command(*args), env=cli_env(), capture_output=True, timeout=timeout)
    process.stdout, process.stderr = process.stdout.decode(), process.stderr.decode()
    return process


def one_line_error(process: subprocess.CompletedProcess) -> str:
    """The one line a refused command leaves on stderr, as a terminal shows it (a progress
    bar redrawn and erased with carriage returns leaves nothing); asserts it is one line."""
    lines = [line.rsplit("\r", 1)[-1].strip() for line in process.stderr.split("\n")]
    lines = [line for line in lines if line]
    assert len(lines) == 1, process.stderr
    return lines[0]
