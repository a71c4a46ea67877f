"""The graph explorer: one self-contained HTML page for studying a cross-scale graph.

:func:`explorer_page` turns a one-image :class:`~ignn_pyg.graph.CrossScaleGraph` (and,
optionally, a trained layer's weights on it, :class:`LayerWeights`) into a single HTML
file with its data and script inlined: no server, no network.  On the page a researcher
points at any LR query patch and sees its ``k`` matches drawn on the image, and in a
side panel the query patch, each neighbour's downsampled-image patch beside the
``s``-times larger LR region it stands for, with rank, distance and edge-feature norm,
and the layer's per-rank weights; maps over the image and histograms summarise the
whole graph.  ``docs/graph.md`` shows the page and how to read each map.

Per-pixel maps are per-query values folded onto the LR image: a pixel gets the mean over
the query patches covering it (:func:`~ignn_pyg.graph.patches.fold_patch_constants`),

.. math::
    V(u) = \\frac{1}{|\\{m : u \\in P_m\\}|} \\sum_{m : u \\in P_m} v_m .

Test hooks (stable): ``#query=<target node id>`` in the page's address selects that
query; the element ``id="neighbors"`` holds one child per neighbour, nearest first, each
with ``data-source`` (source node id), ``data-rank`` and ``data-distance`` (the float32
distance, printed so that it reads back exactly), and carries ``data-query``, the
selected query's id.  With weights, the element ``id="weights"`` holds one cell per
(weight net, rank, query pixel) with ``data-net``, ``data-rank``, ``data-row``,
``data-col`` (LR pixel; ``-1`` for per-edge weights) and ``data-weight``.  ``document.body``
gets ``data-ready="true"`` once the data is unpacked.

The arrays travel gzip-compressed and base64-encoded in the page; the browser inflates
them with ``DecompressionStream``.  Weights are stored as ``round(65535 w)`` (error
below ``1e-5``), maps as 8-bit levels between their ``lo`` and ``hi``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from torch import Tensor

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.patches import fold_patch_constants
from ignn_pyg.graph.study import RANK_COLOURS, border_limited_queries, edge_displacement, format_summary, graph_summary
from ignn_pyg.graph.windows import search_windows

HISTOGRAM_BINS = 40
#: maps and histograms span [lo, this quantile]; larger values take the top colour / the overflow bar
UPPER_QUANTILE = 0.99
COLORMAP = "viridis"
_DATA_ELEMENT = '<script id="explorer-data" type="application/json">'


@dataclass(frozen=True)
class LayerWeights:
    """A trained aggregation layer's weights on one image's graph (``k`` neighbours,
    LR image ``H x W``, ``E`` edges); exactly one of the two fields is given.

    Attributes:
        label: where the weights come from, shown on the page (e.g. a checkpoint's name).
        pixel_weights: the reference fusion's softmax over ranks at every LR pixel, one
            ``[k, H, W]`` tensor per weight net (e.g. ``{"HR": ..., "LR": ...}``).
        edge_weight: the edge fusion's per-edge softmax weights ``[E]``.
    """

    label: str
    pixel_weights: dict[str, Tensor] = field(default_factory=dict)
    edge_weight: Tensor | None = None

    def check(self, graph: CrossScaleGraph) -> None:
        """Raise ``ValueError`` unless the weights fit ``graph``'s shapes."""
        if bool(self.pixel_weights) == (self.edge_weight is not None):
            raise ValueError("LayerWeights needs either pixel_weights or edge_weight, not both or neither")
        k, grid = graph.num_neighbors, graph.target_grid
        for name, weights in self.pixel_weights.items():
            if tuple(weights.shape) != (k, grid.height, grid.width):
                raise ValueError(
                    f"pixel weights {name!r} have shape {tuple(weights.shape)}, "
                    f"expected [k, H, W] = {(k, grid.height, grid.width)}"
                )
        if self.edge_weight is not None and tuple(self.edge_weight.shape) != (graph.num_edges,):
            raise ValueError(
                f"edge_weight has shape {tuple(self.edge_weight.shape)}, expected [E] = ({graph.num_edges},)"
            )


@dataclass(frozen=True)
class ExplorerMap:
    """One switchable map over the LR image.

    Attributes:
        key, label: identifier and title.
        values: ``[H, W]`` float64.
        lo, hi: the colour scale's ends (values outside take the end colours).
        description: how to read it (shown under the legend).
    """

    key: str
    label: str
    values: Tensor
    lo: float
    hi: float
    description: str


def pixel_map(per_query: Tensor, graph: CrossScaleGraph) -> Tensor:
    """Per-query values ``[M]`` folded onto the LR image, ``[H, W]`` float64: each pixel the
    mean over the query patches covering it (module docstring)."""
    values = per_query.detach().to("cpu", torch.float64).reshape(1, -1, 1)
    return fold_patch_constants(values, graph.target_grid)[0, 0].contiguous()


def weight_entropy(weights: Tensor, dim: int = 0) -> Tensor:
    """Entropy :math:`H = -\\sum_r w_r \\ln w_r` (nats, ``0 \\ln 0 = 0``) of weights that sum
    to 1 along ``dim``: 0 when one neighbour takes all, :math:`\\ln k` for equal weights."""
    weights = weights.detach().double()
    return -torch.special.xlogy(weights, weights).sum(dim)


def _upper(values: Tensor) -> float:
    """The colour scale's or histogram's top: the :data:`UPPER_QUANTILE` quantile of
    ``values`` (of an evenly strided sample of at most 2^24, ``torch.quantile``'s limit),
    or their maximum where that is 0, or 1 where all are 0."""
    flat = values.detach().double().flatten()
    flat = flat[:: -(-flat.numel() // 2**24)]
    top = float(torch.quantile(flat, UPPER_QUANTILE))
    return top if top > 0 else max(float(flat.max()), 0.0) or 1.0


def explorer_maps(graph: CrossScaleGraph, layer_weights: LayerWeights | None = None) -> list[ExplorerMap]:
    """The page's maps over the LR image (all ``[H, W]``, per-query values folded by
    :func:`pixel_map` unless said otherwise):

    * ``distance``: the nearest neighbour's squared embedding distance;
    * ``displacement``: the mean over the ``k`` neighbours of :func:`edge_displacement`;
    * ``border``: share of the covering queries whose search block was border-limited
      (:func:`~ignn_pyg.graph.study.border_limited_queries`);
    * with reference-fusion weights, ``entropy/<net>``: :func:`weight_entropy` of each
      weight net's softmax over ranks at every pixel (not folded: the weights are per pixel);
      with edge-fusion weights, ``entropy/edge``: each query's entropy over its ``k``
      edge weights, folded.
    """
    k = graph.num_neighbors
    distance = graph.distance.detach().cpu().view(-1, k)
    displacement = edge_displacement(graph).view(-1, k)
    nearest = pixel_map(distance[:, 0], graph)
    mean_displacement = pixel_map(displacement.mean(1), graph)
    maps = [
        ExplorerMap(
            "distance",
            "nearest-neighbour distance",
            nearest,
            0.0,
            _upper(nearest),
            "squared embedding distance to the rank-0 match, averaged over the query patches "
            "covering the pixel: dark = the patch recurs almost exactly at the coarser scale",
        ),
        ExplorerMap(
            "displacement",
            "mean neighbour displacement (LR px)",
            mean_displacement,
            0.0,
            _upper(mean_displacement),
            "mean distance in LR pixels from a query to the regions its k neighbours stand "
            "for: dark = matches found next to the query (self-similar at the same place)",
        ),
        ExplorerMap(
            "border",
            "share of border-limited windows",
            pixel_map(border_limited_queries(graph).double(), graph),
            0.0,
            1.0,
            "share of the covering query patches whose search block was clipped by the "
            "border of the downsampled patch grid (or searched globally): yellow = the "
            "window could not centre on the query",
        ),
    ]
    if layer_weights is None:
        return maps
    layer_weights.check(graph)
    top = float(np.log(k))
    for name, weights in layer_weights.pixel_weights.items():
        maps.append(
            ExplorerMap(
                f"entropy/{name}",
                f"{name} weight entropy (nats)",
                weight_entropy(weights),
                0.0,
                top,
                f"entropy of the {name} weight net's softmax over the k ranks at the pixel: 0 = one "
                f"neighbour takes all, ln k = {top:.3f} = all neighbours weigh the same",
            )
        )
    if layer_weights.edge_weight is not None:
        per_query = weight_entropy(layer_weights.edge_weight.view(-1, k), dim=1)
        maps.append(
            ExplorerMap(
                "entropy/edge",
                "edge weight entropy (nats)",
                pixel_map(per_query, graph),
                0.0,
                top,
                f"entropy of each query's k edge weights, averaged over the query patches covering "
                f"the pixel: 0 = one neighbour takes all, ln k = {top:.3f} = all weigh the same",
            )
        )
    return maps


def histogram(values: Tensor, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Counts of ``values`` in ``bins`` equal bins over ``[0, hi]``, ``hi`` the
    :data:`UPPER_QUANTILE` quantile; values above ``hi`` are counted in ``overflow``.

    Returns ``{"lo", "hi", "counts" [bins], "overflow", "max"}``.
    """
    array = values.detach().double().cpu().numpy().ravel()
    hi = _upper(values)
    counts, _ = np.histogram(np.minimum(array, hi), bins=bins, range=(0.0, hi))
    overflow = int((array > hi).sum())
    counts[-1] -= overflow  # np.minimum put them into the last bin
    return {"lo": 0.0, "hi": hi, "counts": counts.tolist(), "overflow": overflow, "max": float(array.max())}


class _Blob:
    """Named arrays packed into one buffer: each starts at a multiple of 8 bytes, so the
    browser can view it as a typed array in place."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.manifest: dict[str, dict[str, Any]] = {}
        self.size = 0

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        dtype = {
            np.dtype(np.int32): "int32",
            np.dtype(np.float32): "float32",
            np.dtype(np.uint16): "uint16",
            np.dtype(np.uint8): "uint8",
        }[array.dtype]
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        self.manifest[name] = {
            "dtype": dtype,
            "offset": self.size,
            "length": int(array.size),
            "shape": list(array.shape),
        }
        padding = -len(data) % 8
        self.parts.append(data + bytes(padding))
        self.size += len(data) + padding

    def encode(self) -> str:
        """gzip (fixed timestamp, so equal inputs give equal pages), then base64."""
        return base64.b64encode(gzip.compress(b"".join(self.parts), compresslevel=6, mtime=0)).decode("ascii")


def _png_base64(image: np.ndarray) -> str:
    return base64.b64encode(iio.imwrite("<bytes>", image, extension=".png")).decode("ascii")


def _levels(values: Tensor, lo: float, hi: float) -> np.ndarray:
    """``values`` as 8-bit levels ``round(255 clip((v - lo) / (hi - lo), 0, 1))``."""
    scaled = ((values.detach().double().cpu() - lo) / (hi - lo)).clamp(0.0, 1.0)
    return torch.round(scaled * 255).to(torch.uint8).numpy()


def _weight_levels(weights: Tensor) -> np.ndarray:
    """Weights in [0, 1] as ``round(65535 w)``, uint16."""
    return torch.round(weights.detach().double().cpu().clamp(0.0, 1.0) * 65535).numpy().astype(np.uint16)


def explorer_data(
    lr_image: np.ndarray,
    down_image: np.ndarray,
    graph: CrossScaleGraph,
    layer_weights: LayerWeights | None = None,
    title: str = "",
) -> dict[str, Any]:
    """Everything the page shows, JSON-ready (see :func:`explorer_page`).

    Arrays (in ``"blob"``, described by ``"arrays"``): ``source`` ``[M, k]`` int32 source
    ids nearest first, ``distance`` ``[M, k]`` float32, ``edge_norm`` ``[M, k]`` float32
    (:math:`\\lVert a_e \\rVert_2` of the edge feature), ``target_pos`` ``[M, 2]`` and
    ``source_pos`` ``[N, 2]`` int32 top-left pixels, ``border_limited`` ``[M]`` uint8,
    ``window_rows`` / ``window_cols`` int32 search-block origins per query row / column,
    ``map/<key>`` ``[H, W]`` uint8 levels, ``weights/<net>`` uint16 (``[k, H, W]`` per
    pixel, or ``[M, k]`` for edge weights).
    """
    if graph.batch_size != 1:
        raise ValueError(f"the explorer shows one image's graph, got {graph.batch_size} images")
    tg, sg = graph.target_grid, graph.source_grid
    for name, image, size in (
        ("lr_image", lr_image, (tg.height, tg.width)),
        ("down_image", down_image, (sg.height, sg.width)),
    ):
        if image.dtype != np.uint8 or image.shape != (*size, 3):
            raise ValueError(f"{name} must be [H, W, 3] uint8 of size {size}, got {image.shape} {image.dtype}")
    k = graph.num_neighbors
    graph = graph.to("cpu")
    blob = _Blob()
    blob.add("source", graph.neighbors().to(torch.int32).numpy())
    blob.add("distance", graph.distance.detach().float().view(-1, k).numpy())
    blob.add("edge_norm", graph.edge_attr.detach().float().norm(dim=1).view(-1, k).numpy())
    blob.add("target_pos", graph.target_pos.to(torch.int32).numpy())
    blob.add("source_pos", graph.source_pos.to(torch.int32).numpy())
    blob.add("border_limited", border_limited_queries(graph).to(torch.uint8).numpy())
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), graph.window, graph.scale, graph.window_indexing)
    if windows is not None:
        blob.add("window_rows", windows.row_origin.to(torch.int32).numpy())
        blob.add("window_cols", windows.col_origin.to(torch.int32).numpy())

    maps = explorer_maps(graph, layer_weights)
    for m in maps:
        blob.add(f"map/{m.key}", _levels(m.values, m.lo, m.hi))
    weights = None
    if layer_weights is not None:
        if layer_weights.edge_weight is not None:
            blob.add("weights/edge", _weight_levels(layer_weights.edge_weight.view(-1, k)))
            nets = ["edge"]
        else:
            nets = list(layer_weights.pixel_weights)
            for name, w in layer_weights.pixel_weights.items():
                blob.add(f"weights/{name}", _weight_levels(w))
        weights = {"label": layer_weights.label, "per_pixel": layer_weights.edge_weight is None, "nets": nets}

    summary = graph_summary(graph)
    from matplotlib import colormaps  # here, not at import: `ignn-pyg --help` imports this module

    lut = (colormaps[COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    return {
        "title": title,
        "summary_text": format_summary(summary),
        "scale": graph.scale,
        "k": k,
        "patch_size": tg.patch_size,
        "stride": tg.stride,
        "lr": {"height": tg.height, "width": tg.width, "png": _png_base64(lr_image)},
        "down": {"height": sg.height, "width": sg.width, "png": _png_base64(down_image)},
        "target_grid": {"rows": tg.rows, "cols": tg.cols},
        "source_grid": {"rows": sg.rows, "cols": sg.cols},
        "window": None if windows is None else {"rows": windows.rows, "cols": windows.cols},
        "maps": [{"key": m.key, "label": m.label, "lo": m.lo, "hi": m.hi, "description": m.description} for m in maps],
        "histograms": [
            {"key": "distance", "label": "distance (squared, embedding)", **histogram(graph.distance)},
            {"key": "displacement", "label": "displacement (LR px)", **histogram(edge_displacement(graph))},
        ],
        "weights": weights,
        "rank_colours": [list(c) for c in RANK_COLOURS],
        "colormap": base64.b64encode(lut.tobytes()).decode("ascii"),
        "arrays": blob.manifest,
        "blob": blob.encode(),
    }


def explorer_page(
    lr_image: np.ndarray,
    down_image: np.ndarray,
    graph: CrossScaleGraph,
    layer_weights: LayerWeights | None = None,
    title: str = "",
) -> str:
    """The explorer as one self-contained HTML page (module docstring).

    Args:
        lr_image: ``[H, W, 3]`` uint8, the LR image the graph's queries come from.
        down_image: ``[H // s, W // s, 3]`` uint8, the downsampled image of its sources.
        graph: a one-image :class:`CrossScaleGraph`.
        layer_weights: a trained layer's weights on ``graph``, or ``None``.
        title: shown as the page's heading.

    Returns:
        The HTML text.
    """
    data = json.dumps(explorer_data(lr_image, down_image, graph, layer_weights, title), separators=(",", ":"))
    template = resources.files("ignn_pyg.graph").joinpath("explorer_page.html").read_text(encoding="utf-8")
    placeholder = _DATA_ELEMENT + "/*EXPLORER_DATA*/null"
    if template.count(placeholder) != 1:
        raise RuntimeError("explorer_page.html lost its data placeholder")
    # "</" inside a <script> element would end it early
    return template.replace(placeholder, _DATA_ELEMENT + data.replace("</", "<\\/"))


def read_explorer_page(html: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The inverse of :func:`explorer_page`, for tests and scripts: the page's data (as
    :func:`explorer_data` made it) and its arrays, unpacked as the page's script does
    (base64, gunzip, little-endian views at the manifest's offsets)."""
    start = html.index(_DATA_ELEMENT) + len(_DATA_ELEMENT)
    data = json.loads(html[start : html.index("</script>", start)])
    buffer = gzip.decompress(base64.b64decode(data["blob"]))
    arrays = {
        name: np.frombuffer(buffer, np.dtype(a["dtype"]).newbyteorder("<"), a["length"], a["offset"]).reshape(
            a["shape"]
        )
        for name, a in data["arrays"].items()
    }
    return data, arrays


def write_explorer_page(path: str | os.PathLike, *args: Any, **kwargs: Any) -> int:
    """Write :func:`explorer_page` (same arguments after ``path``) atomically; returns its
    size in bytes."""
    html = explorer_page(*args, **kwargs).encode("utf-8")
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(html)
    os.replace(tmp, path)
    return len(html)
