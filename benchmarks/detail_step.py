"""Training-step cost of the gated detail transfer: IGNN with ``aggregation="ignn_detail"``
against the authors' ``"ignn"``, side by side in one run (issue #32's target: at most
1.5x at the same width).

One step is forward, L1 loss, backward and Adam (:func:`train_step.train_step`), float32,
the default layout; best of ``--repeats`` interleaved rounds, so a slow spell of a shared
machine hits both.  Configurations: the graph study's base (32 features, 4 blocks, batch
4 of 32x32 LR crops) and the bundled x2's width and depth (32/8, batch 8 of 32x32).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/detail_step.py [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch
from model_forward import best_times  # this folder's timing
from train_step import PRECISIONS, train_step

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.models import IGNN

CONFIGS = ((32, 4, 4, 32), (32, 8, 8, 32))  # (n_feats, n_resblocks, batch, LR crop)
AGGREGATIONS = ("ignn", "ignn_detail")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    precision = PRECISIONS["fp32"]
    for n_feats, n_resblocks, batch, crop in CONFIGS:
        torch.manual_seed(0)
        hr = torch.rand(batch, 3, 2 * crop, 2 * crop) * 255
        lr = downsample_for_graph(hr, 2)
        steps = {
            name: train_step(
                precision.prepare_model(IGNN(2, n_feats, n_resblocks, residual="bicubic", aggregation=name)),
                precision,
                lr,
                hr,
            )
            for name in AGGREGATIONS
        }
        times = best_times(steps, args.repeats)
        ratio = times["ignn_detail"] / times["ignn"]
        print(
            f"{n_feats}/{n_resblocks} batch {batch} x {crop}^2 LR: ignn {times['ignn']:.3f} s, "
            f"ignn_detail {times['ignn_detail']:.3f} s per step: {ratio:.2f}x "
            f"[target <= 1.5x: {'met' if ratio <= 1.5 else 'missed'}]",
            flush=True,
        )


if __name__ == "__main__":
    main()
