"""Peak memory of the last step of a 4K x4 upscale, converting the float32 result to 8 bits
(issue #41's target: the conversion adds at most about the 8-bit output's size to peak
resident memory): :func:`ignn_pyg.data.tensor_to_image`, which rounds blocks of rows,
against the float64 copy of the whole image it replaced.

Each conversion runs in a fresh process, with the ``ignn-pyg`` command's allocator setting
(:mod:`ignn_pyg.runtime.allocator`).  The process converts a tiny image (torch's first-call
set-up), fills a ``[1, 3, H, W]`` float32 result in place (uniform in [-20, 280]), resets
its peak resident-set mark to its resident set (``/proc/self/clear_refs``), converts, and
reports its peak since the reset (``VmHWM``) minus its resident set before: the
conversion's extra memory, the 8-bit output included.  A conversion whose estimated peak
does not fit the machine's available memory less a 2 GiB margin (it is shared) is
skipped, not run.

Printed: for each conversion its extra memory, in GiB and as a multiple of the 8-bit
output's size, its time, and whether both gave the same bytes (SHA-256).

Usage::

    python benchmarks/tensor_to_image_memory.py [--height 8640] [--width 15360]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ignn_pyg.data import quantize, tensor_to_image
from ignn_pyg.runtime.allocator import retain_freed_memory

GIB = 1 << 30
MARGIN = 2 * GIB  # left to the machine's other users


def float64_copy(img: torch.Tensor) -> np.ndarray:
    """``tensor_to_image`` before issue #41: the whole ``[3, H, W]`` image in float64."""
    return quantize(img[0].detach().to("cpu", torch.float64)).permute(1, 2, 0).numpy().astype(np.uint8)


#: conversion -> (function, its estimated peak in bytes per value beyond the float32 input:
#: the uint8 output, and for the float64 copy also it and quantize's two temporaries)
CONVERSIONS = {
    "by blocks (tensor_to_image)": (tensor_to_image, 1),
    "float64 copy (before)": (float64_copy, 3 * 8 + 1),
}


def memory_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) or ``/proc/meminfo``."""
    source = "/proc/meminfo" if field == "MemAvailable" else "/proc/self/status"
    for line in Path(source).read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(f"no {field} in {source}")


def measure(conversion: str, height: int, width: int) -> dict:
    """In this process: the extra peak memory and the time of one conversion."""
    retain_freed_memory()  # as the ignn-pyg command does
    convert = CONVERSIONS[conversion][0]
    convert(torch.zeros(1, 3, 8, 8))  # torch's first-call set-up is not the conversion's
    result = torch.empty(1, 3, height, width).uniform_(-20, 280, generator=torch.Generator().manual_seed(0))
    before = memory_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    start = time.perf_counter()
    pixels = convert(result)
    seconds = time.perf_counter() - start
    extra = (memory_kib("VmHWM") - before) * 1024
    return {
        "extra_bytes": extra,
        "seconds": seconds,
        "output_bytes": pixels.nbytes,
        "sha256": hashlib.sha256(np.ascontiguousarray(pixels).data).hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=8640, help="of the result (4K x4: 2160 x 4)")
    parser.add_argument("--width", type=int, default=15360, help="of the result (4K x4: 3840 x 4)")
    parser.add_argument("--child", choices=sorted(CONVERSIONS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.height, args.width)))
        return
    values = 3 * args.height * args.width
    print(
        f"result [1, 3, {args.height}, {args.width}] float32: {values * 4 / GIB:.2f} GiB; "
        f"8-bit output {values / GIB:.2f} GiB; torch {torch.__version__}"
    )
    digests = {}
    for conversion, (_, bytes_per_value) in CONVERSIONS.items():
        needed = values * (4 + bytes_per_value) + MARGIN
        available = memory_kib("MemAvailable") * 1024
        if needed > available:
            print(
                f"{conversion}: skipped, its estimated peak plus margin is {needed / GIB:.1f} GiB and "
                f"{available / GIB:.1f} GiB is available"
            )
            continue
        done = subprocess.run(
            [sys.executable, __file__, "--child", conversion, "--height", str(args.height), "--width", str(args.width)],
            capture_output=True,
            text=True,
            check=True,
        )
        run = json.loads(done.stdout.splitlines()[-1])
        digests[conversion] = run["sha256"]
        print(
            f"{conversion}: extra peak memory {run['extra_bytes'] / GIB:.3f} GiB = "
            f"{run['extra_bytes'] / run['output_bytes']:.2f}x the 8-bit output, {run['seconds']:.2f} s",
            flush=True,
        )
    if len(digests) == len(CONVERSIONS):
        print(f"same 8-bit output: {'yes' if len(set(digests.values())) == 1 else 'NO'}")


if __name__ == "__main__":
    main()
