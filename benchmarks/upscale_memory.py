"""The memory estimate ``ignn-pyg upscale`` checks each image against, beside the memory
the upscale really takes.

For every bundled model and LR size asked for, a fresh process loads the model, makes a
random ``H x W`` image, notes its resident memory, runs ``ignn-pyg upscale``'s own path
(:func:`ignn_pyg.commands.upscale.upscale_image`, then writing the PNG) and reads its
peak resident memory (``ru_maxrss``).  Printed per row: the measured peak above the
starting point, :func:`~ignn_pyg.inference.memory_estimate.upscale_peak_bytes` for the
same image, and their ratio (above 1: the estimate is on the safe side).  The default
sizes include ones above ``--max-pixels`` (256 px tiles) as well as whole images.

Usage::

    python benchmarks/upscale_memory.py [--models ignn edsr] [--scales 2 4] [--sides 96 192 640]
                                        [--precision fp32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = "--child"


def measure(model_name: str, scale: int, side: int, precision: str, out: Path) -> dict:
    """In this (fresh) process: the upscale's peak memory above its start, and the estimate."""
    import numpy as np
    import torch

    from ignn_pyg.commands.upscale import upscale_image
    from ignn_pyg.data import write_image
    from ignn_pyg.inference.bundled import bundled_weights
    from ignn_pyg.inference.checkpoints import load_weights
    from ignn_pyg.inference.memory_estimate import resident_bytes, upscale_peak_bytes
    from ignn_pyg.runtime.allocator import retain_freed_memory
    from ignn_pyg.runtime.precision import resolve_precision

    retain_freed_memory()  # as the command does
    torch.set_num_threads(1)
    model = load_weights(bundled_weights(scale, model_name), scale)
    chosen = resolve_precision(precision, "cpu")
    chosen.prepare_model(model)
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    max_pixels, tile, overlap = 512 * 512, 256, 16  # the command's defaults
    start = resident_bytes()
    result = upscale_image(model, image, max_pixels=max_pixels, tile=tile, overlap=overlap, precision=chosen)
    write_image(out, result)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "model": model_name,
        "scale": scale,
        "side": side,
        "precision": str(chosen),
        "tiled": side * side > max_pixels,
        "measured": peak - start,
        "estimated": upscale_peak_bytes(model, side, side, max_pixels, tile),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["ignn", "edsr"])
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--sides", nargs="+", type=int, default=[96, 192, 640])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument(CHILD, nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, scale, side, out = args.child
        print(json.dumps(measure(name, int(scale), int(side), args.precision, Path(out))))
        return
    from ignn_pyg.inference.memory_estimate import format_bytes

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{'model':>6} {'x':>2} {'LR side':>7} {'tiled':>5} {'measured':>10} {'estimated':>10} {'est/meas':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for scale in args.scales:
                for side in args.sides:
                    done = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--precision",
                            args.precision,
                            CHILD,
                            name,
                            str(scale),
                            str(side),
                            str(Path(tmp) / "out.png"),
                        ],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    print(
                        f"{name:>6} {scale:>2} {side:>7} {str(row['tiled']):>5} "
                        f"{format_bytes(row['measured']):>10} {format_bytes(row['estimated']):>10} "
                        f"{row['estimated'] / row['measured']:8.2f}",
                        flush=True,
                    )
    print(
        f"precision {args.precision}, one thread, a fresh process per row; measured: peak RSS above the "
        "RSS after loading the model and making the image"
    )


if __name__ == "__main__":
    main()
