"""What the native fold kernel (:mod:`ignn_pyg.nn.native_fold`) buys on a full-HD photo:
the bundled IGNN with the aggregation's fold in torch and through the kernel, and the
bundled EDSR, side by side in one run.

The photo is ``benchmarks/upscale_photo.py``'s 1920x1080 mosaic (``--size``), upscaled
by :func:`ignn_pyg.commands.upscale.upscale_image` at the command's defaults (tiles of
256 LR pixels, overlap 16, freed memory retained) in one process; for each precision the
three configurations run in interleaved rounds and the best of ``--repeats`` counts.  The
kernel is built first (or found in its cache); its build time is printed.  Printed: each
time, IGNN/EDSR with and without the kernel, and the largest difference between the two
IGNN outputs in 8-bit levels.

Usage::

    python benchmarks/native_fold.py [--size 1920x1080] [--scale 2] [--precisions fp32 auto]
                                     [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from model_forward import best_times  # this folder's interleaved timing
from upscale_photo import parse_size, photo_mosaic

from ignn_pyg.commands.upscale import DEFAULT_TILE, upscale_image
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.inference.compilation import use_native_fold
from ignn_pyg.nn import native_fold
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.runtime.precision import describe_cpu, resolve_precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=(1920, 1080), help="W x H of the mosaic")
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "auto"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    retain_freed_memory()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if native_fold.load() is None:
        raise SystemExit(f"native_fold: {native_fold.failure()}")
    built = time.perf_counter() - start
    width, height = args.size
    image = photo_mosaic(width, height)
    print(
        f"native_fold: {width}x{height} mosaic, x{args.scale}, tiles of {DEFAULT_TILE} (overlap 16), "
        f"{args.threads} threads, {describe_cpu()}; kernel ready in {built:.1f} s"
    )
    for name in args.precisions:
        precision = resolve_precision(name, "cpu")
        times, diff = compare(precision, image, args.scale, args.repeats)
        print(f"{precision}: " + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in times.items()))
        print(
            f"  IGNN/EDSR {times['ignn'] / times['edsr']:.2f} in torch, "
            f"{times['ignn native fold'] / times['edsr']:.2f} with the kernel "
            f"(IGNN {times['ignn'] / times['ignn native fold']:.3f}x as fast); largest 8-bit difference {diff}"
        )


def compare(precision, image: np.ndarray, scale: int, repeats: int) -> tuple[dict[str, float], int]:
    """Best times of the three configurations (module docstring) in ``precision``, and the
    largest 8-bit difference between the two IGNN outputs."""
    models = {}
    for label, arch in (("ignn", "ignn"), ("ignn native fold", "ignn"), ("edsr", "edsr")):
        model, _ = load_checkpoint(bundled_weights(scale, arch))
        precision.prepare_model(model.eval())
        models[label] = model
    use_native_fold(models["ignn native fold"])
    outputs: dict[str, np.ndarray] = {}

    def run(label: str):
        def upscale():
            outputs[label] = upscale_image(models[label], image, 512 * 512, DEFAULT_TILE, 16, precision)

        return upscale

    with torch.no_grad():
        times = best_times({label: run(label) for label in models}, repeats)
    return times, int(np.abs(outputs["ignn"].astype(int) - outputs["ignn native fold"].astype(int)).max())


if __name__ == "__main__":
    main()
