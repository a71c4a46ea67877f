"""Windowed k-nearest-neighbour search between two patch sets.

Every backend returns, for each query patch, the indices of its ``k`` nearest source
patches (squared Euclidean distance) inside its search block, nearest first:

* ``"dense"`` -- blocked search for any device.  Query patches are taken in tiles
  of ``tile x tile`` grid cells; a tile's windows overlap, so the tile shares one
  candidate block (the union of its windows; widened to whole source rows when it
  already spans at least 8/9 of them).  Tiles go column by column: the source columns
  of one tile column are copied once into a contiguous strip, so every tile's block is
  a view of it.  One ``baddbmm`` per tile gives ``|c|^2 - 2 q c^T``, then ``+ b``
  where the penalty ``b`` is ``+inf`` for candidates outside a query's own window
  (``|q|^2`` is left out: it changes no query's ranking), then ``topk``.  Interior
  tiles share one penalty pattern, built once.  Memory is
  ``O(tile^2 (tile/s + w)^2 + n1 (tile/s + w) D)``, never ``M x N``.
* ``"cluster"`` -- :func:`torch_cluster.knn` (brute force on CUDA, a KD-tree on CPU).
  Queries that share a window form one ``torch_cluster`` batch whose points are a copy
  of that window.  Its CUDA kernel starts from a best distance of ``1e10`` and
  silently returns fewer than ``k`` neighbours beyond it; the count is checked.  It is
  the slower search on both kinds of device: on CPU its KD-tree is 10-50x slower than
  ``"dense"`` on 576-dimensional patches (``benchmarks/graph_build.py``), and on an
  H200 its kernel took 1.70 s for the 64,000 queries of a 640x400 photo at x2, where
  ``"dense"`` took 0.11 s (``benchmarks/cuda_paths.py``, ``docs/cuda.md``).
* ``"auto"`` -- ``"dense"`` on every device (measured faster on both, above).
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from ignn_pyg.graph.windows import SearchWindows, block_indices

BACKENDS = ("auto", "dense", "cluster")


def cluster_available() -> bool:
    """Whether ``torch_cluster`` (the optional ``cluster`` extra) can be imported."""
    return importlib.util.find_spec("torch_cluster") is not None


def resolve_backend(backend: str) -> str:
    """The concrete backend ``backend`` stands for (``"auto"`` is ``"dense"``);
    ``"cluster"`` without ``torch_cluster`` installed is a ``ModuleNotFoundError`` that
    says how to install it."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "dense"
    if backend == "cluster" and not cluster_available():
        raise ModuleNotFoundError(
            "backend 'cluster' needs torch-cluster, which is not installed: "
            "pip install --no-build-isolation torch-scatter torch-cluster "
            "(or use backend 'dense')",
            name="torch_cluster",
        )
    return backend


def _sq_norms(x: Tensor) -> Tensor:
    return (x * x).sum(-1)


def _ranking_distances(query: Tensor, cand: Tensor, cand_bias: Tensor) -> Tensor:
    """``|c|^2 - 2 q c^T + bias`` for ``[B, Q, D] x [B, N, D] -> [B, Q, N]``.

    The query's own ``|q|^2`` is left out: it is the same for all of a query's
    candidates, so it changes no ranking.  ``cand_bias`` (``[B or 1, Q or 1, N]``, an
    expanded view will do) is ``|c|^2``; the windowed search adds its out-of-window
    penalty to the result.
    """
    return torch.baddbmm(cand_bias, query, cand.transpose(1, 2), alpha=-2.0)


def _outside_penalty(origin: Tensor, first: int, count: int, size: int) -> Tensor:
    """``[len(origin), count]``: 0 where candidate ``first + c`` lies in the window
    ``[origin, origin + size)`` of each query, ``+inf`` elsewhere."""
    cand = torch.arange(first, first + count, device=origin.device)[None, :]
    inside = (cand >= origin[:, None]) & (cand < origin[:, None] + size)
    return torch.zeros(inside.shape, device=origin.device).masked_fill_(~inside, float("inf"))


