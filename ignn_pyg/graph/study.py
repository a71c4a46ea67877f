"""The study of one image's cross-scale graph: its numbers and an overlay picture.

These are the pure functions behind ``ignn-pyg graph`` (:mod:`ignn_pyg.commands.graph`), which
takes an image as the LR input ``x`` (``[1, 3, H, W]`` in [0, 255], cropped to a
multiple of the graph scale ``s``) and matches it against its downsampled copy, made the
authors' way -- MATLAB bicubic on ``x / 255``, times 255, clamped to [0, 255] and *not*
rounded:

.. math::
    x_\\downarrow = \\operatorname{clamp}(255 \\cdot \\operatorname{imresize}(x / 255, 1/s),\\ 0,\\ 255).

* :func:`graph_summary` / :func:`format_summary`: sizes and statistics (``summary.json``);
* :func:`draw_overlay`: matches of a random sample of query patches drawn on the LR image,
  enlarged to at least 512 px, with a legend below (``overlay.png``);
* :func:`edge_displacement`, :func:`border_limited_queries`: per-edge and per-query
  quantities the summary and the explorer page (:mod:`ignn_pyg.graph.explorer_page`) share;
* :func:`seeded_embedding`: the patch embedding when no model checkpoint supplies one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.embedding import make_embedding
from ignn_pyg.graph.windows import SearchWindows, block_indices, search_windows

# Colour of the query box, of the search window box (pink), and of a match's line and box by
# its rank (cycled for k > 8): rank 0 red, then orange, yellow, green, cyan, blue, purple, magenta.
QUERY_COLOUR = (255, 255, 255)
WINDOW_COLOUR = (250, 190, 212)
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
# The legend band: grey text on black, so that no text pixel has a mark's colour.
LEGEND_BACKGROUND = (0, 0, 0)
LEGEND_TEXT = (200, 200, 200)
LEGEND_ROW = 18  # pixels per legend row
LEGEND_SWATCH = 11  # side of a swatch box, drawn every LEGEND_SWATCH + 3 pixels


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


def _search_windows(graph: CrossScaleGraph) -> SearchWindows | None:
    """The search blocks ``graph`` was built with (:func:`~ignn_pyg.graph.windows.search_windows`)."""
    tg, sg = graph.target_grid, graph.source_grid
    return search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), graph.window, graph.scale, graph.window_indexing)


def border_limited_queries(graph: CrossScaleGraph) -> Tensor:
    """``[M]`` bool: the query's search block is narrower than ``graph.window`` or touches
    the border of the downsampled patch grid, in either direction (all ``True`` for
    global search)."""
    tg, sg = graph.target_grid, graph.source_grid
    windows = _search_windows(graph)
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


def _draw_box(canvas: np.ndarray, top: int, left: int, height: int, width: int, colour: tuple[int, int, int]) -> None:
    """Outline of the ``height x width`` rectangle with top-left pixel ``(top, left)``,
    clipped to ``canvas [H, W, 3]``."""
    h, w = canvas.shape[:2]
    bottom, right = top + height - 1, left + width - 1
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


def _window_box(graph: CrossScaleGraph, query: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` in LR pixels of the smallest rectangle holding the
    ``s p x s p`` LR regions of all source patches that query ``query`` searches (its block
    of :func:`~ignn_pyg.graph.windows.search_windows`, or every source patch under global
    search)."""
    tg, sg = graph.target_grid, graph.source_grid
    windows = _search_windows(graph)
    if windows is None:
        block = torch.arange(sg.num_patches)
    else:
        row, col = divmod(query, tg.cols)
        origin_rows, origin_cols = windows.row_origin[row : row + 1], windows.col_origin[col : col + 1]
        block = block_indices(origin_rows, origin_cols, windows.rows, windows.cols, sg.cols)[0]
    regions = graph.scale * graph.source_pos.cpu()[block]
    (top, left), (last_top, last_left) = regions.min(0).values.tolist(), regions.max(0).values.tolist()
    side = graph.scale * sg.patch_size
    return top, left, last_top + side - top, last_left + side - left


