"""Where the time of the 640x400 upscale of ``docs/model_zoo.md`` goes, part by part.

Runs the bundled IGNN (default x2) through ``ignn-pyg upscale``'s default path
(:meth:`ignn_pyg.runtime.precision.Precision.run`, ``--precision auto``, whole image, freed
memory retained: :mod:`ignn_pyg.runtime.allocator`) on the top 400 rows and 640 columns of the
eval photo ``rocket`` and times every call of these parts, with wall-clock wrappers
installed for the run:

* graph: the VGG ``embedding`` (LR image and its downsampled copy), the windowed k-NN
  ``search``, the ``edge features`` of the chosen neighbours;
* aggregation: the ``fold`` of the gathered neighbour patches into one HR map per rank,
  the per-pixel ``weight nets`` and their softmax over ranks, the strided conv stack
  ``psi`` (once per rank), and the rest of the layer (statistics, weighted sums);
* the convolutional backbone: ``head``, ``body_pre``, ``fuse_lr``, ``body_post``,
  ``upsample``, ``fuse_hr``, ``tail``.

Prints each part's seconds and share of the forward (best of ``--repeats`` forwards
after a warm-up, each part from that forward).  The wrappers materialise the lazy rank
maps, so the parts add up to the forward's time to within their own overhead.

Usage::

    python benchmarks/upscale_breakdown.py [--scale 2] [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager

import torch

import ignn_pyg.graph.cross_scale_graph as cross_scale_graph
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.data import image_to_tensor
from ignn_pyg.data.photos import load_photo
from ignn_pyg.runtime.precision import resolve_precision
from ignn_pyg.inference.bundled import bundled_weights

BACKBONE = ("head", "body_pre", "fuse_lr", "body_post", "upsample", "fuse_hr", "tail")


@contextmanager
def timed(owner: object, attribute: str, name: str, seconds: dict[str, float]):
    """Replace ``owner.attribute`` (a callable) by a wrapper adding its wall time to
    ``seconds[name]``; a returned iterator is consumed inside the timing."""
    original: Callable = getattr(owner, attribute)
    own = attribute in vars(owner)  # a module's function; else a method of the object's class

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        if hasattr(result, "__next__"):
            result = iter(list(result))
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return result

    setattr(owner, attribute, wrapper)
    try:
        yield
    finally:
        if own:
            setattr(owner, attribute, original)
        else:
            delattr(owner, attribute)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    retain_freed_memory()  # as the ignn-pyg command does
    torch.set_num_threads(args.threads)
    model, _ = load_checkpoint(bundled_weights(args.scale))
    precision = resolve_precision("auto", "cpu")
    precision.prepare_model(model.eval())
    lr = image_to_tensor(load_photo("rocket")[:400, :640])
    aggregation = model.aggregation
    seconds: dict[str, float] = {}
    parts = [(cross_scale_graph, "windowed_knn", "graph: search"),
             (cross_scale_graph, "edge_features", "graph: edge features"),
             (model.embedding, "forward", "graph: embedding"),
             (aggregation, "_fused_rank_maps", "aggregation: fold"),
             (aggregation, "_rank_weights", "aggregation: weight nets"),
             (aggregation.downsample, "forward", "aggregation: psi"),
             (aggregation, "forward", "aggregation (all)"),
             *((getattr(model, name), "forward", name) for name in BACKBONE)]
    best: tuple[float, dict[str, float]] = (float("inf"), {})
    with ExitStack() as stack, torch.no_grad():
        for owner, attribute, name in parts:
            stack.enter_context(timed(owner, attribute, name, seconds))
        for _ in range(args.repeats + 1):  # the first one warms up
            seconds.clear()
            start = time.perf_counter()
            precision.run(model, lr)
            total = time.perf_counter() - start
            best = min(best, (total, dict(seconds)), key=lambda pair: pair[0])
    total, seconds = best
    graph = sum(v for k, v in seconds.items() if k.startswith("graph"))
    rest = seconds["aggregation (all)"] - sum(v for k, v in seconds.items() if k.startswith("aggregation:"))
    rows = [(k, v) for k, v in seconds.items() if k != "aggregation (all)"] + [("aggregation: rest", rest)]
    print(f"IGNN x{args.scale}, 640x400 LR, {precision}, {args.threads} threads: forward {total:.2f} s "
          f"(graph {graph:.2f} s, aggregation {seconds['aggregation (all)']:.2f} s)")
    for name, value in sorted(rows, key=lambda row: -row[1]):
        print(f"  {name:28s} {value:6.2f} s  {100 * value / total:5.1f}%")
    accounted = graph + seconds["aggregation (all)"] + sum(seconds[name] for name in BACKBONE)
    print(f"  {'(not in a part)':28s} {total - accounted:6.2f} s  {100 * (total - accounted) / total:5.1f}%")


if __name__ == "__main__":
    main()
