"""Running a trained SR model on whole images: plain, tiled, the authors' chop, x8 ensemble.

Every function takes a *model*: an :class:`~ignn_pyg.models.IGNN`, an
:class:`~ignn_pyg.models.EDSR`, or a :class:`ReferenceWindowState` around an IGNN --
anything with an integer ``scale``, an ``eval()`` method and the calling convention
``model(lr, lr_down=None) -> sr`` with ``lr [B, 3, H, W]`` in ``[0, 255]`` and
``sr [B, 3, S H, S W]``.  Models are switched to eval mode and run without gradients.

* :func:`forward_whole`  -- one forward pass over the whole image.
* :func:`forward_tiled`  -- bounded memory: overlapping tiles, margins discarded; exact
  for models whose receptive field is within the overlap (EDSR), an approximation for
  IGNN (each tile searches its neighbours inside itself only).
* :func:`reference_chop` -- the authors' test-time split into four overlapping
  quadrants (recursively), to reproduce their published numbers.
* :func:`self_ensemble_x8` -- average over the 8 flips/transposes (the "+" results).
* :class:`ReferenceWindowState` -- the authors' process-wide switch to global search.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import product
from typing import Protocol

import torch
from torch import Tensor
from tqdm import tqdm

from ignn_pyg.data.resize import downsample_for_graph
from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.models.ignn import IGNN, graph_scale_for

__all__ = [
    "SRModel",
    "forward_whole",
    "forward_tiled",
    "reference_chop",
    "dihedral",
    "dihedral_inverse",
    "self_ensemble_x8",
    "ReferenceWindowState",
]

ForwardFn = Callable[[Tensor, "Tensor | None"], Tensor]


class SRModel(Protocol):
    """What the functions of this module need from a model."""

    scale: int

    def eval(self) -> object: ...

    def __call__(self, lr: Tensor, lr_down: Tensor | None = None) -> Tensor: ...


def _check_lr(lr: Tensor) -> None:
    if not isinstance(lr, Tensor):
        raise TypeError(f"lr must be a torch.Tensor, got {type(lr).__name__}")
    if lr.dim() != 4 or lr.shape[1] != 3:
        raise ValueError(f"lr must be [B, 3, H, W], got shape {tuple(lr.shape)}")


def _check_lr_down(lr: Tensor, lr_down: Tensor, graph_scale: int) -> None:
    h, w = lr.shape[-2:]
    expected = (h // graph_scale, w // graph_scale)
    if lr_down.dim() != 4 or lr_down.shape[:2] != lr.shape[:2] or tuple(lr_down.shape[-2:]) != expected:
        raise ValueError(
            f"lr_down must be [B, 3, {expected[0]}, {expected[1]}] for lr {tuple(lr.shape)} "
            f"at graph scale {graph_scale}, got {tuple(lr_down.shape)}"
        )


def _positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def forward_whole(model: SRModel, lr: Tensor, lr_down: Tensor | None = None) -> Tensor:
    """One forward pass over the whole image, in eval mode and without gradients.

    Shapes: ``lr [B, 3, H, W]`` (``lr_down [B, 3, H // s, W // s]``, for IGNN only) ``->
    [B, 3, S H, S W]``.
    """
    _check_lr(lr)
    model.eval()
    with torch.no_grad():
        return model(lr, lr_down)


def _tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis: ``(start, stop, keep_start, keep_stop)`` per tile.

    One tile when ``length <= tile``.  Otherwise the fewest tiles of at most ``tile``
    pixels that cover ``[0, length)`` with neighbours overlapping by ``2 overlap`` or more,
    ``n = ceil((length - 2 overlap) / (tile - 2 overlap))``, all of one length, the
    smallest that does it, ``t = ceil((length + 2 overlap (n - 1)) / n) <= tile``, spread
    evenly from ``0`` to ``length`` (tile ``i`` starts at ``floor(i (length - t) / (n - 1))``).
    So no tile computes more pixels than the covering needs: full-size tiles with the last
    one pushed back to the edge would redo up to a whole tile of overlap.  The kept ranges
    meet in the middle of each overlap, so every kept pixel is at least ``overlap`` pixels
    from a tile edge that is not an image edge, and the kept ranges partition ``[0, length)``.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    count = -(-(length - 2 * overlap) // (tile - 2 * overlap))
    side = -(-(length + 2 * overlap * (count - 1)) // count)
    starts = [i * (length - side) // (count - 1) for i in range(count)]
    cuts = [0] + [(nxt + cur + side) // 2 for cur, nxt in zip(starts, starts[1:])] + [length]
    return [(start, start + side, cuts[i], cuts[i + 1]) for i, start in enumerate(starts)]


def forward_tiled(model: SRModel, lr: Tensor, tile: int, overlap: int = 16, progress: bool = False) -> Tensor:
    """Super-resolve ``lr`` tile by tile, so memory is bounded by one ``tile x tile`` pass.

    Each axis is covered by the fewest tiles of at most ``tile`` LR pixels that overlap by
    at least ``2 overlap``, all of one size, spread evenly (see :func:`_tile_spans`); each
    tile is run on its own and only the centre of its output is pasted, the margins being
    **discarded** (no blending): output pixel ``(y, x)`` comes from the tile whose kept
    region holds ``(y // S, x // S)``.

    Exactness: for a model whose output at a pixel depends on LR inputs within ``r``
    pixels (EDSR: one pixel per 3x3 conv at LR resolution), the result equals
    :func:`forward_whole` when ``overlap >= r``.  IGNN's graph is not local: every tile
    builds its own graph from its own downsampled image (``lr_down`` is not accepted), so
    queries find neighbours inside their tile only and the result approximates the
    whole-image output; it is identical when ``tile >= max(H, W)`` (one tile).

    Args:
        model: see the module docstring.
        lr: ``[B, 3, H, W]`` in ``[0, 255]``, any size.
        tile: tile side in LR pixels, greater than ``2 overlap``.
        overlap: margin in LR pixels discarded on each inner side of a tile.
        progress: show a progress bar over the tiles (on stderr).

    Returns:
        ``[B, 3, S H, S W]``.
    """
    _check_lr(lr)
    _positive_int("tile", tile)
    _positive_int("overlap", overlap, minimum=0)
    if tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must exceed 2 * overlap ({2 * overlap})")
    s = model.scale
    h, w = lr.shape[-2:]
    model.eval()
    out = lr.new_empty(lr.shape[0], 3, s * h, s * w)
    tiles = list(product(_tile_spans(h, tile, overlap), _tile_spans(w, tile, overlap)))
    with torch.no_grad():
        for (y0, y1, ky0, ky1), (x0, x1, kx0, kx1) in tqdm(
            tiles, desc="tiles", unit="tile", disable=not progress, file=sys.stderr
        ):
            _paste(out, model(lr[..., y0:y1, x0:x1]), s, (ky0, ky1, y0), (kx0, kx1, x0))
    return out


def _paste(out: Tensor, sr: Tensor, scale: int, rows: tuple[int, int, int], cols: tuple[int, int, int]) -> None:
    """Copy the kept part of a tile's output into ``out`` (``[B, 3, S H, S W]``).

    ``rows = (keep_start, keep_stop, tile_start)`` in LR pixels of the whole image, and
    likewise ``cols``; ``sr`` is the tile's output, whose pixel ``(0, 0)`` is output pixel
    ``(S tile_start_y, S tile_start_x)``.
    """
    (ky0, ky1, y0), (kx0, kx1, x0) = rows, cols
    out[..., scale * ky0 : scale * ky1, scale * kx0 : scale * kx1] = sr[
        ..., scale * (ky0 - y0) : scale * (ky1 - y0), scale * (kx0 - x0) : scale * (kx1 - x0)
    ]


def _chop_spans(
    length: int, down_length: int, graph_scale: int, shave: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int, int]:
    """The authors' two overlapping halves along one axis.

    With ``s`` the graph scale, ``n`` and ``n_s`` the LR and downsampled lengths,
    ``r = n mod s``, ``h_s = floor(n_s / 2)`` and ``z_s = h_s + floor(shave / s)``:

    * downsampled tiles ``[0, z_s)`` and ``[n_s - z_s, n_s)``;
    * LR tiles ``[0, s z_s + r)`` and ``[n - s z_s - r, n)``;
    * the output of the first tile is kept for LR pixels ``[0, s h_s)``, that of the
      second for ``[s h_s, n)``.

    Returns:
        ``(down_spans, lr_spans, split, tile_area_length)``: the two tiles' ranges, the
        LR pixel ``s h_s`` where the kept halves meet, and ``s z_s``, the factor the
        authors' size test multiplies.
    """
    remainder = length % graph_scale
    half_down = down_length // 2
    tile_down = half_down + shave // graph_scale
    if tile_down > down_length:
        raise ValueError(
            f"image too small for the reference chop: a side of {length} LR pixels "
            f"({down_length} at graph scale {graph_scale}) is shorter than half of it "
            f"plus the shave of {shave}; run it whole"
        )
    tile_lr = tile_down * graph_scale + remainder
    down_spans = [(0, tile_down), (down_length - tile_down, down_length)]
    lr_spans = [(0, tile_lr), (length - tile_lr, length)]
    return down_spans, lr_spans, half_down * graph_scale, tile_down * graph_scale


def reference_chop(
    model: SRModel,
    lr: Tensor,
    lr_down: Tensor | None = None,
    shave: int = 12,
    min_size: int = 40000,
    tiles_per_batch: int = 2,
) -> Tensor:
    """The authors' test-time tiling (``Chop`` in their ``utils/network_utils.py``).

    ``lr_down`` (by default :func:`~ignn_pyg.data.downsample_for_graph` of the whole
    ``lr``) is computed once and cut, never recomputed per tile.  Along each axis (see
    :func:`_chop_spans`) the image is split into two halves that overlap by about
    ``shave`` LR pixels, the cut falling at ``s floor(n_s / 2)``; the remainder
    ``n mod s`` of the LR length is appended to both LR tiles so that each LR tile is
    ``s`` times its downsampled tile plus that remainder.  The four quadrant tiles,
    in the order top-left, top-right, bottom-left, bottom-right, are

    * split again recursively when :math:`(s z^h_s)(s z^w_s) \\ge` ``min_size``
      (the tile area counted without the remainders);
    * otherwise run ``tiles_per_batch`` at a time as one batch (the authors ran
      ``min(n_GPUs, 4)`` tiles per batch, 2 by default; IGNN's result depends on this
      only through floating-point noise).

    Each quadrant of the output is taken from the tile that starts at that quadrant's
    corner.  With IGNN every tile builds its graph from its own cut of ``lr_down``.

    Args:
        model: see the module docstring; the graph scale is
            :func:`~ignn_pyg.models.graph_scale_for` of ``model.scale``.
        lr: ``[B, 3, H, W]`` in ``[0, 255]``.
        lr_down: ``[B, 3, H // s, W // s]`` or ``None``.
        shave: overlap parameter in LR pixels (12 in the authors' test).
        min_size: tiles of at least this many LR pixels are split further.
        tiles_per_batch: 1 to 4.

    Returns:
        ``[B, 3, S H, S W]``.

    Raises:
        ValueError: a side is too short for two halves plus the shave.
    """
    _check_lr(lr)
    _positive_int("shave", shave, minimum=0)
    _positive_int("min_size", min_size)
    if tiles_per_batch not in (1, 2, 3, 4):
        raise ValueError(f"tiles_per_batch must be 1, 2, 3 or 4, got {tiles_per_batch!r}")
    graph_scale = graph_scale_for(model.scale)
    if lr_down is None:
        lr_down = downsample_for_graph(lr, graph_scale)
    _check_lr_down(lr, lr_down, graph_scale)
    model.eval()
    with torch.no_grad():
        return _chop(model, lr, lr_down, graph_scale, shave, min_size, tiles_per_batch)


def _chop(
    model: SRModel, lr: Tensor, lr_down: Tensor, graph_scale: int, shave: int, min_size: int, tiles_per_batch: int
) -> Tensor:
    """One level of :func:`reference_chop` (arguments already checked)."""
    s = model.scale
    (h, w), (h_down, w_down) = lr.shape[-2:], lr_down.shape[-2:]
    down_rows, lr_rows, split_y, area_h = _chop_spans(h, h_down, graph_scale, shave)
    down_cols, lr_cols, split_x, area_w = _chop_spans(w, w_down, graph_scale, shave)
    lr_tiles = [lr[..., y0:y1, x0:x1] for (y0, y1), (x0, x1) in product(lr_rows, lr_cols)]
    down_tiles = [lr_down[..., y0:y1, x0:x1] for (y0, y1), (x0, x1) in product(down_rows, down_cols)]

    if area_h * area_w < min_size:
        sr_tiles: list[Tensor] = []
        for i in range(0, 4, tiles_per_batch):
            batch = model(torch.cat(lr_tiles[i : i + tiles_per_batch]), torch.cat(down_tiles[i : i + tiles_per_batch]))
            sr_tiles.extend(batch.chunk(len(lr_tiles[i : i + tiles_per_batch])))
    else:
        sr_tiles = [
            _chop(model, tile, down, graph_scale, shave, min_size, tiles_per_batch)
            for tile, down in zip(lr_tiles, down_tiles)
        ]

    out = lr.new_empty(lr.shape[0], 3, s * h, s * w)
    # (keep_start, keep_stop, tile_start) of the two halves along each axis
    rows = [(0, split_y, lr_rows[0][0]), (split_y, h, lr_rows[1][0])]
    cols = [(0, split_x, lr_cols[0][0]), (split_x, w, lr_cols[1][0])]
    for sr, (row, col) in zip(sr_tiles, product(rows, cols)):
        _paste(out, sr, s, row, col)
    return out


def dihedral(x: Tensor, index: int) -> Tensor:
    """The ``index``-th of the 8 flips/transposes of ``[..., H, W]`` images.

    Bits of ``index`` in ``0..7``: bit 0 flips W (left-right), bit 1 flips H (up-down),
    bit 2 then swaps H and W; applied in that order, so ``index = 5`` is
    ``flip_W`` followed by a transpose.
    """
    if index not in range(8):
        raise ValueError(f"index must be in 0..7, got {index!r}")
    if index & 1:
        x = x.flip(-1)
    if index & 2:
        x = x.flip(-2)
    if index & 4:
        x = x.transpose(-2, -1)
    return x


def dihedral_inverse(x: Tensor, index: int) -> Tensor:
    """Undo :func:`dihedral`: ``dihedral_inverse(dihedral(x, i), i) == x``."""
    if index not in range(8):
        raise ValueError(f"index must be in 0..7, got {index!r}")
    if index & 4:
        x = x.transpose(-2, -1)
    if index & 2:
        x = x.flip(-2)
    if index & 1:
        x = x.flip(-1)
    return x


def self_ensemble_x8(forward_fn: ForwardFn, lr: Tensor, lr_down: Tensor | None = None) -> Tensor:
    """Geometric self-ensemble: the mean over the 8 flips/transposes ``T_i``,

    .. math:: \\hat y = \\frac{1}{8} \\sum_{i=0}^{7} T_i^{-1}\\big(f(T_i\\,x,\\ T_i\\,x_\\downarrow)\\big),

    summed in the order ``i = 0..7`` of :func:`dihedral` (the authors' ``forward_x8``
    order).  ``lr_down``, when given, gets the same transform as ``lr`` (as in the
    authors' code; for sizes not divisible by ``s`` this differs from downsampling the
    transformed ``lr``, whose crop falls on another side).

    Args:
        forward_fn: ``(lr, lr_down) -> sr``, e.g. ``lambda x, d: forward_whole(model, x, d)``
            or a partial of :func:`reference_chop`.
        lr: ``[B, 3, H, W]``.
        lr_down: ``[B, 3, H', W']`` or ``None`` (then ``forward_fn`` gets ``None``).

    Returns:
        ``[B, 3, S H, S W]``.
    """
    _check_lr(lr)
    with torch.no_grad():
        outputs = [
            dihedral_inverse(forward_fn(dihedral(lr, i), None if lr_down is None else dihedral(lr_down, i)), i)
            for i in range(8)
        ]
        return torch.stack(outputs).mean(dim=0)


class ReferenceWindowState:
    """An IGNN that, like the authors' code, switches to global search for good once a
    search window has covered a whole downsampled patch grid.

    In the authors' ``index_neighbours``, a graph whose window is at least the source
    patch grid on both sides sets their global ``cfg.NETWORK.WITH_WINDOW`` to ``False``;
    from then on every later forward pass in the process searches all patches.  With
    ``--chop`` on a benchmark set, one small image (or tile) is enough to turn the
    window off for every image after it, so their numbers depend on the order of the
    images.  :class:`~ignn_pyg.models.IGNN` has no such side effect; this wrapper
    reproduces it explicitly: it builds each graph itself, latches when
    ``graph.global_search`` is true, and once latched builds every graph with a window
    larger than the source grid.

    Args:
        model: the IGNN to run.

    Calling: ``wrapper(lr [B, 3, H, W], lr_down=None) -> [B, 3, S H, S W]``, without
    gradients.  Attributes: ``model``, ``scale``, ``latched``.
    """

    def __init__(self, model: IGNN) -> None:
        if not isinstance(model, IGNN):
            raise TypeError(f"ReferenceWindowState wraps an IGNN, got {type(model).__name__}")
        self.model = model
        self.latched = False

    @property
    def scale(self) -> int:
        """Output scale ``S`` of the wrapped model."""
        return self.model.scale

    def eval(self) -> ReferenceWindowState:
        """Put the wrapped model in eval mode."""
        self.model.eval()
        return self

    def build_graph(self, lr: Tensor, lr_down: Tensor | None = None) -> CrossScaleGraph:
        """The graph the authors' code would build now, updating the latch.

        Shapes: as :meth:`IGNN.build_graph <ignn_pyg.models.IGNN.build_graph>`.
        """
        if not self.latched:
            graph = self.model.build_graph(lr, lr_down)
            self.latched = graph.global_search
            return graph
        # a patch grid is never larger than its map, so this window covers every grid
        return self.model.build_graph(lr, lr_down, window=max(lr.shape[-2:]))

    def __call__(self, lr: Tensor, lr_down: Tensor | None = None) -> Tensor:
        with torch.no_grad():
            return self.model(lr, graph=self.build_graph(lr, lr_down))

    def __repr__(self) -> str:
        return f"ReferenceWindowState(latched={self.latched}, model=IGNN({self.model.config}))"
