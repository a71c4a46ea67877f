"""The cross-scale layer's message, aggregation and fold in one pass over the edges.

Each LR query patch ``i`` receives, per neighbour rank ``r``, the normalised HR patch of
its source ``j = index[r, i]`` scaled per channel, and the HR map averages the
overlapping patches:

.. math::
    Y = U + \\frac{1}{\\mathrm{cov}} \\sum_r \\sum_i \\mathrm{place}_i\\!\\left(
        g_{r,i} \\odot \\hat h_{\\mathrm{index}[r, i]}\\right)

where ``place_i`` puts a ``q x q`` patch at query ``i``'s position in the padded HR map,
``cov`` counts the patches covering each pixel and ``U`` is the map of everything that
does not depend on the source (the folded per-query offsets).  Written out, the messages
would be ``k`` tensors of ``[B M, C q^2]``; here they exist only a few patch rows at a
time, in a reused buffer, and their products with the gains are added straight into a
band of the map's rows, which goes to the output (with the base and the coverage) as
soon as no later patch row reaches it: the sum is never a whole map of its own.  Maps
and patches are channels-last, so every strided addition moves runs of ``C`` contiguous
values.
"""

from __future__ import annotations

import math
from types import ModuleType

import torch
from torch import Tensor

from ignn_pyg.graph.patches import (
    PatchGrid,
    accumulate_patches_,
    pad_channels_last,
    patch_windows,
    unpadded_coverage,
)
from ignn_pyg.nn import native_fold

CHUNK_BYTES = 8 << 20  # gathered patches held at once (smaller chunks measured no faster)


def fold_gathered_patches(
    sources: Tensor, index: Tensor, gain: Tensor, base: Tensor, grid: PatchGrid, native: bool = False
) -> Tensor:
    r"""Sum of gathered, per-channel-scaled patches folded into a map, overlaps averaged.

    Args:
        sources: source patches ``[N, q, q, C]`` (channels-last; ``N`` counts every map
            of the batch).
        index: ``[R, B M]`` long, the source row each query takes for each of the ``R``
            terms (e.g. neighbour ranks); queries are row-major per map, maps in order.
        gain: ``[R, B M, C]`` or ``[1, B M, C]`` (the same gain for every term).
        base: ``[B, H, W, C]``, added to the averaged sum.
        grid: the geometry of the output (``patch_size = q``, ``rows * cols = M``).
        native: run the forward pass with the compiled kernel of
            :mod:`~ignn_pyg.nn.native_fold` on CPU tensors (the same map to float
            rounding), where it can be built; the torch path otherwise.  The backward pass
            is the same either way.

    Returns:
        ``[B, H, W, C]`` (``H, W = grid.height, grid.width``):
        ``base + crop(sum_r fold_sum(gain[r] * sources[index[r]])) / coverage``.
    """
    q, c = grid.patch_size, sources.shape[-1]
    if sources.dim() != 4 or sources.shape[1:3] != (q, q):
        raise ValueError(f"expected sources [N, {q}, {q}, C], got shape {tuple(sources.shape)}")
    b = base.shape[0]
    queries = b * grid.num_patches
    if index.dim() != 2 or index.shape[1] != queries:
        raise ValueError(f"expected index [R, {queries}], got shape {tuple(index.shape)}")
    if gain.shape[0] not in (1, index.shape[0]) or gain.shape[1:] != (queries, c):
        raise ValueError(f"expected gain [{index.shape[0]} or 1, {queries}, {c}], got shape {tuple(gain.shape)}")
    if base.shape != (b, grid.height, grid.width, c):
        raise ValueError(f"expected base [B, {grid.height}, {grid.width}, {c}], got shape {tuple(base.shape)}")
    kernel = native_fold.load() if native and sources.device.type == "cpu" else None
    return _GatheredPatchFold.apply(sources, index, gain, base, grid, kernel)


