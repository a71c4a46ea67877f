r"""How much memory upscaling one image will take, estimated before the work starts.

A whole-image forward (or one tile's) holds feature maps of ``n_feats`` channels at LR
and at HR resolution; with ``P`` the LR pixels it runs on, ``C = n_feats`` and ``s`` the
scale, its working set above what the process held before is modelled as

.. math:: M_\text{forward} = 4 C P (a + b s^2) + M_0 \quad \text{bytes},

with ``a`` and ``b`` (how many LR and HR float32 feature maps are alive at the peak) per
architecture, measured on the bundled 32-feature models in float32 on CPU (peak RSS of
a fresh process at 96² and 192² LR pixels, x2 and x4: ``benchmarks/upscale_memory.py``
prints each estimate beside its measurement).  bf16 autocast needs less (0.5-0.8x), so
the float32 estimate bounds it.  Around the forward, an upscale holds the decoded input
and its float32 tensor, the float32 output, its 8-bit copy, and the encoder's copy of
it while the file is written; an alpha channel adds its float64 bicubic upsampling.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from torch import nn

from ignn_pyg.models import EDSR, IGNN

__all__ = [
    "ForwardMemory",
    "FORWARD_MEMORY",
    "forward_bytes",
    "upscale_peak_bytes",
    "TILE_STEP",
    "tiling_for_budget",
    "resident_bytes",
    "available_bytes",
    "parse_bytes",
    "format_bytes",
]


@dataclass(frozen=True)
class ForwardMemory:
    """Float32 feature maps of ``n_feats`` channels alive at a forward's peak: ``lr_maps``
    at LR resolution and ``hr_maps`` per ``s^2`` (at HR resolution)."""

    lr_maps: float
    hr_maps: float


#: measured on the bundled models (benchmarks/upscale_memory.py): IGNN x2 6.1 KB and x4
#: 8.3 KB per LR pixel, EDSR x2 1.5 KB and x4 5.3 KB, at 32 features in float32
FORWARD_MEMORY: dict[type[nn.Module], ForwardMemory] = {
    IGNN: ForwardMemory(lr_maps=41.7, hr_maps=1.44),
    EDSR: ForwardMemory(lr_maps=1.96, hr_maps=2.44),
}
#: the part that does not grow with the image (buffers, the graph's bookkeeping), rounded up
FORWARD_FIXED_BYTES = 32 * 2**20


def forward_bytes(model: nn.Module, pixels: int) -> int:
    """:math:`M_\\text{forward}` of one forward of ``model`` on ``pixels`` LR pixels."""
    maps = next((m for kind, m in FORWARD_MEMORY.items() if isinstance(model, kind)), None)
    if maps is None:
        raise ValueError(
            f"no memory model for {type(model).__name__}; expected one of "
            f"{', '.join(kind.__name__ for kind in FORWARD_MEMORY)}"
        )
    scale = model.scale
    return int(4 * model.config.n_feats * pixels * (maps.lr_maps + maps.hr_maps * scale**2)) + FORWARD_FIXED_BYTES


def upscale_peak_bytes(
    model: nn.Module, height: int, width: int, max_pixels: int, tile: int, alpha: bool = False
) -> int:
    """Estimated memory, in bytes above what the process holds before, of upscaling one
    ``height x width`` image the way ``ignn-pyg upscale`` does: whole when it has at most
    ``max_pixels`` LR pixels, else in ``tile x tile`` tiles.

    Terms, with ``P = height * width`` and ``s`` the scale: the forward
    (:func:`forward_bytes` of ``P`` or ``min(tile, height) * min(tile, width)`` pixels),
    the input (``3 P`` bytes decoded, ``12 P`` as float32), the output (``12 s^2 P`` as
    float32, ``3 s^2 P`` as 8 bits, ``3 s^2 P`` in the encoder) and, with ``alpha``, its
    upsampling (``9 s^2 P``: float64 and 8 bits).
    """
    pixels = height * width
    run_pixels = pixels if pixels <= max_pixels else min(tile, height) * min(tile, width)
    out_pixels = model.scale**2 * pixels
    around = 15 * pixels + 18 * out_pixels + (9 * out_pixels if alpha else 0)
    return forward_bytes(model, run_pixels) + around


#: tile sides :func:`tiling_for_budget` tries: multiples of this
TILE_STEP = 16


def tiling_for_budget(
    model: nn.Module, height: int, width: int, budget: int, overlap: int, alpha: bool = False
) -> tuple[int, int] | None:
    """``(max_pixels, tile)`` for upscaling a ``height x width`` image within ``budget``
    bytes (above what the process holds; :func:`upscale_peak_bytes` as the measure): the
    whole image in one forward when it fits, which is the fastest, else tiles of the
    largest side, a multiple of :data:`TILE_STEP` above ``2 overlap``, that fits, which
    are the fewest tiles; ``None`` when not even the smallest tile fits."""
    pixels = height * width
    if upscale_peak_bytes(model, height, width, pixels, 0, alpha) <= budget:
        return pixels, 0
    smallest = (2 * overlap // TILE_STEP + 1) * TILE_STEP
    largest = max(height, width) // TILE_STEP * TILE_STEP
    for tile in range(largest, smallest - 1, -TILE_STEP):  # the estimate grows with the tile
        if upscale_peak_bytes(model, height, width, 0, tile, alpha) <= budget:
            return 0, tile
    return None


def _proc_bytes(path: str, field: str) -> int | None:
    """A ``kB`` field of a ``/proc`` status file (``VmRSS`` of ``/proc/self/status``,
    ``MemAvailable`` of ``/proc/meminfo``) in bytes; ``None`` where there is none."""
    try:
        with open(path) as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def resident_bytes() -> int:
    """This process's resident memory now (``VmRSS``, Linux), or its peak so far elsewhere."""
    now = _proc_bytes("/proc/self/status", "VmRSS")
    if now is not None:
        return now
    import resource  # POSIX; ru_maxrss is in KB on Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes() -> int:
    """What the machine can give now: ``MemAvailable`` of ``/proc/meminfo`` (Linux), or
    the physical memory where that file does not exist."""
    available = _proc_bytes("/proc/meminfo", "MemAvailable")
    return available if available is not None else os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """``"1.5G"``, ``"800MB"``, ``"2GiB"``, ``"4096"`` -> bytes (binary units: 1 G = 2^30 bytes).

    Raises:
        ValueError: naming the text and the accepted form.
    """
    match = _SIZE.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"--max-memory {text!r}: expected a positive size such as 800M, 1.5G or 4096 (bytes)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_bytes(count: float) -> str:
    """Bytes in the largest binary unit that keeps the number at least 1: ``"1.5 GB"``."""
    for unit in "TGMK":
        if count >= _UNITS[unit]:
            return f"{count / _UNITS[unit]:.1f} {unit}B"
    return f"{int(count)} B"
