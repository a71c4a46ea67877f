"""How low IGNN/EDSR can go: the multiply-add work of every part of the bundled IGNN
against the bundled EDSR's, and the rate each part runs at, side by side in one run.

Issue #38 asks IGNN's upscale to take at most 2.5x EDSR's time, with the graph's work that
is not a convolution at most 20% of IGNN's.  Time can only fall to the work a part must do
at the rate the machine does it, so this script counts the floating-point operations of
matrix products and convolutions (:class:`~torch.utils.flop_counter.FlopCounterMode`;
element-wise work is not counted) of every part of ``benchmarks/upscale_breakdown.py``
(:func:`upscale_breakdown.timed_parts` with the FLOP counter as its meter), times the
same parts, and prints per part: GFLOP, share of IGNN's GFLOP, seconds, share of IGNN's
time and GFLOP/s.

Then two floors of the IGNN/EDSR time ratio, both with the work that is not a matrix
product or convolution taking no time and the search doing only the work its windows
need (the blocked search, :func:`ignn_pyg.graph.knn.dense_knn`, computes each query tile
against the union of its queries' windows; ``needed`` is ``2 M w D``: ``M`` queries,
``w`` candidates in a window, ``D`` = embedding channels x patch pixels):

1. every FLOP at one rate: IGNN's FLOPs over EDSR's;
2. IGNN's convolutions at the times measured, its other matrix products (the needed
   search, the weight nets, the rest) at the rate of one search tile's ``torch.mm``
   measured in the same run, against EDSR's measured time; with the search's share of
   that time, the least the non-convolution graph work can be (its other parts do no
   matrix products).

The image is the top-left ``--size`` crop of ``benchmarks/upscale_photo.py``'s mosaic, one
whole-image forward at ``--precision`` (fp32 by default: FLOP rates are the exact path's),
IGNN's and EDSR's forward times the best of ``--repeats`` interleaved rounds, the part
times from the best of ``--repeats`` forwards with the part timers installed.

Usage::

    python benchmarks/work_floor.py [--size 640x400] [--scale 2] [--model ignn] [--threads 2]
                                    [--repeats 3] [--precision fp32]
"""

from __future__ import annotations

import argparse
import time

import torch
from model_forward import best_times  # this folder's interleaved timing
from torch.utils.flop_counter import FlopCounterMode
from upscale_breakdown import part_rows, timed_parts  # this folder's part timers
from upscale_photo import parse_size, photo_mosaic

from ignn_pyg.data import image_to_tensor
from ignn_pyg.graph.cross_scale_graph import candidates_per_query
from ignn_pyg.graph.patches import PatchGrid
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.runtime.precision import describe_cpu, resolve_precision

SEARCH = "graph: search"
#: the parts that are convolutions (the rest of the matrix work: the search, the weight nets)
CONVOLUTIONS = (
    "aggregation: psi",
    "graph: embedding",
    "head",
    "body_pre",
    "fuse_lr",
    "body_post",
    "upsample",
    "fuse_hr",
    "tail",
)