def _row_chunks(grid: PatchGrid, batch: int, sources: Tensor) -> tuple[Tensor, list[tuple[int, int, int, slice]]]:
    """A reusable buffer for gathered patches and the chunks that fill it:
    ``(map, first row, row count, query slice)`` over every map's patch rows, a few rows
    at a time so that one chunk of gathered patches holds about :data:`CHUNK_BYTES`."""
    patch_bytes = sources[0].numel() * sources.element_size()
    rows_per_chunk = max(1, min(grid.rows, CHUNK_BYTES // (grid.cols * patch_bytes)))
    buffer = sources.new_empty(rows_per_chunk * grid.cols, *sources.shape[1:])
    chunks = []
    for m in range(batch):
        for r0 in range(0, grid.rows, rows_per_chunk):
            n = min(rows_per_chunk, grid.rows - r0)
            first = (m * grid.rows + r0) * grid.cols
            chunks.append((m, r0, n, slice(first, first + n * grid.cols)))
    return buffer, chunks


def _inverse_coverage(grid: PatchGrid, like: Tensor) -> Tensor:
    """``1 / coverage`` on the unpadded map, ``[H, W, 1]``."""
    return unpadded_coverage(grid, like.device, like.dtype).reciprocal()[:, :, None]


def _write_cell_rows(
    out: Tensor, base: Tensor, cells: Tensor, first: int, inverse_coverage: Tensor, grid: PatchGrid
) -> None:
    """``out = base + map / coverage`` on the rows of the unpadded map ``[H, W, C]`` that
    the cells ``[n, t, K + P - 1, t, C]`` of cell rows ``first ..`` hold (those inside it)."""
    t = grid.stride
    y0 = max(first * t - grid.pad_top, 0)
    y1 = min((first + cells.shape[0]) * t - grid.pad_top, grid.height)
    if y0 >= y1:
        return
    n, _, k, _, c = cells.shape
    pixels = cells.view(n * t, k * t, c)
    top = y0 + grid.pad_top - first * t
    region = pixels[top : top + y1 - y0, grid.pad_left : grid.pad_left + grid.width]
    torch.addcmul(base[y0:y1], region, inverse_coverage[y0:y1], out=out[y0:y1])


class _GatheredPatchFold(torch.autograd.Function):
    """:func:`fold_gathered_patches` with its adjoint as the backward pass: the gradient
    of the map, divided by the coverage and cut into patch windows (a view), goes back
    to the gains (summed against the gathered patches) and to the sources
    (scatter-added through ``index``), a chunk of rows at a time."""

    @staticmethod
    def forward(
        ctx, sources: Tensor, index: Tensor, gain: Tensor, base: Tensor, grid: PatchGrid, kernel: ModuleType | None
    ) -> Tensor:
        ctx.grid = grid
        ctx.save_for_backward(sources, index, gain)
        inverse_coverage = _inverse_coverage(grid, base)
        if kernel is not None:
            return native_fold.native_fold_forward(kernel, sources, index, gain, base, grid, inverse_coverage[..., 0])
        q, c, t = grid.patch_size, sources.shape[-1], grid.stride
        b, rows, cols = base.shape[0], grid.rows, grid.cols
        gains = gain.expand(index.shape[0], -1, -1)
        out = torch.empty_like(base)
        buffer, chunks = _row_chunks(grid, b, sources)
        # one band of cells, reused: a chunk's patch rows r0.. add into cell rows r0..; the
        # cell rows before the next chunk's first are then final and go to the output at
        # once, while in cache, and the few rows the next chunk also reaches move up
        extra_rows = math.ceil(q / t) - 1  # cell rows a patch reaches below its own
        cells = sources.new_zeros(buffer.shape[0] // cols + extra_rows, t, cols + extra_rows, t, c)
        for m, r0, n, queries in chunks:
            band = cells[: n + extra_rows]
            for r in range(index.shape[0]):
                gathered = torch.index_select(sources, 0, index[r, queries], out=buffer[: n * cols])
                # scaled while in cache, so the strided additions below are plain ones
                gathered.mul_(gains[r, queries][:, None, None, :])
                patches = gathered.view(n, cols, q, q, c).transpose(1, 2)  # [n, q, cols, q, C]
                accumulate_patches_(band, patches, t)
            last = r0 + n == rows
            _write_cell_rows(out[m], base[m], band[: n + extra_rows if last else n], r0, inverse_coverage, grid)
            if last:
                band.zero_()
            else:
                band[:extra_rows] = band[n : n + extra_rows].clone()
                band[extra_rows:].zero_()
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, Tensor | None, Tensor, None, None]:
        sources, index, gain = ctx.saved_tensors
        grid = ctx.grid
        q, c = grid.patch_size, sources.shape[-1]
        b, cols = grad.shape[0], grid.cols
        gains = gain.expand(index.shape[0], -1, -1)
        scaled = (grad * _inverse_coverage(grid, grad)).permute(0, 3, 1, 2)  # [B, C, H, W]
        windows = patch_windows(pad_channels_last(scaled, grid), q, grid.stride)  # [B, rows, cols, q, q, C]
        # summed in at least float32 (a source can take hundreds of terms), returned in its dtype
        grad_sources = (
            torch.zeros_like(sources, dtype=torch.promote_types(sources.dtype, torch.float32))
            if ctx.needs_input_grad[0]
            else None
        )
        grad_gain = gain.new_zeros(index.shape[0], *gain.shape[1:]) if ctx.needs_input_grad[2] else None
        buffer, chunks = _row_chunks(grid, b, sources)
        for m, r0, n, queries in chunks:
            window = windows[m, r0 : r0 + n].reshape(n * cols, q, q, c)
            for r in range(index.shape[0]):
                if grad_gain is not None:
                    gathered = torch.index_select(sources, 0, index[r, queries], out=buffer[: n * cols])
                    grad_gain[r, queries] = (window * gathered).sum((1, 2))
                if grad_sources is not None:
                    grad_sources.index_add_(
                        0, index[r, queries], (window * gains[r, queries, None, None, :]).to(grad_sources.dtype)
                    )
        if grad_gain is not None and gain.shape[0] == 1:
            grad_gain = grad_gain.sum(0, keepdim=True)
        if grad_sources is not None:
            grad_sources = grad_sources.to(sources.dtype)
        return grad_sources, None, grad_gain, grad, None, None
