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
from ignn_pyg.data import image_to_tensor
from ignn_pyg.data.photos import load_photo
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.runtime.precision import resolve_precision

BACKBONE = ("head", "body_pre", "fuse_lr", "body_post", "upsample", "fuse_hr", "tail")


@contextmanager
def timed(
    owner: object,
    attribute: str,
    name: str,
    seconds: dict[str, float],
    meter: Callable[[], float] = time.perf_counter,
):
    """Replace ``owner.attribute`` (a callable) by a wrapper adding its wall time to
    ``seconds[name]``; a returned iterator is consumed inside the timing.  Another
    ``meter`` (a running count, e.g. a FLOP counter's total) adds what it grew by instead."""
    original: Callable = getattr(owner, attribute)
    own = attribute in vars(owner)  # a module's function; else a method of the object's class

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = meter()
        result = original(*args, **kwargs)
        if hasattr(result, "__next__"):
            result = iter(list(result))
        seconds[name] = seconds.get(name, 0.0) + meter() - start
        return result

    setattr(owner, attribute, wrapper)
    try:
        yield
    finally:
        if own:
            setattr(owner, attribute, original)
        else:
            delattr(owner, attribute)


#: the parts the issue (#38) counts as the graph's own work that is not a convolution
NON_CONVOLUTION = (
    "graph: search",
    "graph: embedding",
    "graph: edge features",
    "aggregation: fold",
    "aggregation: rest",
)


def part_timers(model) -> list[tuple[object, str, str]]:
    """``(owner, attribute, part name)`` of every part timed in an IGNN with the authors'
    aggregation (:class:`~ignn_pyg.nn.CrossScaleAggregation`): the graph, the aggregation and
    its parts, and the backbone (module docstring)."""
    aggregation = model.aggregation
    return [
        (cross_scale_graph, "windowed_knn", "graph: search"),
        (cross_scale_graph, "edge_features", "graph: edge features"),
        (model.embedding, "forward", "graph: embedding"),
        (aggregation, "_fused_rank_maps", "aggregation: fold"),
        (aggregation, "_rank_weights", "aggregation: weight nets"),
        (aggregation.downsample, "forward", "aggregation: psi"),
        (aggregation, "forward", "aggregation (all)"),
        *((getattr(model, name), "forward", name) for name in BACKBONE),
    ]


@contextmanager
def timed_parts(model, seconds: dict[str, float], meter: Callable[[], float] = time.perf_counter):
    """Every part of :func:`part_timers` timed (or measured by ``meter``, see :func:`timed`)
    into ``seconds`` inside the block (the wrappers materialise the lazy rank maps: memory
    is not the untimed forward's)."""
    with ExitStack() as stack:
        for owner, attribute, name in part_timers(model):
            stack.enter_context(timed(owner, attribute, name, seconds, meter))
        yield


def part_rows(seconds: dict[str, float], total: float) -> list[tuple[str, float]]:
    """``(part, seconds)`` rows of a run that took ``total`` seconds, slowest first: every
    part of :func:`part_timers` except the whole aggregation, then ``aggregation: rest``
    (the aggregation less its timed parts) and last ``(not in a part)`` (``total`` less
    the graph, the aggregation and the backbone)."""
    aggregation = seconds.get("aggregation (all)", 0.0)
    rest = aggregation - sum(v for k, v in seconds.items() if k.startswith("aggregation:"))
    rows = [(k, v) for k, v in seconds.items() if k != "aggregation (all)"] + [("aggregation: rest", rest)]
    accounted = (
        sum(v for k, v in seconds.items() if k.startswith("graph"))
        + aggregation
        + sum(seconds.get(name, 0.0) for name in BACKBONE)
    )
    return sorted(rows, key=lambda row: -row[1]) + [("(not in a part)", total - accounted)]


def format_parts(seconds: dict[str, float], total: float, indent: str = "  ") -> list[str]:
    """One line per row of :func:`part_rows`: seconds and share of ``total``; a last line
    sums the :data:`NON_CONVOLUTION` parts."""
    rows = part_rows(seconds, total)
    lines = [f"{indent}{name:28s} {value:7.2f} s  {100 * value / total:5.1f}%" for name, value in rows]
    graph_work = sum(value for name, value in rows if name in NON_CONVOLUTION)
    lines.append(
        f"{indent}{'non-convolution graph work':28s} {graph_work:7.2f} s  {100 * graph_work / total:5.1f}%"
        f"  ({', '.join(name.split(': ')[1] for name in NON_CONVOLUTION)})"
    )
    return lines


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
    seconds: dict[str, float] = {}
    best: tuple[float, dict[str, float]] = (float("inf"), {})
    with timed_parts(model, seconds), torch.no_grad():
        for _ in range(args.repeats + 1):  # the first one warms up
            seconds.clear()
            start = time.perf_counter()
            precision.run(model, lr)
            total = time.perf_counter() - start
            best = min(best, (total, dict(seconds)), key=lambda pair: pair[0])
    total, seconds = best
    graph = sum(v for k, v in seconds.items() if k.startswith("graph"))
    print(
        f"IGNN x{args.scale}, 640x400 LR, {precision}, {args.threads} threads: forward {total:.2f} s "
        f"(graph {graph:.2f} s, aggregation {seconds['aggregation (all)']:.2f} s)"
    )
    print("\n".join(format_parts(seconds, total)))


if __name__ == "__main__":
    main()
