"""Overlapping patches of a feature map as graph nodes, and the adjoint fold.

A map ``[B, C, H, W]`` is cut into ``p x p`` patches taken every ``t`` pixels
(``p = patch_size``, ``t = stride``).  Before cutting, the map is zero-padded with
the smallest padding that makes the patches tile it exactly:

.. math::
    \\text{pad}_H = (-(H - p)) \\bmod t, \\quad
    \\text{top} = \\lfloor \\text{pad}_H / 2 \\rfloor, \\quad
    \\text{bottom} = \\lceil \\text{pad}_H / 2 \\rceil

and likewise for the width (the authors' rule: with ``p = 3, t = 2`` this is at most
one zero row at the bottom and one zero column at the right).  The padding is
computed from each tensor's own size.

Patch ``(r, c)`` of the padded map has its top-left pixel at ``(r t - top, c t - left)``
in the unpadded map; nodes are numbered row-major, ``m = r * cols + c``.  A node's
feature vector is the patch flattened in ``(channel, row, column)`` order.

:func:`fold_patches` is the adjoint of :func:`extract_patches` followed by a division
by the coverage count, i.e. it puts patch values back into an image and averages
where patches overlap.  The network uses it at high resolution with patch ``p s``
and stride ``t s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class PatchGrid:
    """Geometry of the patch nodes of one map.

    Attributes:
        height, width: size of the unpadded map.
        patch_size, stride: ``p`` and ``t``.
        rows, cols: patch grid size; the map has ``rows * cols`` nodes.
        pad_top, pad_bottom, pad_left, pad_right: zero padding added before cutting.
    """

    height: int
    width: int
    patch_size: int
    stride: int
    rows: int
    cols: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int

    @classmethod
    def of(cls, height: int, width: int, patch_size: int, stride: int) -> PatchGrid:
        """Grid of ``patch_size`` patches every ``stride`` pixels over a ``height x width`` map."""
        if patch_size < 1 or stride < 1:
            raise ValueError(f"patch_size and stride must be >= 1, got {patch_size} and {stride}")
        if stride > patch_size:
            raise ValueError(
                f"stride {stride} > patch_size {patch_size} leaves pixels in no patch; "
                "fold_patches could not average them"
            )
        if height < patch_size or width < patch_size:
            raise ValueError(f"map of size {height}x{width} is smaller than a {patch_size}x{patch_size} patch")
        pad_h = (-(height - patch_size)) % stride
        pad_w = (-(width - patch_size)) % stride
        rows = (height + pad_h - patch_size) // stride + 1
        cols = (width + pad_w - patch_size) // stride + 1
        return cls(
            height,
            width,
            patch_size,
            stride,
            rows,
            cols,
            pad_h // 2,
            pad_h - pad_h // 2,
            pad_w // 2,
            pad_w - pad_w // 2,
        )

    @property
    def num_patches(self) -> int:
        """Number of patch nodes ``rows * cols`` of one map."""
        return self.rows * self.cols

    def scaled(self, factor: int) -> PatchGrid:
        """The same grid at ``factor`` times the resolution: patch ``p f``, stride ``t f``,
        map ``H f x W f`` and padding times ``f``.  Patch ``(r, c)`` of the result covers
        exactly the pixels that patch ``(r, c)`` of ``self`` maps to."""
        f = factor
        return PatchGrid(
            self.height * f,
            self.width * f,
            self.patch_size * f,
            self.stride * f,
            self.rows,
            self.cols,
            self.pad_top * f,
            self.pad_bottom * f,
            self.pad_left * f,
            self.pad_right * f,
        )

    def positions(self, device: torch.device | None = None) -> Tensor:
        """Top-left pixel ``(row, col)`` of every patch in the unpadded map, ``[rows*cols, 2]``
        (may be negative for a padded top/left border)."""
        r = torch.arange(self.rows, device=device) * self.stride - self.pad_top
        c = torch.arange(self.cols, device=device) * self.stride - self.pad_left
        return torch.stack(torch.meshgrid(r, c, indexing="ij"), dim=-1).reshape(-1, 2)

    def coverage(self, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """How many patches cover each pixel of the padded map, ``[1, 1, H_pad, W_pad]``."""
        ones = torch.ones(1, 1, self.rows, self.cols, device=device, dtype=dtype)
        return _spread(ones, self)


def _spread(grid_values: Tensor, grid: PatchGrid) -> Tensor:
    """Sum of patch-constant values over the padded map.

    ``grid_values [N, 1, rows, cols]`` holds one value per patch; the result
    ``[N, 1, H_pad, W_pad]`` is, at each pixel, the sum over the patches covering it.
    A transposed convolution with an all-ones ``p x p`` kernel and stride ``t``.
    """
    kernel = grid_values.new_ones(1, 1, grid.patch_size, grid.patch_size)
    return F.conv_transpose2d(grid_values, kernel, stride=grid.stride)


def _crop_padding(x: Tensor, grid: PatchGrid) -> Tensor:
    """Remove ``grid``'s padding from a padded map ``[..., H_pad, W_pad]``."""
    return x[..., grid.pad_top : grid.pad_top + grid.height, grid.pad_left : grid.pad_left + grid.width]


