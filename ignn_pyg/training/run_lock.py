"""One training process per run folder: an exclusive lock held for the life of the run.

Two processes training into one ``run.out_dir`` would interleave ``log.csv`` rows,
overwrite each other's checkpoints and race on the temporary files of ``progress.png``.
:class:`RunLock` takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``out_dir/.lock`` and
writes its PID there; a second process fails at once with a message naming the folder
and that PID.  The kernel drops the lock when its holder exits, however it exits
(SIGKILL included), so a lock file left by a dead run never blocks a resume.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["RunLock", "RunFolderBusy"]

LOCK_NAME = ".lock"


class RunFolderBusy(ValueError):
    """Another live process holds the run folder's lock (a user error: exit status 2)."""


class RunLock:
    """Exclusive lock on a run folder, as a context manager.

    Args:
        out_dir: the run folder; created if missing.

    Raises (on entering):
        RunFolderBusy: another process holds the lock; the message names the folder
            and the holder's PID.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderBusy(
                f"run folder {str(self.out_dir)!r} is in use by another training process "
                f"(PID {holder}); wait for it to finish or stop it, or choose another "
                "run.out_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Closing the descriptor releases the lock; the file stays (removing it would let
        # a process that opened the old file and one that creates a new one both "hold" it).
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
