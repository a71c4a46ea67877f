"""Can the graph search run its distance products in bf16 and keep today's neighbours?

For each eval photo (x2, the bundled IGNN's embedding, its window of 30), the windowed
search (:func:`ignn_pyg.graph.knn.dense_knn`) runs as it does (float32) and once more with
every ranking distance ``|c|^2 - 2 q c^T`` computed by a bf16 ``baddbmm``, keeping the
``--keep`` nearest.  Printed per photo: the share of queries whose float32 ``k = 5``
neighbours are all among the bf16 search's ``--keep`` (what an exact float32 re-ranking of
those candidates would need to give the same neighbours), and both searches' times (one
thread, one run each: a rough guide, not a timing).

Usage::

    python benchmarks/bf16_search_recall.py [--keep 16] [--photos rocket camera]
"""

from __future__ import annotations

import argparse
import time

import torch

from ignn_pyg.data import PhotoDataset, downsample_for_graph
from ignn_pyg.graph import knn
from ignn_pyg.graph.patches import extract_patch_rows
from ignn_pyg.graph.windows import search_windows
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.runtime.precision import describe_cpu


def bf16_ranking_distances(query: torch.Tensor, cand: torch.Tensor, cand_bias: torch.Tensor) -> torch.Tensor:
    """:func:`ignn_pyg.graph.knn._ranking_distances` with bf16 operands (and result)."""
    return torch.baddbmm(cand_bias.bfloat16(), query.bfloat16(), cand.bfloat16().transpose(1, 2), alpha=-2.0).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=int, default=16, help="candidates the bf16 search keeps per query")
    parser.add_argument("--photos", nargs="+", default=None, help="eval photos (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_weights(bundled_weights(2, "ignn"), 2)
    cfg = model.config
    dataset = PhotoDataset("eval", 2)
    print(f"CPU: {describe_cpu()}; k {cfg.num_neighbors}, bf16 keeps {args.keep}")
    float32_search = knn._ranking_distances
    for name in args.photos or dataset.names:
        lr = dataset[dataset.names.index(name)]["lr"][None]
        with torch.no_grad():
            query, qgrid = extract_patch_rows(model.embedding(lr), cfg.patch_size, cfg.stride)
            source, sgrid = extract_patch_rows(model.embedding(downsample_for_graph(lr, 2)), cfg.patch_size, cfg.stride)
        shapes = (qgrid.rows, qgrid.cols), (sgrid.rows, sgrid.cols)
        windows = search_windows(*shapes, cfg.window, 2, cfg.window_indexing)
        start = time.perf_counter()
        exact = knn.dense_knn(query, source, *shapes, windows, cfg.num_neighbors)[0]
        exact_seconds = time.perf_counter() - start
        knn._ranking_distances = bf16_ranking_distances
        try:
            start = time.perf_counter()
            kept = knn.dense_knn(query, source, *shapes, windows, args.keep)[0]
            bf16_seconds = time.perf_counter() - start
        finally:
            knn._ranking_distances = float32_search
        inside = (exact[:, :, None] == kept[:, None, :]).any(-1).all(-1)
        print(
            f"{name:16s} {exact.shape[0]:6d} queries: float32 top-{cfg.num_neighbors} inside bf16 "
            f"top-{args.keep} for {float(inside.float().mean()):6.1%}; search {exact_seconds:.2f} s float32, "
            f"{bf16_seconds:.2f} s bf16"
        )


if __name__ == "__main__":
    main()
