"""RunLock: one holder at a time, its PID in the message, released on exit and with its process."""

import os
import signal
import subprocess
import sys

import pytest

from ignn_pyg.training.run_lock import RunFolderBusy, RunLock
from tests.cli_process import cli_env


def test_second_holder_is_refused_until_the_first_releases(tmp_path):
    folder = tmp_path / "run"
    with RunLock(folder):
        assert (folder / ".lock").read_text() == f"{os.getpid()}\n"
        # flock belongs to the open file, so a second open in this process conflicts too
        with pytest.raises(RunFolderBusy, match=rf"run folder '{folder}' is in use .*\(PID {os.getpid()}\)"):
            with RunLock(folder):
                pass
    with RunLock(folder):
        pass


def test_lock_of_a_killed_process_is_free(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from ignn_pyg.training.run_lock import RunLock\n"
            f"lock = RunLock({str(folder)!r}).__enter__()\n"
            "print('held', flush=True)\ntime.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderBusy, match=rf"PID {holder.pid}\)"):
            RunLock(folder).__enter__()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    with RunLock(folder):  # the file still names the dead process; the kernel freed the lock
        assert (folder / ".lock").read_text() == f"{os.getpid()}\n"
