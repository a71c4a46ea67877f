"""Process-group set-up for ``torchrun`` (one process per GPU, or several on a CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ignn_pyg.runtime.devices import visible_gpus

__all__ = ["DEVICES", "Distributed", "process_device", "setup_distributed", "teardown_distributed"]

#: what ``run.device`` may say
DEVICES = ("auto", "cuda", "cpu")


@dataclass(frozen=True)
class Distributed:
    """Where this process stands: ``rank`` of ``world_size``, and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs and checkpoints and runs validation."""
        return self.rank == 0


def process_device(requested: str, local_rank: int) -> torch.device:
    """The device of process ``local_rank`` for ``run.device`` ``requested`` (one of
    :data:`DEVICES`): GPU ``local_rank`` for ``cuda``, and for ``auto`` when CUDA is
    there; the CPU otherwise.

    Raises:
        ValueError: ``cuda`` without a visible GPU, or a process without a GPU of its own
            (``torchrun --nproc_per_node`` above the GPU count): one line with the limit.
    """
    count = visible_gpus()
    if requested == "cpu" or (requested == "auto" and count == 0):
        return torch.device("cpu")
    if count == 0:
        raise ValueError("run.device is cuda but no CUDA device is visible; use run.device cpu or auto")
    if local_rank >= count:
        raise ValueError(
            f"process LOCAL_RANK {local_rank} has no GPU of its own: {count} visible, one "
            f"process per GPU (torchrun --nproc_per_node <= {count}), or run.device cpu"
        )
    return torch.device("cuda", local_rank)


def setup_distributed(device: str = "auto") -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), with
    backend NCCL on GPUs and Gloo on CPUs; a plain single process when ``WORLD_SIZE``
    is unset or 1.  ``device``: see :func:`process_device`."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    where = process_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if where.type == "cuda":
        torch.cuda.set_device(where)
    if world_size == 1:
        return Distributed(0, 1, where)
    dist.init_process_group("nccl" if where.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), where)


def teardown_distributed(ctx: Distributed) -> None:
    """Leave the process group (no-op for a single process)."""
    if ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
