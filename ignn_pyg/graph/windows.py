"""Local search windows: which downsampled-image patches a query patch may match.

Query patch ``(i, j)`` of the LR patch grid (``m1 x m2``) searches a block of
``rows x cols`` patches of the downsampled image's patch grid (``n1 x n2``) whose
top-left patch is ``(row_origin[i], col_origin[j])``.  Both grids use the same
stride, so LR patch ``i`` corresponds to downsampled patch ``i / s``.

Two placements:

``"reference"`` -- the authors' ``index_neighbours``: a square block of side
``w = min(window, n1, n2)`` with origin

.. math::
    o(i) = \\operatorname{clamp}(\\lfloor i / 2 \\rfloor - \\lfloor w / s \\rfloor,\\ 0,\\ n - w).

The ``i // 2`` is used at every scale, so at ``s = 3`` the block is off-centre
(it spans ``i//2 - 10 .. i//2 + 19`` for ``w = 30`` while the match lies near ``i/3``).

``"centered"`` -- a ``min(window, n1) x min(window, n2)`` block centred on the true
corresponding location ``i / s``, clipped at the borders:

.. math::
    o(i) = \\operatorname{clamp}(\\lfloor i / s - (w - 1)/2 + 1/2 \\rfloor,\\ 0,\\ n - w).

A window at least as large as both grid sides means global search (every query
sees every patch); :func:`search_windows` then returns ``None``.  The authors' code
additionally switches the window off for the rest of the process once that happens
(through its global config); this module has no such side effect -- see
``docs/graph.md`` and the evaluation option ``--reference-window-state``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

WINDOW_INDEXINGS = ("reference", "centered")


@dataclass(frozen=True)
class SearchWindows:
    """Per-query search blocks on the source patch grid.

    Attributes:
        row_origin: ``[m1]`` first source-grid row searched by each query row.
        col_origin: ``[m2]`` first source-grid column searched by each query column.
        rows, cols: block size in patches.
    """

    row_origin: Tensor
    col_origin: Tensor
    rows: int
    cols: int

    @property
    def num_candidates(self) -> int:
        """Patches in one block."""
        return self.rows * self.cols


def _origins(num_queries: int, num_sources: int, size: int, scale: int, indexing: str) -> Tensor:
    i = torch.arange(num_queries)
    if indexing == "reference":
        origin = i // 2 - size // scale
    else:
        origin = torch.div(2 * i - scale * (size - 1) + scale, 2 * scale, rounding_mode="floor")
    return origin.clamp(0, num_sources - size)


def search_windows(
    query_grid: tuple[int, int], source_grid: tuple[int, int], window: int, scale: int, indexing: str = "reference"
) -> SearchWindows | None:
    """Search blocks for every query patch, or ``None`` for global search.

    Args:
        query_grid: ``(m1, m2)`` LR patch grid.
        source_grid: ``(n1, n2)`` downsampled-image patch grid.
        window: block side in patches.
        scale: graph scale ``s`` between the two images.
        indexing: ``"reference"`` or ``"centered"`` (see module docstring).
    """
    if indexing not in WINDOW_INDEXINGS:
        raise ValueError(f"window_indexing must be one of {WINDOW_INDEXINGS}, got {indexing!r}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    (m1, m2), (n1, n2) = query_grid, source_grid
    if window >= n1 and window >= n2:
        return None
    if indexing == "reference":
        rows = cols = min(window, n1, n2)
    else:
        rows, cols = min(window, n1), min(window, n2)
    return SearchWindows(_origins(m1, n1, rows, scale, indexing), _origins(m2, n2, cols, scale, indexing), rows, cols)


def block_indices(row_origin: Tensor, col_origin: Tensor, rows: int, cols: int, source_cols: int) -> Tensor:
    """Flat source-node indices of the ``rows x cols`` blocks with the given origins,
    ``[len(row_origin) * len(col_origin), rows * cols]`` (row-major over origins and
    within a block); ``source_cols`` is ``n2``."""
    r = row_origin[:, None, None, None] + torch.arange(rows)[None, None, :, None]
    c = col_origin[None, :, None, None] + torch.arange(cols)[None, None, None, :]
    return (r * source_cols + c).reshape(row_origin.numel() * col_origin.numel(), -1)


def window_candidates(windows: SearchWindows, source_grid: tuple[int, int]) -> Tensor:
    """All candidates of all queries, ``[m1*m2, rows*cols]`` flat source-node indices
    (row-major in the block).  ``O(M w^2)`` memory: for tests and small studies; the
    search backends never build it for a whole image."""
    return block_indices(windows.row_origin, windows.col_origin, windows.rows, windows.cols, source_grid[1])