class _TilePenalties:
    """The ``[ti tj, R C]`` penalties of query tiles against their candidate blocks
    (:func:`_outside_penalty` of rows and of columns, summed), built once per pattern:
    a tile's penalty depends only on its queries' window origins relative to the
    block, which is the same for every interior tile."""

    def __init__(self, windows: SearchWindows, device: torch.device) -> None:
        self.windows = windows
        self.device = device
        # the keys come from host lists: no device synchronisation per tile
        self.row_first, self.col_first = windows.row_origin.tolist(), windows.col_origin.tolist()
        self.cache: dict[tuple, Tensor] = {}

    def __call__(self, rows: slice, r0: int, r1: int, cols: slice, c0: int, c1: int) -> Tensor:
        key = (
            tuple(o - r0 for o in self.row_first[rows]),
            r1 - r0,
            tuple(o - c0 for o in self.col_first[cols]),
            c1 - c0,
        )
        penalty = self.cache.get(key)
        if penalty is None:
            row_origin = self.windows.row_origin[rows].to(self.device)
            col_origin = self.windows.col_origin[cols].to(self.device)
            row_pen = _outside_penalty(row_origin, r0, r1 - r0, self.windows.rows)  # [ti, R]
            col_pen = _outside_penalty(col_origin, c0, c1 - c0, self.windows.cols)  # [tj, C]
            penalty = (row_pen[:, None, :, None] + col_pen[None, :, None, :]).reshape(
                len(row_origin) * len(col_origin), -1
            )
            self.cache[key] = penalty
        return penalty


