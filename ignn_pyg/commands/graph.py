"""``ignn-pyg graph``: build the cross-scale graph of one image and write a study of it.

Four files land in ``--out``: ``graph.pt`` (:meth:`CrossScaleGraph.save`),
``summary.json`` (also printed as a table), ``overlay.png`` (matches of a random sample
of query patches) -- see :mod:`ignn_pyg.graph.study` -- and ``explorer.html``, the
interactive page of :mod:`ignn_pyg.graph.explorer_page`.

Without ``--weights`` the graph is built on a random-weight VGG embedding (``--seed``)
or on raw pixels, with the graph options given.  With ``--weights`` it is the graph the
checkpoint's model builds -- its own embedding weights, ``k``, window, window placement,
patch geometry and backend, at its graph scale (2 for a x4 model) -- and the page also
shows what the model's trained :class:`~ignn_pyg.nn.CrossScaleAggregation` does with it:
the reference fusion's per-pixel softmax over ranks (both weight nets) or the edge
fusion's per-edge weights.  This module sits above ``graph/`` because it loads models.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ignn_pyg.data.atomic_files import write_text_atomic
from ignn_pyg.data.image_io import image_to_tensor, read_image, tensor_to_image, write_image
from ignn_pyg.data.output_checks import check_new, check_writable
from ignn_pyg.data.resize import downsample_for_graph, modcrop
from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph, build_cross_scale_graph
from ignn_pyg.graph.embedding import EMBEDDINGS
from ignn_pyg.graph.explorer_page import LayerWeights, write_explorer_page
from ignn_pyg.graph.knn import BACKENDS, resolve_backend
from ignn_pyg.graph.study import draw_overlay, format_summary, graph_summary, seeded_embedding
from ignn_pyg.graph.windows import WINDOW_INDEXINGS
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.models import IGNN
from ignn_pyg.nn import CrossScaleAggregation

#: graph options without ``--weights``; with it, the checkpoint's values
GRAPH_DEFAULTS: dict[str, Any] = {
    "num_neighbors": 5,
    "window": 30,
    "window_indexing": "reference",
    "embedding": "vgg",
    "backend": "auto",
}
DEFAULT_SCALE = 2
OUTPUT_FILES = ("graph.pt", "summary.json", "overlay.png", "explorer.html")


def layer_weights(aggregation: CrossScaleAggregation, graph: CrossScaleGraph, label: str) -> LayerWeights:
    """The weights ``aggregation`` gives the edges of a one-image ``graph``:
    :meth:`~CrossScaleAggregation.rank_weights` (nets ``"HR"`` and ``"LR"``, ``[k, H, W]``
    each) for the reference fusion, :meth:`~CrossScaleAggregation.edge_weights` (``[E]``)
    for the edge fusion."""
    with torch.no_grad():
        if aggregation.fusion == "reference":
            hr_weight, lr_weight = aggregation.rank_weights(graph)
            return LayerWeights(label, pixel_weights={"HR": hr_weight[0], "LR": lr_weight[0]})
        return LayerWeights(label, edge_weight=aggregation.edge_weights(graph))


def load_graph_model(path: Path, scale: int | None, options: dict[str, Any]) -> IGNN:
    """The IGNN in checkpoint ``path`` (ours, or the authors' with ``scale``), checked
    against the graph ``options`` the user gave (``None`` = not given): each given one
    must equal the checkpoint's, since the page shows the graph the model builds."""
    model = load_weights(path, scale)
    if not isinstance(model, IGNN):
        raise ValueError(
            f"--weights {path} holds a {type(model).__name__}, which builds no graph; give an IGNN checkpoint"
        )
    if not isinstance(model.aggregation, CrossScaleAggregation):
        raise ValueError(
            f"--weights {path} uses aggregation {model.config.aggregation!r}; the explorer "
            "shows the weights of the 'ignn' layer (CrossScaleAggregation) only"
        )
    for name, given in options.items():
        own = getattr(model.config, name)
        if given is not None and given != own:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{flag} {given} differs from the checkpoint's {own}: with --weights the "
                f"graph is the one the model builds; leave {flag} out"
            )
    return model


