"""Planted cross-scale recurrence: a training crop that holds the answer to part of itself.

IGNN's graph pays off where a patch recurs in the image at ``s`` times its size.  A
square HR crop ``X`` (side ``c``) gets such a recurrence planted: its block ``P``
(side ``b``, the largest multiple of ``s^2`` up to ``5 c / 8``, at a random corner) is
bicubic-downscaled by ``s`` and pasted over the opposite corner as ``D = down(P)``
(side ``b / s``; the two never overlap, since ``b + b / s <= 15 c / 16``).  Then

* the LR input ``down(X)`` holds ``down(D) = down(down(P))`` in that corner,
* the graph's downsampled image ``down(down(X))`` holds ``down(down(P))`` at ``P``'s
  place, an exact match for those queries (up to a few pixels of bicubic support at
  the block edges), and
* that match's HR counterpart, the LR image at ``s`` times its position, is
  ``down(P) = D``: the ground truth of the queries themselves.

So the graph carries information the convolutions cannot infer for that corner, and a
network trained on such crops is rewarded for using its neighbours.  Offsets are
multiples of ``s^2`` (``P``) and ``s`` (``D``), so both blocks sit on the LR and the
downsampled grids.

The share of crops that get a plant can change over training (:class:`PlantSchedule`):
planted crops keep a gated detail transfer's gate open, photos alone are what the
network is scored on, so a recipe may plant early and fine-tune on photos at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ignn_pyg.data import bicubic_downsample, image_to_tensor, tensor_to_image

__all__ = ["plant_recurrence", "plant_at", "planted_blocks", "min_plant_crop", "PlantSchedule", "PLANT_DECAYS"]

#: how the planted share goes from its initial to its final value (:class:`PlantSchedule`)
PLANT_DECAYS = ("constant", "step", "linear")


def min_plant_crop(scale: int) -> int:
    """The smallest crop side that holds a block of ``scale^2`` pixels within ``5/8`` of it."""
    return -(-8 * scale * scale // 5)


def planted_blocks(size: int, scale: int, corner: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Where :func:`plant_recurrence` reads ``P`` and writes ``D`` in a ``size`` crop.

    ``corner`` 0..3 puts ``P`` top-left, top-right, bottom-left, bottom-right (``D`` in
    the opposite corner).  Returns ``((p_top, p_left, b), (d_top, d_left, b // scale))``.

    Raises:
        ValueError: the crop is too small for a block of ``scale^2`` pixels.
    """
    unit = scale * scale
    side = (5 * size // 8) // unit * unit
    if side < unit:
        raise ValueError(
            f"a crop of {size} px is too small to plant a recurrence at x{scale} "
            f"(needs at least {min_plant_crop(scale)} px)"
        )
    small = side // scale
    far_p = (size - side) // unit * unit  # P's offset on a far side, a multiple of s^2
    far_d = size - small  # D flush with the far side, a multiple of s
    bottom, right = divmod(corner, 2)
    p = (far_p if bottom else 0, far_p if right else 0, side)
    d = (0 if bottom else far_d, 0 if right else far_d, small)
    return p, d


def plant_at(img: np.ndarray, scale: int, corner: int) -> np.ndarray:
    """``img`` (``[c, c, 3]`` uint8, ``c`` a multiple of ``scale``) with ``down(P)`` pasted
    over the corner opposite ``P`` (module docstring), ``P`` at ``corner``
    (:func:`planted_blocks`).

    Shapes: ``[c, c, 3] -> [c, c, 3]`` (a new array).
    """
    if img.shape[0] != img.shape[1]:
        raise ValueError(f"a recurrence is planted in a square crop, got {img.shape[0]}x{img.shape[1]}")
    (pt, pl, side), (dt, dl, small) = planted_blocks(img.shape[0], scale, corner)
    out = np.array(img)
    block = image_to_tensor(np.ascontiguousarray(img[pt : pt + side, pl : pl + side]))
    out[dt : dt + small, dl : dl + small] = tensor_to_image(bicubic_downsample(block, scale))
    return out


def plant_recurrence(img: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`plant_at` a uniformly random corner drawn from ``rng``."""
    return plant_at(img, scale, int(rng.integers(4)))


@dataclass(frozen=True)
class PlantSchedule:
    r"""The share of training crops that get a planted recurrence, per iteration.

    With initial share :math:`p`, final share :math:`p_f`, ``iterations`` :math:`T` and
    ``until`` :math:`u \in (0, 1]`, iteration :math:`t` plants with probability

    * ``constant``: :math:`p` (``until`` and ``final`` unused);
    * ``step``: :math:`p` for :math:`t < u T`, then :math:`p_f`;
    * ``linear``: :math:`p + (p_f - p) \min(1, t / (u T))`, reaching :math:`p_f` at
      :math:`t = u T` and keeping it.

    ``batch_size`` is the global batch: stream sample ``i`` belongs to iteration
    ``i // batch_size`` (:mod:`ignn_pyg.training.data`), so the schedule is a function
    of the sample index and a resumed run sees the shares it would have seen.

    Raises:
        ValueError: an unknown ``decay``, a share outside ``[0, 1]``, ``until`` outside
            ``(0, 1]``, or ``iterations`` / ``batch_size`` below 1.
    """

    share: float
    iterations: int
    batch_size: int
    decay: str = "constant"
    until: float = 1.0
    final: float = 0.0

    def __post_init__(self) -> None:
        if self.decay not in PLANT_DECAYS:
            raise ValueError(f"decay must be one of {PLANT_DECAYS}, got {self.decay!r}")
        if not (0.0 <= self.share <= 1.0 and 0.0 <= self.final <= 1.0):
            raise ValueError(f"share and final must be in [0, 1], got {self.share} and {self.final}")
        if not 0.0 < self.until <= 1.0:
            raise ValueError(f"until must be in (0, 1], got {self.until}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch_size must be positive, got {self.iterations} and {self.batch_size}")

    def at(self, iteration: int) -> float:
        """The planted share at ``iteration`` (0-based)."""
        end = self.until * self.iterations
        if self.decay == "constant":
            return self.share
        if self.decay == "step":
            return self.share if iteration < end else self.final
        return self.share + (self.final - self.share) * min(1.0, iteration / end)

    def for_sample(self, index: int) -> float:
        """The planted share of stream sample ``index``."""
        return self.at(index // self.batch_size)
