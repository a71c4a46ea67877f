"""Random crops and the dihedral / colour-order augmentations of SR training.

Every function takes an explicit ``numpy.random.Generator``, so a training sample is a
pure function of its seed (see :mod:`ignn_pyg.training.data`) and does not depend on
which process or worker draws it.  Images are ``[H, W, 3]`` numpy arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_crop", "flip_rotate", "shuffle_channels", "augment"]


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size x size`` crop at a uniformly random position.

    Shapes: ``[H, W, C] -> [size, size, C]``.

    Raises:
        ValueError: the image is smaller than ``size`` on either side.
    """
    height, width = img.shape[:2]
    if height < size or width < size:
        raise ValueError(f"image of size {height}x{width} is smaller than the crop size {size}")
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
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
