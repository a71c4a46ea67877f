"""Process-group set-up for ``torchrun`` (one process per GPU, or several on a CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Distributed", "setup_distributed", "teardown_distributed"]


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


def setup_distributed() -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), with
    backend NCCL on GPUs and Gloo on CPUs; a plain single process when ``WORLD_SIZE``
    is unset or 1.  Process ``LOCAL_RANK`` uses ``cuda:LOCAL_RANK`` when CUDA is there."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size == 1:
        return Distributed(0, 1, device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), device)


def teardown_distributed(ctx: Distributed) -> None:
    """Leave the process group (no-op for a single process)."""
    if ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
