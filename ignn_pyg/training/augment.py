"""Random crops and the dihedral / colour-order augmentations of SR training.

Every function takes an explicit ``numpy.random.Generator``, so a training sample is a
pure function of its seed (see :mod:`ignn_pyg.training.data`) and does not depend on
which process or worker draws it.  Images are ``[H, W, 3]`` numpy arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop_position", "random_crop", "flip_rotate", "shuffle_channels", "augment", "augment_pair"]


def crop_position(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """``(top, left)`` of a ``size x size`` crop of an ``height x width`` image, uniformly random.

    Raises:
        ValueError: the image is smaller than ``size`` on either side.
    """
    if height < size or width < size:
        raise ValueError(f"image of size {height}x{width} is smaller than the crop size {size}")
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size x size`` crop at a uniformly random position (:func:`crop_position`).

    Shapes: ``[H, W, C] -> [size, size, C]``.
    """
    top, left = crop_position(img.shape[0], img.shape[1], size, rng)
    return img[top : top + size, left : left + size]


def flip_rotate(img: np.ndarray, rng: np.random.Generator, flips: bool = True, rotations: bool = True) -> np.ndarray:
    """One of the 8 symmetries of the square, uniformly: horizontal flip, vertical flip
    (each with probability 1/2, when ``flips``) and transpose (probability 1/2, when
    ``rotations``; with the flips it gives the 90-degree rotations).

    Shapes: ``[H, W, C] -> [H, W, C]`` (``[W, H, C]`` when transposed).
    """
    hflip, vflip, transpose = rng.random(3) < 0.5
    if flips and hflip:
        img = img[:, ::-1]
    if flips and vflip:
        img = img[::-1]
    if rotations and transpose:
        img = img.transpose(1, 0, 2)
    return img


def shuffle_channels(img: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """With probability ``prob``, reorder the colour channels by a uniformly random
    permutation (the identity included).  Shapes: ``[H, W, 3] -> [H, W, 3]``."""
    if rng.random() < prob:
        img = img[..., rng.permutation(img.shape[-1])]
    return img


def augment(
    hr: np.ndarray,
    rng: np.random.Generator,
    crop_size: int,
    flips: bool = True,
    rotations: bool = True,
    channel_shuffle_prob: float = 0.8,
) -> np.ndarray:
    """The training transform of one HR image: :func:`random_crop`, :func:`flip_rotate`,
    :func:`shuffle_channels`.  (The LR input is made from the result afterwards, so the
    crop need not sit on any LR grid.)

    Shapes: ``[H, W, 3] -> [crop_size, crop_size, 3]`` (contiguous, same dtype).
    """
    patch = random_crop(hr, crop_size, rng)
    patch = flip_rotate(patch, rng, flips, rotations)
    return np.ascontiguousarray(shuffle_channels(patch, rng, channel_shuffle_prob))


def augment_pair(
    hr: np.ndarray,
    lr: np.ndarray,
    rng: np.random.Generator,
    crop_size: int,
    scale: int,
    flips: bool = True,
    rotations: bool = True,
    channel_shuffle_prob: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """The training transform of an HR image and its LR partner (paired data): a random
    ``crop_size / scale`` LR crop at ``(top, left)`` and the HR crop at
    ``(scale top, scale left)``, then the same :func:`flip_rotate` and
    :func:`shuffle_channels` for both (the generator's draws are replayed for the LR crop).

    Shapes: ``[H, W, 3]``, ``[h, w, 3]`` with ``h = H // scale``, ``w = W // scale`` ->
    ``[crop_size, crop_size, 3]``, ``[crop_size / scale, crop_size / scale, 3]`` (contiguous).
    """
    size = crop_size // scale
    top, left = crop_position(lr.shape[0], lr.shape[1], size, rng)
    lr_patch = lr[top : top + size, left : left + size]
    hr_patch = hr[scale * top : scale * (top + size), scale * left : scale * (left + size)]
    draws = rng.bit_generator.state
    hr_patch = shuffle_channels(flip_rotate(hr_patch, rng, flips, rotations), rng, channel_shuffle_prob)
    rng.bit_generator.state = draws
    lr_patch = shuffle_channels(flip_rotate(lr_patch, rng, flips, rotations), rng, channel_shuffle_prob)
    return np.ascontiguousarray(hr_patch), np.ascontiguousarray(lr_patch)