def _legend(graph: CrossScaleGraph, sample: int) -> np.ndarray:
    """The legend band of :func:`draw_overlay`, ``[4 LEGEND_ROW, W, 3]`` uint8 (``W`` as
    wide as its longest line), :data:`LEGEND_TEXT` on :data:`LEGEND_BACKGROUND`.

    One row per mark, swatches then their meaning: the query box (:data:`QUERY_COLOUR`,
    ``sample`` of them drawn); the neighbours' region boxes, then their lines, one swatch
    per rank colour used (the first ``min(k, 8)`` of :data:`RANK_COLOURS`); the search
    window box (:data:`WINDOW_COLOUR`).
    """
    p, s, k = graph.target_grid.patch_size, graph.scale, graph.num_neighbors
    ranks = RANK_COLOURS[:k]
    if graph.global_search:
        window = "search window: every patch (global search)"
    else:
        window = f"search window of the first query (at most {graph.window}x{graph.window} patches)"
    rows = (
        ([QUERY_COLOUR], "box", f"query patch ({p}x{p} LR px), {sample} drawn at random"),
        (ranks, "box", f"its k={k} nearest neighbours, nearest first: the {s * p}x{s * p} LR px region of each"),
        (ranks, "line", "line from the query to each neighbour"),
        ([WINDOW_COLOUR], "box", window),
    )
    font = ImageFont.load_default()
    pitch = LEGEND_SWATCH + 3
    text_left = 6 + pitch * len(ranks)
    width = text_left + math.ceil(max(font.getlength(text) for _, _, text in rows)) + 6
    band = Image.new("RGB", (width, LEGEND_ROW * len(rows)), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(band)
    for i, (colours, mark, text) in enumerate(rows):
        top = i * LEGEND_ROW + (LEGEND_ROW - LEGEND_SWATCH) // 2
        for j, colour in enumerate(colours):
            left = 6 + j * pitch
            if mark == "box":
                draw.rectangle((left, top, left + LEGEND_SWATCH - 1, top + LEGEND_SWATCH - 1), outline=colour)
            else:
                middle = top + LEGEND_SWATCH // 2
                draw.line((left, middle, left + LEGEND_SWATCH - 1, middle), fill=colour)
        draw.text((text_left, i * LEGEND_ROW + LEGEND_ROW // 2), text, fill=LEGEND_TEXT, font=font, anchor="lm")
    return np.array(band)


def draw_overlay(
    image: np.ndarray, graph: CrossScaleGraph, sample: int, seed: int = 0, min_side: int = 512
) -> np.ndarray:
    """The LR image, enlarged, with the matches of ``sample`` random query patches drawn on
    it and a legend below.

    The image is enlarged ``z = max(1, ceil(min_side / max(H, W)))`` times by repeating each
    pixel (nearest neighbour), and LR pixel ``(r, c)`` becomes the ``z x z`` block with
    top-left pixel ``(z r, z c)``; boxes outline whole blocks and lines join block centres
    ``(z r + z // 2, z c + z // 2)``, all one pixel thick.

    For each sampled query ``m`` (``torch.randperm`` of the ``M`` queries under
    ``torch.Generator().manual_seed(seed)``, first ``sample``) and each neighbour ``n`` of
    rank ``r``: a line of colour ``RANK_COLOURS[r % 8]`` from the query's centre pixel
    ``p_m + p // 2`` to the centre ``s p_n + (s p) // 2`` of the LR region the neighbour
    stands for, and that region's ``s p x s p`` outline; then the query's ``p x p``
    outline in ``QUERY_COLOUR``.  Higher ranks are drawn first, so the nearest match
    stays on top.  ``p_m``, ``p_n`` are top-left pixels, ``p`` the patch size.  Under
    all of them, in ``WINDOW_COLOUR``, the outline of the first sampled query's search
    window (the LR regions of the source patches it searches, see :func:`_window_box`).

    Below the picture, a band of ``4 LEGEND_ROW`` rows names each mark next to a swatch of
    its colour(s) (:func:`_legend`); the picture is padded on the right with
    ``LEGEND_BACKGROUND`` if the legend is wider.

    Args:
        image: ``[H, W, 3]`` uint8 LR image the graph was built on (not modified).
        graph: a one-image :class:`CrossScaleGraph`.
        sample: number of query patches drawn (all of them if more than ``M``).
        seed: seed of the sample.
        min_side: the enlarged image's long side is at least this (and less than
            ``min_side + max(H, W)``).

    Returns:
        ``[z H + 4 LEGEND_ROW, max(z W, legend width), 3]`` uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be [H, W, 3] uint8, got {image.shape} {image.dtype}")
    if graph.batch_size != 1:
        raise ValueError(f"draw_overlay draws one image's graph, got {graph.batch_size} images")
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    p, s, k = graph.target_grid.patch_size, graph.scale, graph.num_neighbors
    z = max(1, math.ceil(min_side / max(image.shape[:2])))
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randperm(graph.num_target_nodes, generator=generator)[:sample]
    query_pos = graph.target_pos.cpu()[queries].tolist()
    region_pos = (s * graph.source_pos.cpu()[graph.neighbors().cpu()[queries]]).tolist()  # [S, k, 2]

    canvas = image.repeat(z, axis=0).repeat(z, axis=1)

    def box(top: int, left: int, height: int, width: int, colour: tuple[int, int, int]) -> None:
        _draw_box(canvas, z * top, z * left, z * height, z * width, colour)

    def centre(row: int, col: int) -> tuple[int, int]:
        return z * row + z // 2, z * col + z // 2

    if len(queries):
        box(*_window_box(graph, int(queries[0])), WINDOW_COLOUR)
    for rank in reversed(range(k)):
        colour = RANK_COLOURS[rank % len(RANK_COLOURS)]
        for (qr, qc), regions in zip(query_pos, region_pos):
            top, left = regions[rank]
            _draw_line(canvas, centre(qr + p // 2, qc + p // 2), centre(top + s * p // 2, left + s * p // 2), colour)
            box(top, left, s * p, s * p, colour)
    for qr, qc in query_pos:
        box(qr, qc, p, p, QUERY_COLOUR)

    legend = _legend(graph, min(sample, graph.num_target_nodes))
    width = max(canvas.shape[1], legend.shape[1])
    picture = np.full((canvas.shape[0] + legend.shape[0], width, 3), LEGEND_BACKGROUND, np.uint8)
    picture[: canvas.shape[0], : canvas.shape[1]] = canvas
    picture[canvas.shape[0] :, : legend.shape[1]] = legend
    return picture
