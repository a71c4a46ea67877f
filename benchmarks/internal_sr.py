"""Graph super-resolution on CPU: where the time goes, beside bicubic + back-projection.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/internal_sr.py [--size 512] [--repeats 3]

Workload: the eval photo ``astronaut`` (512 x 512) taken as the LR input (``--size``
crops it), x2, default :class:`~ignn_pyg.models.internal_sr.InternalSRConfig`, one thread.
Stages, each the best of ``--repeats`` runs: the graph (:func:`build_graph`), the folded
estimate (:func:`patch_estimate`), back-projection (:func:`back_project`), and the whole
:func:`internal_sr`; beside them bicubic + the same back-projection
(:func:`bicubic_back_projected`), measured in the same process.  Printed: seconds and
the ratio of each stage to bicubic + back-projection.
"""

from __future__ import annotations

import argparse
import time

import torch

from ignn_pyg.data import image_to_tensor, load_photo
from ignn_pyg.models.internal_sr import (
    InternalSRConfig,
    back_project,
    bicubic_back_projected,
    build_graph,
    internal_sr,
    patch_estimate,
)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="LR side (a crop of astronaut)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lr = image_to_tensor(load_photo("astronaut"))[..., : args.size, : args.size]
    config = InternalSRConfig(scale=2)
    graph = build_graph(lr, config)
    estimate = patch_estimate(lr, graph, config)
    with torch.no_grad():
        stages = {
            "bicubic + back-projection": lambda: bicubic_back_projected(lr, config),
            "graph": lambda: build_graph(lr, config),
            "estimate": lambda: patch_estimate(lr, graph, config),
            "back-projection": lambda: back_project(
                estimate, lr, 2, config.back_projection_iterations, config.tolerance
            ),
            "internal_sr (all)": lambda: internal_sr(lr, config),
        }
        seconds = {name: best_of(args.repeats, fn) for name, fn in stages.items()}
    reference = seconds["bicubic + back-projection"]
    print(f"LR {lr.shape[-2]}x{lr.shape[-1]} x2, 1 thread, best of {args.repeats}")
    for name, value in seconds.items():
        print(f"{name:<28} {value:7.3f} s   {value / reference:5.2f}x bicubic + back-projection")


if __name__ == "__main__":
    main()
