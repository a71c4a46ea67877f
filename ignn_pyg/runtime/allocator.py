"""Keep freed memory in the process, so large tensors do not fault in fresh pages.

glibc's ``malloc`` serves every block of at least ``M_MMAP_THRESHOLD`` bytes (at most
32 MiB by default) with its own ``mmap`` and returns it to the system on ``free``; the
next block of that size is fresh memory, and the kernel zeroes and maps it a 4 KiB
page at a time on first touch.  IGNN's aggregation makes several maps of the HR image
per neighbour rank (131 MB each at 32 features for a 640x400 photo at x2), so on CPU a
large part of a whole-image forward was page faults.  :func:`retain_freed_memory` moves
blocks up to 1 GiB into ``malloc``'s heap and lets up to 1 GiB of free memory stay at
its top, so freed maps are mostly reused warm.  Not always: PyTorch asks for aligned
blocks, slightly larger than the block freed unless it merged with free neighbours, and
then the heap grows instead.  Measured on the 640x400 x2 upscale: about 20% less time
and 15% more peak resident memory (``docs/model_zoo.md``).

It is a setting of the process, not of a model: the ``ignn-pyg`` command applies it at
start; a script of one's own may call it too.  The price is resident memory that stays
with the process after a peak instead of going back to the system.  The numbers
computed are unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters of <malloc.h>
RETAINED_BYTES = 1 << 30


def glibc_mallopt() -> Callable[[int, int], int] | None:
    """The C library's ``mallopt``, or ``None`` where it has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None


def retain_freed_memory(limit: int = RETAINED_BYTES) -> bool:
    """Ask glibc's ``malloc`` to serve blocks up to ``limit`` bytes from its heap and to
    keep up to ``limit`` bytes of free memory (``mallopt`` ``M_MMAP_THRESHOLD`` and
    ``M_TRIM_THRESHOLD``).

    Returns:
        Whether both settings took effect; ``False`` (and nothing changed) without
        :func:`glibc_mallopt`.
    """
    mallopt = glibc_mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))
