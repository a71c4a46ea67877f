"""The study of one image's cross-scale graph: its numbers and an overlay picture.

These are the pure functions behind ``ignn-pyg graph`` (:mod:`ignn_pyg.commands.graph`), which
takes an image as the LR input ``x`` (``[1, 3, H, W]`` in [0, 255], cropped to a
multiple of the graph scale ``s``) and matches it against its downsampled copy, made the
authors' way -- MATLAB bicubic on ``x / 255``, times 255, clamped to [0, 255] and *not*
rounded:

.. math::
    x_\\downarrow = \\operatorname{clamp}(255 \\cdot \\operatorname{imresize}(x / 255, 1/s),\\ 0,\\ 255).

* :func:`graph_summary` / :func:`format_summary`: sizes and statistics (``summary.json``);
* :func:`draw_overlay`: matches of a random sample of query patches drawn on the LR image
  (``overlay.png``);
* :func:`edge_displacement`, :func:`border_limited_queries`: per-edge and per-query
  quantities the summary and the explorer page (:mod:`ignn_pyg.graph.explorer_page`) share;
* :func:`seeded_embedding`: the patch embedding when no model checkpoint supplies one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.embedding import make_embedding
from ignn_pyg.graph.windows import search_windows

# Colour of the query box, and of a match's line and box by its rank (cycled for k > 8):
# rank 0 red, then orange, yellow, green, cyan, blue, purple, magenta.
QUERY_COLOUR = (255, 255, 255)
RANK_COLOURS = (
    (230, 25, 75),
    (245, 130, 48),
    (255, 225, 25),
    (60, 180, 75),
    (70, 240, 240),
    (0, 130, 200),
    (145, 30, 180),
    (240, 50, 230),
)


def seeded_embedding(kind: str, seed: int) -> torch.nn.Module:
    """The patch embedding ``kind`` (``"vgg"`` or ``"pixel"``), see
    :func:`~ignn_pyg.graph.embedding.make_embedding`.

    ``"vgg"`` gets PyTorch's default random initialisation drawn from
    ``torch.manual_seed(seed)`` (the global generator is left untouched): its weights
    normally come from a model checkpoint, and a study of the graph alone has none.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_embedding(kind)


def border_limited_queries(graph: CrossScaleGraph) -> Tensor:
    """``[M]`` bool: the query's search block is narrower than ``graph.window`` or touches
    the border of the downsampled patch grid, in either direction (all ``True`` for
    global search)."""
    tg, sg = graph.target_grid, graph.source_grid
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), graph.window, graph.scale, graph.window_indexing)
    if windows is None:
        return torch.ones(tg.num_patches, dtype=torch.bool)

    def limited(origin: Tensor, size: int, grid_side: int) -> Tensor:
        return (origin == 0) | (origin + size == grid_side) | (size < graph.window)

    rows = limited(windows.row_origin, windows.rows, sg.rows)
    cols = limited(windows.col_origin, windows.cols, sg.cols)
    return (rows[:, None] | cols[None, :]).reshape(-1)


def edge_displacement(graph: CrossScaleGraph) -> Tensor:
    """Distance in LR pixels between each query patch and the region its neighbour stands for.

    A source patch with top-left pixel ``p`` in the downsampled image stands for the
    ``s``-times larger LR region with top-left pixel ``s p``; for edge ``(n, m)``

    .. math::
        \\delta_e = \\lVert s\\, p_n - p_m \\rVert_2 .

    Returns ``[E]`` float64.
    """
    src, dst = graph.edge_index.cpu()
    region = graph.scale * graph.source_pos.cpu()[src]
    return (region - graph.target_pos.cpu()[dst]).double().norm(dim=1)


def _stats(values: Tensor, names: tuple[str, ...]) -> dict[str, float]:
    array = values.double().cpu().numpy()
    ops = {"min": np.min, "mean": np.mean, "median": np.median, "max": np.max}
    return {name: float(ops[name](array)) for name in names}


