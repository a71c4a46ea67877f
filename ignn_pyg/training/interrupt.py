"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM.

While :class:`StopSignals` is active, the first SIGINT or SIGTERM only records its
number and says that the run will stop; the training loop looks at it after each
iteration (with several processes, every process takes the largest signal number any
of them received, so all stop at the same iteration), writes ``last.pt`` at that
iteration and raises :class:`TrainingInterrupted`.  ``ignn-pyg train`` reports it in
one line and exits ``128 + signal`` (130 for SIGINT, 143 for SIGTERM), like a process
the signal had killed.  A second SIGINT quits at once (``KeyboardInterrupt``), without
that checkpoint.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .distributed import Distributed

__all__ = ["StopSignals", "TrainingInterrupted"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    """The run stopped on a signal after writing ``checkpoint`` at ``iteration``."""

    def __init__(self, signum: int, iteration: int, checkpoint: Path) -> None:
        self.signum, self.iteration, self.checkpoint = signum, iteration, checkpoint
        super().__init__(
            f"stopped by {signal.Signals(signum).name} at iteration {iteration}; checkpoint "
            f"written to {checkpoint}; continue with --resume"
        )

    @property
    def exit_status(self) -> int:
        """``128 + signal number``, the shell's status of a process killed by it."""
        return 128 + self.signum


class StopSignals:
    """Context manager that turns SIGINT and SIGTERM into a request to stop.

    Inside it, :attr:`received` is the first such signal's number (0 before any);
    the previous handlers come back on exit.  Outside the main thread (where Python
    cannot install handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.received = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not self.received:
            self.received = signum
            print(
                f"\n{signal.Signals(signum).name} received: stopping after this iteration with a "
                "checkpoint (Ctrl-C again to quit without one)",
                file=sys.stderr,
                flush=True,
            )

    def agreed(self, ctx: Distributed) -> int:
        """The largest signal number any process has received (0: none), the same on
        every process; a collective call with several processes."""
        if ctx.world_size == 1:
            return self.received
        received = torch.tensor([self.received], device=ctx.device)
        dist.all_reduce(received, op=dist.ReduceOp.MAX)
        return int(received.item())
