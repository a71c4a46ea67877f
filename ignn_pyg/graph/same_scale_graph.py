"""The same-scale patch graph: the non-local baseline IGNN argues against.

Every LR patch is linked to its ``k`` nearest *other* patches of the same LR embedding
inside a window centred on itself (no downsampled image).  A same-scale neighbour has
no finer detail than the query: passed to IGNN's HR branch (see
:class:`~ignn_pyg.models.IGNN` with ``graph="same_scale"``), its message is its
``p x p`` LR feature patch repeated ``s x s`` per pixel, so an IGNN trained on this
graph has the aggregation's parameters and cost but only same-scale information.

The result is a :class:`~ignn_pyg.graph.CrossScaleGraph` whose source grid is the LR
patch grid itself (``source_grid == target_grid``); ``scale`` is the HR factor ``s`` the
messages are repeated to, ``window_indexing`` is ``"centered"`` at scale 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph, graph_from_neighbors
from ignn_pyg.graph.knn import resolve_backend, windowed_knn
from ignn_pyg.graph.patches import extract_patch_rows
from ignn_pyg.graph.windows import search_windows


def build_same_scale_graph(
    lr_embed: Tensor,
    scale: int,
    num_neighbors: int = 5,
    patch_size: int = 3,
    stride: int = 2,
    window: int = 30,
    backend: str = "auto",
) -> CrossScaleGraph:
    r"""For every ``patch_size`` patch ``q`` of ``lr_embed`` (stride ``stride``) find the
    ``k`` other patches ``n`` of ``lr_embed`` minimising :math:`\lVert q - n \rVert_2^2`
    inside the ``window x window`` block of patches centred on ``q`` (clipped at the
    borders; global when ``window`` covers the grid).

    The query itself is excluded: ``k + 1`` patches are searched and the query dropped
    from its list (or, when ties at distance 0 push it out of the list, the farthest).

    Args:
        lr_embed: ``[B, C, H, W]`` embedding of the LR image.
        scale: the HR factor ``s`` stored in the graph (what the layer upsamples to).
        num_neighbors, patch_size, stride, window, backend: as in
            :func:`~ignn_pyg.graph.build_cross_scale_graph`.

    Returns:
        A :class:`CrossScaleGraph` with ``source_grid == target_grid``.
    """
    if not isinstance(lr_embed, Tensor) or lr_embed.dim() != 4:
        raise ValueError(f"lr_embed must be a [B, C, H, W] tensor, got {getattr(lr_embed, 'shape', lr_embed)!r}")
    backend = resolve_backend(backend)
    rows, grid = extract_patch_rows(lr_embed, patch_size, stride)
    shape = (grid.rows, grid.cols)
    windows = search_windows(shape, shape, window, 1, "centered")
    candidates = grid.num_patches if windows is None else windows.num_candidates
    if num_neighbors < 1 or num_neighbors + 1 > candidates:
        raise ValueError(
            f"num_neighbors={num_neighbors} needs 1..{candidates - 1} other patches in a query's "
            f"window (window {window}, patch grid {grid.rows}x{grid.cols})"
        )
    found = windowed_knn(rows, rows, shape, shape, windows, num_neighbors + 1, backend)  # [B, M, k+1]
    own = torch.arange(grid.num_patches, device=found.device)[None, :, None]
    keep = found != own
    keep[..., -1] &= ~keep.all(-1)  # the query was not in its list: drop the farthest instead
    neighbors = found[keep].view(*found.shape[:2], num_neighbors)
    return graph_from_neighbors(neighbors, rows, rows, grid, grid, scale, window, "centered", backend, windows is None)