def unpadded_coverage(
    grid: PatchGrid, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """:meth:`PatchGrid.coverage` on the unpadded map, ``[H, W]``."""
    return _crop_padding(grid.coverage(device, dtype)[0, 0], grid)


def extract_patches(x: Tensor, patch_size: int, stride: int) -> tuple[Tensor, PatchGrid]:
    """Cut a map into overlapping patches.

    Args:
        x: feature map ``[B, C, H, W]``.
        patch_size: ``p``.
        stride: ``t``.

    Returns:
        ``(patches, grid)`` with ``patches [B, M, C*p*p]`` (``M = rows*cols``, row-major
        nodes, features in ``(c, dy, dx)`` order) and the :class:`PatchGrid`.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a map [B, C, H, W], got shape {tuple(x.shape)}")
    grid = PatchGrid.of(x.shape[-2], x.shape[-1], patch_size, stride)
    padded = F.pad(x, (grid.pad_left, grid.pad_right, grid.pad_top, grid.pad_bottom))
    cols = F.unfold(padded, patch_size, stride=stride)  # [B, C*p*p, M]
    return cols.transpose(1, 2), grid


def pad_channels_last(x: Tensor, grid: PatchGrid) -> Tensor:
    """``x [B, C, H, W]`` (the grid's map size) zero-padded by ``grid``'s padding into a
    new channels-last tensor ``[B, H_pad, W_pad, C]``."""
    b, c, h, w = x.shape
    if (h, w) != (grid.height, grid.width):
        raise ValueError(f"expected a {grid.height}x{grid.width} map, got shape {tuple(x.shape)}")
    padded = x.new_zeros(b, h + grid.pad_top + grid.pad_bottom, w + grid.pad_left + grid.pad_right, c)
    padded[:, grid.pad_top : grid.pad_top + h, grid.pad_left : grid.pad_left + w] = x.permute(0, 2, 3, 1)
    return padded


def patch_windows(padded: Tensor, patch_size: int, stride: int) -> Tensor:
    """Every ``p x p`` patch of a padded channels-last map, as a view (no copy):
    ``[B, H_pad, W_pad, C] -> [B, rows, cols, p, p, C]``, patch ``(r, c)`` starting at
    pixel ``(r t, c t)``."""
    return padded.unfold(1, patch_size, stride).unfold(2, patch_size, stride).permute(0, 1, 2, 4, 5, 3)


def channel_major_patches(windows: Tensor) -> Tensor:
    """Patch windows ``[B, rows, cols, p, p, C]`` as node features in
    :func:`extract_patches`' layout, ``[B, rows*cols, C*p*p]`` (a copy)."""
    return windows.permute(0, 1, 2, 5, 3, 4).reshape(windows.shape[0], windows.shape[1] * windows.shape[2], -1)


def extract_patch_rows(x: Tensor, patch_size: int, stride: int) -> tuple[Tensor, PatchGrid]:
    """Cut a map into overlapping patches as contiguous pixel-major rows.

    The same patches as :func:`extract_patches`, each flattened in ``(dy, dx, c)`` order
    (channels innermost) and copied row by row into ``[B, M, p*p*C]``.  Read from a
    channels-last copy of the padded map (:func:`patch_windows`), the copy moves runs of
    ``C`` contiguous values (on CPU about 5x faster than transposing
    :func:`extract_patches`' unfold layout).  For consumers that need rows but not the
    channel-major order: distances, per-channel sums over a patch's pixels.

    Returns:
        ``(rows [B, M, p*p*C], grid)``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a map [B, C, H, W], got shape {tuple(x.shape)}")
    grid = PatchGrid.of(x.shape[-2], x.shape[-1], patch_size, stride)
    windows = patch_windows(pad_channels_last(x, grid), patch_size, stride)
    return windows.reshape(x.shape[0], grid.num_patches, -1).contiguous(), grid


def zero_cells(grid: PatchGrid, leading: tuple[int, ...], depth: int, like: Tensor) -> Tensor:
    """Zeroed ``t x t`` cells covering ``grid``'s padded map, the target of
    :func:`accumulate_patches_`: ``[*leading, rows + P - 1, t, cols + P - 1, t, depth]``
    with ``P = ceil(p / t)`` (dtype and device of ``like``)."""
    t, pieces = grid.stride, math.ceil(grid.patch_size / grid.stride)
    return like.new_zeros(*leading, grid.rows - 1 + pieces, t, grid.cols - 1 + pieces, t, depth)


def cells_map(cells: Tensor, grid: PatchGrid) -> Tensor:
    """The unpadded map held by :func:`zero_cells`' cells, a view ``[*leading, H, W, depth]``."""
    r, t, c, _, d = cells.shape[-5:]
    image = cells.view(*cells.shape[:-5], r * t, c * t, d)
    return image[..., grid.pad_top : grid.pad_top + grid.height, grid.pad_left : grid.pad_left + grid.width, :]


def accumulate_patches_(cells: Tensor, patches: Tensor, stride: int) -> Tensor:
    r"""Add a grid of overlapping patches into a map, in place: the summing half of a fold.

    ``cells [..., R + P - 1, t, K + P - 1, t, D]`` is a map cut into ``t x t`` cells
    (``t = stride``, ``P = ceil(q / t)``); ``patches [..., R, q, K, q, D]`` is an
    ``R x K`` grid of ``q x q`` patches, patch ``(r, k)`` starting at cell ``(r, k)``;
    ``D`` is a trailing feature axis (size 1 for channel-first data).

    Each patch is cut into ``P x P`` pieces of at most ``t x t`` pixels.  Piece ``(u, v)``
    of patch ``(r, k)`` lands in cell ``(r + u, k + v)``, so pieces of one kind never
    overlap and each kind is one strided in-place addition: ``P^2`` passes in all.

    Returns:
        ``cells``.
    """
    q, t = patches.shape[-4], stride
    rows, cols = patches.shape[-5], patches.shape[-3]
    pieces = math.ceil(q / t)
    for u in range(pieces):
        a0, a1 = u * t, min(u * t + t, q)
        for v in range(pieces):
            b0, b1 = v * t, min(v * t + t, q)
            target = cells[..., u : u + rows, : a1 - a0, v : v + cols, : b1 - b0, :]
            target.add_(patches[..., a0:a1, :, b0:b1, :])
    return cells


def fold_patches(patches: Tensor, grid: PatchGrid) -> Tensor:
    r"""Put patches back into an image, averaging overlaps (adjoint of
    :func:`extract_patches`, normalised by coverage).

    .. math::
        y(u) = \frac{1}{|\{m : u \in P_m\}|} \sum_{m : u \in P_m} x_m(u - o_m)

    where ``P_m`` is the pixel set of patch ``m`` and ``o_m`` its top-left pixel.

    Works on the node-major layout directly: the ``q x q`` patch is cut into
    ``ceil(q/t)^2`` pieces of at most ``t x t`` pixels; pieces of one kind never overlap,
    so each kind is added to the image with one strided addition.  This avoids the
    transpose to ``[B, C q q, M]`` that :func:`torch.nn.functional.fold` needs (2x faster
    here on IGNN's HR patches).  The gradient is the adjoint, :func:`extract_patches` of
    ``grad / coverage``.

    Args:
        patches: ``[B, M, C*q*q]`` with ``q = grid.patch_size`` and ``M = grid.num_patches``.
        grid: the geometry, e.g. ``extract_patches(...)[1].scaled(s)``.

    Returns:
        ``[B, C, grid.height, grid.width]``.
    """
    q = grid.patch_size
    if patches.dim() != 3 or patches.shape[1] != grid.num_patches or patches.shape[2] % (q * q):
        raise ValueError(f"expected patches [B, {grid.num_patches}, C*{q}^2], got shape {tuple(patches.shape)}")
    return _FoldPatches.apply(patches, grid)


class _FoldPatches(torch.autograd.Function):
    """:func:`fold_patches` with its adjoint as the backward pass (autograd through the
    strided additions would allocate a zero image per piece)."""

    @staticmethod
    def forward(ctx, patches: Tensor, grid: PatchGrid) -> Tensor:
        ctx.grid = grid
        q = grid.patch_size
        b, _, f = patches.shape
        c = f // (q * q)
        cells = zero_cells(grid, (b, c), 1, patches)
        x = patches.view(b, grid.rows, grid.cols, c, q, q).permute(0, 3, 1, 4, 2, 5)  # [B, C, rows, q, cols, q]
        accumulate_patches_(cells, x[..., None], grid.stride)
        return cells_map(cells, grid)[..., 0] / unpadded_coverage(grid, patches.device, patches.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        grid = ctx.grid
        padded = F.pad(grad, (grid.pad_left, grid.pad_right, grid.pad_top, grid.pad_bottom))
        padded = padded / grid.coverage(grad.device, grad.dtype)
        return F.unfold(padded, grid.patch_size, stride=grid.stride).transpose(1, 2), None


def fold_patch_constants(values: Tensor, grid: PatchGrid) -> Tensor:
    """Fold patches whose pixels all hold the same value, without materialising them.

    Equal to ``fold_patches`` of ``values`` repeated over the ``q x q`` pixels of each
    patch: the patches are a broadcast view, summed into ``t x t`` cells by
    :func:`accumulate_patches_` with ``D`` innermost.

    Args:
        values: ``[B, M, D]``, one ``D``-vector per patch.
        grid: the geometry to fold into.

    Returns:
        ``[B, D, grid.height, grid.width]``, channels-last in memory.
    """
    b, m, d = values.shape
    if m != grid.num_patches:
        raise ValueError(f"expected {grid.num_patches} patches, got {m}")
    q, rows, cols = grid.patch_size, grid.rows, grid.cols
    patches = values.reshape(b, rows, 1, cols, 1, d).expand(b, rows, q, cols, q, d)
    cells = accumulate_patches_(zero_cells(grid, (b,), d, values), patches, grid.stride)
    return cells_map(cells, grid).movedim(-1, 1) * unpadded_coverage(grid, values.device, values.dtype).reciprocal()