def graph_summary(graph: CrossScaleGraph) -> dict[str, Any]:
    """Sizes and statistics of a cross-scale graph of one or more images.

    Returns a JSON-ready dict:

    * ``lr_size``, ``down_size``: ``[H, W]`` of the LR and downsampled maps;
    * ``scale``, ``num_neighbors``, ``patch_size``, ``stride``, ``window``,
      ``window_indexing``, ``backend``, ``global_search``: the construction parameters;
    * ``images``, ``lr_patches``, ``down_patches``, ``edges``: ``B``, ``B M``, ``B N``, ``E``;
    * ``distance``: min / mean / median / max of the squared L2 embedding distance;
    * ``displacement_lr_px``: mean / median of :func:`edge_displacement`;
    * ``border_limited_fraction``: fraction of edges whose query's search block was
      limited by the grid border (narrower than the window, or reaching the first or
      last row or column of the downsampled patch grid), or whose search was global.

    The median is the middle value, or the mean of the two middle values.
    """
    tg, sg = graph.target_grid, graph.source_grid
    limited = border_limited_queries(graph).repeat(graph.batch_size)
    return {
        "lr_size": [tg.height, tg.width],
        "down_size": [sg.height, sg.width],
        "scale": graph.scale,
        "num_neighbors": graph.num_neighbors,
        "patch_size": tg.patch_size,
        "stride": tg.stride,
        "window": graph.window,
        "window_indexing": graph.window_indexing,
        "backend": graph.backend,
        "global_search": graph.global_search,
        "images": graph.batch_size,
        "lr_patches": graph.num_target_nodes,
        "down_patches": graph.num_source_nodes,
        "edges": graph.num_edges,
        "distance": _stats(graph.distance, ("min", "mean", "median", "max")),
        "displacement_lr_px": _stats(edge_displacement(graph), ("mean", "median")),
        # every query has k edges, so the fraction of edges is the fraction of queries
        "border_limited_fraction": float(limited.double().mean()),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """:func:`graph_summary` as an aligned two-column table."""
    d, disp = summary["distance"], summary["displacement_lr_px"]
    window = "global" if summary["global_search"] else f"{summary['window']} ({summary['window_indexing']})"
    rows = [
        ("LR image", "{} x {}".format(*summary["lr_size"])),
        ("downsampled image", "{} x {}  (scale {})".format(*summary["down_size"], summary["scale"])),
        ("patch / stride", f"{summary['patch_size']} / {summary['stride']}"),
        ("window", window),
        ("backend", summary["backend"]),
        ("LR patches (targets)", f"{summary['lr_patches']:,}"),
        ("down patches (sources)", f"{summary['down_patches']:,}"),
        ("edges", f"{summary['edges']:,}  (k = {summary['num_neighbors']})"),
        ("distance min / mean", f"{d['min']:.4g} / {d['mean']:.4g}"),
        ("distance median / max", f"{d['median']:.4g} / {d['max']:.4g}"),
        ("displacement mean / median", f"{disp['mean']:.1f} / {disp['median']:.1f} LR px"),
        ("border-limited or global", f"{100 * summary['border_limited_fraction']:.1f} % of edges"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _draw_box(canvas: np.ndarray, top: int, left: int, size: int, colour: tuple[int, int, int]) -> None:
    """Outline of the ``size x size`` square with top-left pixel ``(top, left)``, clipped
    to ``canvas [H, W, 3]``."""
    h, w = canvas.shape[:2]
    bottom, right = top + size - 1, left + size - 1
    r0, r1, c0, c1 = max(top, 0), min(bottom, h - 1), max(left, 0), min(right, w - 1)
    if r0 > r1 or c0 > c1:
        return
    for row in (top, bottom):
        if 0 <= row < h:
            canvas[row, c0 : c1 + 1] = colour
    for col in (left, right):
        if 0 <= col < w:
            canvas[r0 : r1 + 1, col] = colour


def _draw_line(canvas: np.ndarray, start: tuple[int, int], end: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """Pixels ``round(start + t (end - start))`` for ``max(|dr|, |dc|) + 1`` evenly spaced
    ``t`` in [0, 1] (an 8-connected line), clipped to ``canvas [H, W, 3]``."""
    steps = max(abs(end[0] - start[0]), abs(end[1] - start[1])) + 1
    rows = np.rint(np.linspace(start[0], end[0], steps)).astype(np.int64)
    cols = np.rint(np.linspace(start[1], end[1], steps)).astype(np.int64)
    keep = (rows >= 0) & (rows < canvas.shape[0]) & (cols >= 0) & (cols < canvas.shape[1])
    canvas[rows[keep], cols[keep]] = colour


def draw_overlay(image: np.ndarray, graph: CrossScaleGraph, sample: int, seed: int = 0) -> np.ndarray:
    """The LR image with the matches of ``sample`` random query patches drawn on it.

    For each sampled query ``m`` (``torch.randperm`` of the ``M`` queries under
    ``torch.Generator().manual_seed(seed)``, first ``sample``) and each neighbour ``n`` of
    rank ``r``: a line of colour ``RANK_COLOURS[r % 8]`` from the query's centre pixel
    ``p_m + p // 2`` to the centre ``s p_n + (s p) // 2`` of the LR region the neighbour
    stands for, and that region's ``s p x s p`` outline; then the query's ``p x p``
    outline in ``QUERY_COLOUR``.  Higher ranks are drawn first, so the nearest match
    stays on top.  ``p_m``, ``p_n`` are top-left pixels, ``p`` the patch size.

    Args:
        image: ``[H, W, 3]`` uint8 LR image the graph was built on (not modified).
        graph: a one-image :class:`CrossScaleGraph`.
        sample: number of query patches drawn (all of them if more than ``M``).
        seed: seed of the sample.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be [H, W, 3] uint8, got {image.shape} {image.dtype}")
    if graph.batch_size != 1:
        raise ValueError(f"draw_overlay draws one image's graph, got {graph.batch_size} images")
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    p, s, k = graph.target_grid.patch_size, graph.scale, graph.num_neighbors
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randperm(graph.num_target_nodes, generator=generator)[:sample]
    query_pos = graph.target_pos.cpu()[queries].tolist()
    region_pos = (s * graph.source_pos.cpu()[graph.neighbors().cpu()[queries]]).tolist()  # [S, k, 2]

    canvas = image.copy()
    for rank in reversed(range(k)):
        colour = RANK_COLOURS[rank % len(RANK_COLOURS)]
        for (qr, qc), regions in zip(query_pos, region_pos):
            top, left = regions[rank]
            _draw_line(canvas, (qr + p // 2, qc + p // 2), (top + s * p // 2, left + s * p // 2), colour)
            _draw_box(canvas, top, left, s * p, colour)
    for qr, qc in query_pos:
        _draw_box(canvas, qr, qc, p, QUERY_COLOUR)
    return canvas
