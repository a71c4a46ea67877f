"""Control graphs: the cross-scale graph with its matches replaced by chance.

A study that credits the graph with some gain must show that the gain disappears when
the matches carry no information.  Two controls, :data:`GRAPH_CONTROLS`:

* :func:`random_neighbors` (``"random"``) keeps everything about a
:class:`~ignn_pyg.graph.CrossScaleGraph` (targets, ``k``, the search windows, the
geometry) except *which* source patches each query receives: ``k`` distinct source
patches drawn uniformly from the query's own search window
(:func:`~ignn_pyg.graph.windows.search_windows` with the graph's ``window``,
``scale`` and ``window_indexing``; the whole source grid under global search).
* :func:`permuted_neighbors` (``"permuted"``) gives every query the whole neighbour list
  of another query of the same image (a random permutation of the queries): the same
  multiset of matches and edge features, attached to the wrong queries.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph, edge_features
from ignn_pyg.graph.patches import extract_patch_rows
from ignn_pyg.graph.windows import search_windows

GRAPH_CONTROLS = ("random", "permuted")


def _sample_distinct(
    count: int, candidates: int, k: int, generator: torch.Generator, chunk_elements: int = 1 << 22
) -> Tensor:
    """``[count, k]`` positions in ``[0, candidates)``, distinct within each row, every
    ``k``-subset equally likely: the ``k`` largest of ``candidates`` uniform draws
    (drawn in chunks of about ``chunk_elements`` numbers, in a fixed order)."""
    rows = max(1, chunk_elements // candidates)
    out = torch.empty(count, k, dtype=torch.long)
    for r0 in range(0, count, rows):
        n = min(rows, count - r0)
        draws = torch.rand(n, candidates, generator=generator)
        out[r0 : r0 + n] = draws.topk(k, dim=1).indices
    return out


def random_neighbors(
    graph: CrossScaleGraph, generator: torch.Generator, lr_embed: Tensor | None = None, down_embed: Tensor | None = None
) -> CrossScaleGraph:
    """The graph with each query's ``k`` neighbours replaced by ``k`` distinct source
    patches drawn uniformly from its search window.

    Targets, ``rank``, positions, batches, grids and construction parameters are kept;
    only ``edge_index[0]`` changes (sources stay in the target's own image).  With the
    embeddings the graph was built on, ``distance`` and ``edge_attr`` are recomputed for
    the new edges (:func:`~ignn_pyg.graph.edge_features`) and each query's edges are
    re-ordered nearest first, as :func:`~ignn_pyg.graph.build_cross_scale_graph` orders
    them.  Without the embeddings both are set to NaN, so no stale match distance
    survives into the control; the edges then keep the drawn order.

    Args:
        graph: a graph from :func:`~ignn_pyg.graph.build_cross_scale_graph` (``B`` images,
            ``M`` queries each, ``k`` neighbours).
        generator: the source of randomness; the same generator state gives the same graph.
            Numbers are drawn on the CPU whatever the graph's device.
        lr_embed, down_embed: optional ``[B, C, H, W]`` and ``[B, C, H // s, W // s]``
            embeddings the graph was built on (both or neither).

    Returns:
        A new :class:`CrossScaleGraph` of the same shapes on the graph's device.
    """
    if (lr_embed is None) != (down_embed is None):
        raise ValueError("give both lr_embed and down_embed, or neither")
    tgrid, sgrid = graph.target_grid, graph.source_grid
    k, b, m = graph.num_neighbors, graph.batch_size, tgrid.num_patches
    n2 = sgrid.cols
    windows = search_windows(
        (tgrid.rows, tgrid.cols), (sgrid.rows, sgrid.cols), graph.window, graph.scale, graph.window_indexing
    )
    candidates = sgrid.num_patches if windows is None else windows.num_candidates
    picks = _sample_distinct(b * m, candidates, k, generator).view(b, m, k)
    if windows is None:
        neighbors = picks
    else:
        query = torch.arange(m)
        row0 = windows.row_origin[query // tgrid.cols][None, :, None]
        col0 = windows.col_origin[query % tgrid.cols][None, :, None]
        neighbors = (row0 + picks // windows.cols) * n2 + col0 + picks % windows.cols
    dev = graph.edge_index.device
    neighbors = neighbors.to(dev)

    if lr_embed is None:
        nan = float("nan")
        attr = graph.edge_attr.new_full(graph.edge_attr.shape, nan).view(b, m, k, -1)
        dist = graph.distance.new_full(graph.distance.shape, nan).view(b, m, k)
    else:
        query_rows, qgrid = extract_patch_rows(lr_embed, tgrid.patch_size, tgrid.stride)
        source_rows, s_grid = extract_patch_rows(down_embed, sgrid.patch_size, sgrid.stride)
        if qgrid != tgrid or s_grid != sgrid or lr_embed.shape[0] != b:
            raise ValueError(
                f"embeddings {tuple(lr_embed.shape)} / {tuple(down_embed.shape)} do not "
                f"match the graph ({b} images, LR map {tgrid.height}x{tgrid.width}, "
                f"source map {sgrid.height}x{sgrid.width})"
            )
        attr, dist = edge_features(query_rows, source_rows, neighbors, lr_embed.shape[1])
        dist, order = dist.sort(dim=-1, stable=True)
        neighbors = neighbors.gather(-1, order)
        attr = attr.gather(2, order[..., None].expand_as(attr))

    offsets = torch.arange(b, device=dev)[:, None, None] * sgrid.num_patches
    src = (neighbors + offsets).reshape(-1)
    return replace(
        graph,
        edge_index=torch.stack([src, graph.edge_index[1]]),
        edge_attr=attr.reshape(b * m * k, -1),
        distance=dist.reshape(-1),
    )


def permuted_neighbors(graph: CrossScaleGraph, generator: torch.Generator | None = None) -> CrossScaleGraph:
    """The graph with the neighbour lists permuted between the queries of each image.

    Query ``i`` of image ``b`` receives the ``k`` sources, ``edge_attr``, ``distance``
    (and ranks) of query ``pi_b(i)``, where ``pi_b`` is a uniformly random permutation of
    the image's ``M`` queries (``torch.randperm`` with ``generator``; ``None``: torch's
    global generator).  Targets and everything else are kept.

    Returns:
        A new :class:`CrossScaleGraph` of the same shapes on the graph's device.
    """
    b, m, k = graph.batch_size, graph.target_grid.num_patches, graph.num_neighbors
    dev = graph.edge_index.device
    donors = torch.stack([torch.randperm(m, generator=generator) for _ in range(b)])  # [B, M]
    donors = (donors + torch.arange(b)[:, None] * m).reshape(-1).to(dev)  # global target ids
    sources = graph.neighbors()[donors].reshape(-1)
    return replace(
        graph,
        edge_index=torch.stack([sources, graph.edge_index[1]]),
        edge_attr=graph.edge_attr.view(b * m, k, -1)[donors].reshape(b * m * k, -1),
        distance=graph.distance.view(b * m, k)[donors].reshape(-1),
    )