def dense_knn(
    query: Tensor,
    source: Tensor,
    query_grid: tuple[int, int],
    source_grid: tuple[int, int],
    windows: SearchWindows | None,
    k: int,
    tile: int = 16,
    global_chunk: int = 512,
) -> Tensor:
    """Blocked windowed k-NN.

    Args:
        query: ``[B, M, D]`` query patches, ``M = m1 * m2`` (row-major grid).
        source: ``[B, N, D]`` source patches, ``N = n1 * n2``.
        query_grid, source_grid: ``(m1, m2)`` and ``(n1, n2)``.
        windows: per-query search blocks, or ``None`` for global search.
        k: neighbours per query.
        tile: query tile side (grid cells) of the windowed search.
        global_chunk: queries per GEMM in global search.

    Returns:
        ``[B, M, k]`` source indices in ``[0, N)``, nearest first.
    """
    b, m, _ = query.shape
    source_sq = _sq_norms(source)
    if windows is None:
        out = query.new_empty(b, m, k, dtype=torch.long)
        for q0 in range(0, m, global_chunk):
            d = _ranking_distances(query[:, q0 : q0 + global_chunk], source, source_sq[:, None, :])
            out[:, q0 : q0 + global_chunk] = d.topk(k, dim=-1, largest=False, sorted=True).indices
        return out

    (m1, m2), (n1, n2) = query_grid, source_grid
    query = query.reshape(b, m1, m2, -1)
    source = source.reshape(b, n1, n2, -1)
    source_sq = source_sq.reshape(b, n1, n2)
    penalties = _TilePenalties(windows, query.device)
    row_first, col_first = penalties.row_first, penalties.col_first
    out = query.new_empty(b, m1, m2, k, dtype=torch.long)
    for j0 in range(0, m2, tile):
        j1 = min(j0 + tile, m2)
        c0, c1 = col_first[j0], col_first[j1 - 1] + windows.cols
        if 8 * (n2 - (c1 - c0)) <= c1 - c0:
            # nearly every column: whole source rows, the few extra columns masked out
            c0, c1 = 0, n2
        width = c1 - c0
        strip = source[:, :, c0:c1].contiguous()  # [B, n1, width, D]: every tile's block is a view
        strip_sq = source_sq[:, :, c0:c1].contiguous()
        for i0 in range(0, m1, tile):
            i1 = min(i0 + tile, m1)
            r0, r1 = row_first[i0], row_first[i1 - 1] + windows.rows
            penalty = penalties(slice(i0, i1), r0, r1, slice(j0, j1), c0, c1)
            q = query[:, i0:i1, j0:j1].reshape(b, penalty.shape[0], -1)
            cand = strip[:, r0:r1].reshape(b, penalty.shape[1], -1)
            cand_sq = strip_sq[:, r0:r1].reshape(b, 1, -1).expand(b, penalty.shape[0], -1)
            distance = _ranking_distances(q, cand, cand_sq).add_(penalty)
            local = distance.topk(k, dim=-1, largest=False, sorted=True).indices
            global_idx = (r0 + local // width) * n2 + (c0 + local % width)
            out[:, i0:i1, j0:j1] = global_idx.reshape(b, i1 - i0, j1 - j0, k)
    return out.reshape(b, m, k)


def _window_groups(
    windows: SearchWindows, source_grid: tuple[int, int], device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """Group queries by identical search block.

    Returns ``(group_of_query [M], group_candidates [G, w_r*w_c], order [M])`` where
    ``order`` lists query indices sorted by group.
    """
    ro_u, row_group = torch.unique(windows.row_origin, return_inverse=True)
    co_u, col_group = torch.unique(windows.col_origin, return_inverse=True)
    group = (row_group[:, None] * co_u.numel() + col_group[None, :]).reshape(-1)
    cands = block_indices(ro_u, co_u, windows.rows, windows.cols, source_grid[1])
    order = torch.argsort(group, stable=True)
    return group.to(device), cands.to(device), order.to(device)


def cluster_knn(
    query: Tensor,
    source: Tensor,
    query_grid: tuple[int, int],
    source_grid: tuple[int, int],
    windows: SearchWindows | None,
    k: int,
    max_bytes: int = 1 << 30,
) -> Tensor:
    """Windowed k-NN through :func:`torch_cluster.knn`; same contract as :func:`dense_knn`.

    ``max_bytes`` bounds the window copies handed to one ``torch_cluster`` call.
    """
    from torch_cluster import knn as cluster_knn_op

    b, m, d = query.shape
    n = source.shape[1]
    dev = query.device
    out = query.new_empty(b, m, k, dtype=torch.long)
    if windows is None:
        groups = [
            (
                torch.arange(m, device=dev),
                torch.arange(n, device=dev)[None, :],
                torch.zeros(m, dtype=torch.long, device=dev),
            )
        ]
    else:
        group, cands, order = _window_groups(windows, source_grid, dev)
        per_call = max(1, max_bytes // (cands.shape[1] * d * source.element_size()))
        groups = []
        for g0 in range(0, cands.shape[0], per_call):
            sel = order[(group[order] >= g0) & (group[order] < g0 + per_call)]
            groups.append((sel, cands[g0 : g0 + per_call], group[sel] - g0))
    for img in range(b):
        for queries, cand, qgroup in groups:
            g, w = cand.shape
            points = source[img][cand.reshape(-1)]
            targets = query[img][queries]
            point_batch = torch.arange(g, device=dev).repeat_interleave(w)
            assign = cluster_knn_op(points, targets, k, point_batch, qgroup)
            y_idx, x_idx = assign[0], assign[1]
            counts = torch.bincount(y_idx, minlength=queries.numel())
            if assign.shape[1] != queries.numel() * k or bool((counts != k).any()):
                raise RuntimeError(
                    f"torch_cluster.knn returned {assign.shape[1]} neighbours for "
                    f"{queries.numel()} queries x k={k}; its CUDA kernel drops neighbours farther "
                    "than sqrt(1e10) -- rescale the embedding or use backend='dense'"
                )
            src = cand.reshape(-1)[x_idx]
            dist = _sq_norms(points[x_idx] - targets[y_idx])  # exact, for ordering
            # group by query, then by distance (stable sorts: secondary key first)
            by_dist = torch.argsort(dist, stable=True)
            by_query = by_dist[torch.argsort(y_idx[by_dist], stable=True)]
            out[img, queries] = src[by_query].reshape(-1, k)
    return out


def windowed_knn(
    query: Tensor,
    source: Tensor,
    query_grid: tuple[int, int],
    source_grid: tuple[int, int],
    windows: SearchWindows | None,
    k: int,
    backend: str = "auto",
) -> Tensor:
    """Dispatch to a backend (see module docstring); returns ``[B, M, k]`` indices."""
    backend = resolve_backend(backend)
    search = dense_knn if backend == "dense" else cluster_knn
    return search(query, source, query_grid, source_grid, windows, k)