@contextlib.contextmanager
def _stage(message: str) -> Iterator[None]:
    """Print ``message``, run the block, then its duration or ``failed`` (on stderr: stdout
    keeps the table, and a CLI error still gets a line of its own)."""
    print(f"{message} ...", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        print(" failed", file=sys.stderr, flush=True)
        raise
    print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ignn-pyg graph``."""
    parser.add_argument("image", type=Path, help="the image, taken as the LR input")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="output folder for graph.pt, summary.json, overlay.png and explorer.html",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        metavar="W",
        help="an IGNN checkpoint: build the graph with its embedding and graph settings, "
        "and show its layer's weights on the page",
    )
    parser.add_argument(
        "--scale",
        type=int,
        help=f"graph scale s (default {DEFAULT_SCALE}); with --weights the model's scale, "
        "needed for the authors' IGNN_x*.pth only",
    )
    parser.add_argument("--num-neighbors", type=int, help="k (default 5)")
    parser.add_argument("--window", type=int, help="search window in patches (default 30)")
    parser.add_argument(
        "--window-indexing",
        choices=WINDOW_INDEXINGS,
        help="reference (default): the authors' window placement; centered: centred on i/s",
    )
    parser.add_argument(
        "--embedding",
        choices=EMBEDDINGS,
        help="vgg (default): VGG19 relu1_2 slice with random weights from --seed "
        "(--weights supplies trained ones); pixel: RGB / 255",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="k-NN search (default auto: dense, the faster on CPU and GPU; cluster: torch_cluster.knn)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the VGG weights and of the overlay sample")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --out (without it they are refused before any work)",
    )
    parser.add_argument("--sample", type=int, default=40, help="query patches drawn in overlay.png (default 40)")
    parser.epilog = "With --weights, graph options may be left out: they come from the checkpoint."


def _check_size(path: Path, lr: Tensor, scale: int, patch_size: int) -> None:
    h, w = lr.shape[-2:]
    min_side = patch_size * scale  # the downsampled image must hold one patch
    if min(h, w) < min_side:
        raise ValueError(
            f"image {path} is {h}x{w} after cropping to a multiple of scale {scale}; "
            f"the graph needs at least {min_side}x{min_side} pixels"
        )


def _seeded_graph(args: argparse.Namespace, lr: Tensor, down: Tensor, scale: int) -> CrossScaleGraph:
    """The graph on :func:`seeded_embedding`, with the given options or their defaults."""
    settings = {
        name: GRAPH_DEFAULTS[name] if getattr(args, name) is None else getattr(args, name) for name in GRAPH_DEFAULTS
    }
    with _stage(f"embedding both images ({settings['embedding']})"):
        embedding = seeded_embedding(settings["embedding"], args.seed)
        lr_embed, down_embed = embedding(lr), embedding(down)
    with _stage(
        f"building the graph ({lr_embed.shape[1]} channels, k={settings['num_neighbors']}, window {settings['window']})"
    ):
        return build_cross_scale_graph(
            lr_embed,
            down_embed,
            scale,
            num_neighbors=settings["num_neighbors"],
            window=settings["window"],
            backend=settings["backend"],
            window_indexing=settings["window_indexing"],
        )


def run(args: argparse.Namespace) -> int:
    """Build the graph of ``args.image`` and write the four study files into ``args.out``."""
    if args.scale is not None and args.scale < 2:
        raise ValueError(f"--scale must be an integer >= 2, got {args.scale}")
    if args.sample < 0:
        raise ValueError(f"--sample must be >= 0, got {args.sample}")
    if args.backend is not None:
        resolve_backend(args.backend)  # before any work: is its package there?
    image = read_image(args.image)
    model = None
    if args.weights is not None:
        model = load_graph_model(args.weights, args.scale, {name: getattr(args, name) for name in GRAPH_DEFAULTS})
    if model is None:
        scale, patch_size = DEFAULT_SCALE if args.scale is None else args.scale, 3
    else:
        scale, patch_size = model.graph_scale, model.config.patch_size
    lr = modcrop(image_to_tensor(image), scale).contiguous()
    _check_size(args.image, lr, scale, patch_size)
    check_new([args.out / name for name in OUTPUT_FILES], args.overwrite)
    check_writable(args.out)
    weights = None
    with torch.no_grad():
        with _stage(f"downsampling {lr.shape[-2]}x{lr.shape[-1]} by {scale}"):
            down = downsample_for_graph(lr, scale)
        if model is None:
            graph = _seeded_graph(args, lr, down, scale)
        else:
            cfg = model.config
            with _stage(f"building the model's graph (k={cfg.num_neighbors}, window {cfg.window})"):
                graph = model.build_graph(lr, down)
            with _stage(f"the layer's weights (fusion {cfg.fusion})"):
                weights = layer_weights(model.aggregation, graph, args.weights.name)
    args.out.mkdir(parents=True, exist_ok=True)
    with _stage(f"writing {args.out}"):
        graph.save(args.out / "graph.pt")  # these two write atomically themselves
        summary = graph_summary(graph)
        write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        lr_image = tensor_to_image(lr)
        write_image(args.out / "overlay.png", draw_overlay(lr_image, graph, args.sample, args.seed))
        title = args.image.name if weights is None else f"{args.image.name}, {weights.label}"
        write_explorer_page(args.out / "explorer.html", lr_image, tensor_to_image(down), graph, weights, title)
    print(format_summary(summary))
    return 0
