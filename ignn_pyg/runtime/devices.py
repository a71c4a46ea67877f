"""The torch device a command runs on (``--device`` of ``ignn-pyg eval`` and ``upscale``)."""

from __future__ import annotations

import torch

__all__ = ["default_device", "parse_device", "visible_gpus"]


def visible_gpus() -> int:
    """How many CUDA devices this process sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    return "cuda" if visible_gpus() else "cpu"


def parse_device(name: str) -> torch.device:
    """``name`` as a device this process can use.

    Raises:
        ValueError: one line -- ``name`` is no torch device, or a GPU that is not
            visible (the number visible is the limit).
    """
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"--device {name!r} is not a torch device: {err}") from err
    if device.type == "cuda":
        count = visible_gpus()
        if count == 0:
            raise ValueError(f"--device {name!r}: no CUDA device is visible; use --device cpu")
        if (device.index or 0) >= count:
            raise ValueError(f"--device {name!r}: only {count} CUDA device(s) visible (cuda:0 to cuda:{count - 1})")
    return device