def needed_search_flops(model, height: int, width: int) -> int:
    """``2 M w D``: the products of every query patch with every candidate of its own
    window (the whole source grid under global search), for an ``height x width`` LR map."""
    cfg = model.config
    queries = PatchGrid.of(height, width, cfg.patch_size, cfg.stride).num_patches
    window = candidates_per_query(
        height, width, model.graph_scale, cfg.patch_size, cfg.stride, cfg.window, cfg.window_indexing
    )
    return 2 * queries * window * model.embedding.channels * cfg.patch_size**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=(640, 400), help="W x H of the crop")
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--model", default="ignn", help="the bundled graph model (an IGNN)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    retain_freed_memory()
    torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision, "cpu")
    ignn, _ = load_checkpoint(bundled_weights(args.scale, args.model))
    edsr, _ = load_checkpoint(bundled_weights(args.scale, "edsr"))
    for model in (ignn, edsr):
        precision.prepare_model(model.eval())
    width, height = args.size
    lr = image_to_tensor(photo_mosaic(width, height))

    flops: dict[str, float] = {}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        with timed_parts(ignn, flops, meter=counter.get_total_flops):
            precision.run(ignn, lr)
        ignn_flops = counter.get_total_flops()
        precision.run(edsr, lr)
        edsr_flops = counter.get_total_flops() - ignn_flops

    with torch.no_grad():
        forwards = {"ignn": lambda: precision.run(ignn, lr), "edsr": lambda: precision.run(edsr, lr)}
        times = best_times(forwards, args.repeats)
        seconds: dict[str, float] = {}
        best: tuple[float, dict[str, float]] = (float("inf"), {})
        with timed_parts(ignn, seconds):
            for _ in range(args.repeats):
                seconds.clear()
                start = time.perf_counter()
                precision.run(ignn, lr)
                best = min(best, (time.perf_counter() - start, dict(seconds)), key=lambda pair: pair[0])
    parts_total, part_seconds = best

    print(
        f"work_floor: {args.model} and edsr x{args.scale}, {width}x{height} LR (mosaic crop), {precision}, "
        f"{args.threads} threads, {describe_cpu()}"
    )
    edsr_rate = edsr_flops / times["edsr"] / 1e9
    print(
        f"forward: {args.model} {times['ignn']:.2f} s, {ignn_flops / 1e9:.1f} GFLOP, "
        f"{ignn_flops / times['ignn'] / 1e9:.1f} GFLOP/s; edsr {times['edsr']:.2f} s, {edsr_flops / 1e9:.1f} GFLOP, "
        f"{edsr_rate:.1f} GFLOP/s; time ratio {times['ignn'] / times['edsr']:.2f}"
    )
    time_rows = dict(part_rows(part_seconds, parts_total))
    print(f"  {'part':28s} {'GFLOP':>8s} {'work':>6s} {'seconds':>8s} {'time':>6s} {'GFLOP/s':>8s}")
    for name, work in part_rows(flops, ignn_flops):
        spent = time_rows.get(name, 0.0)
        rate = f"{work / spent / 1e9:8.1f}" if spent > 0 and work > 0 else f"{'-':>8s}"
        print(
            f"  {name:28s} {work / 1e9:8.2f} {100 * work / ignn_flops:5.1f}% {spent:8.2f} "
            f"{100 * spent / parts_total:5.1f}% {rate}"
        )

    search = flops.get(SEARCH, 0.0)
    needed = needed_search_flops(ignn, height, width)
    print(
        f"search: {search / 1e9:.2f} GFLOP computed, {needed / 1e9:.2f} GFLOP needed by the windows "
        f"({100 * needed / search:.0f}%)"
    )
    lean = ignn_flops - search + needed
    print(
        f"floor 1, every FLOP at one rate, other work free: {args.model}/edsr >= {ignn_flops / edsr_flops:.2f} "
        f"(>= {lean / edsr_flops:.2f} with the needed search only)"
    )
    rate = gemm_rate(ignn)
    conv_seconds = sum(time_rows.get(name, 0.0) for name in CONVOLUTIONS)
    other_products = lean - sum(flops.get(name, 0.0) for name in CONVOLUTIONS)
    floor = conv_seconds + other_products / rate / 1e9
    print(
        f"floor 2, {args.model}'s convolutions as timed ({conv_seconds:.2f} s = {conv_seconds / times['edsr']:.2f}x "
        f"edsr), its other matrix products ({other_products / 1e9:.1f} GFLOP: the needed search, weight nets, "
        f"the rest) at the search tile's GEMM rate measured here ({rate:.1f} GFLOP/s), other work free: "
        f"{args.model}/edsr >= {floor / times['edsr']:.2f}; the search's share >= "
        f"{100 * needed / rate / 1e9 / floor:.1f}%"
    )


def gemm_rate(model, repeats: int = 20) -> float:
    """GFLOP/s of one search tile's product (:func:`ignn_pyg.graph.knn.dense_knn`: 16 x 16
    queries against the union of their windows, here a block of 38 x 38 candidates) as one
    ``torch.mm`` at the current thread count, best of ``repeats``."""
    depth = model.embedding.channels * model.config.patch_size**2
    query, cand = torch.randn(256, depth), torch.randn(38 * 38, depth)
    times = best_times({"mm": lambda: torch.mm(query, cand.t())}, repeats)
    return 2 * query.shape[0] * cand.shape[0] * depth / times["mm"] / 1e9


if __name__ == "__main__":
    main()
