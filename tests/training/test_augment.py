from __future__ import annotations

import numpy as np
import pytest

from ignn_pyg.training.augment import augment, flip_rotate, random_crop, shuffle_channels


def _dihedral(img: np.ndarray) -> list[np.ndarray]:
    """The 8 symmetries of the square, built independently with rot90 / fliplr."""
    out = []
    for k in range(4):
        rotated = np.rot90(img, k)
        out += [rotated, np.fliplr(rotated)]
    return out


def test_flip_rotate_draws_each_of_the_8_symmetries():
    img = np.arange(4 * 4 * 3).reshape(4, 4, 3)
    symmetries = _dihedral(img)
    seen = set()
    for seed in range(200):
        result = flip_rotate(img, np.random.default_rng(seed))
        matches = [k for k, s in enumerate(symmetries) if np.array_equal(s, result)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))


def test_flip_rotate_switches():
    img = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    for seed in range(20):
        assert np.array_equal(flip_rotate(img, np.random.default_rng(seed), flips=False, rotations=False), img)
        only_flips = flip_rotate(img, np.random.default_rng(seed), rotations=False)
        assert only_flips.shape == img.shape


def test_shuffle_channels_permutes_or_keeps():
    img = np.random.default_rng(0).integers(0, 255, (5, 6, 3))
    for seed in range(20):
        assert np.array_equal(shuffle_channels(img, np.random.default_rng(seed), 0.0), img)
        out = shuffle_channels(img, np.random.default_rng(seed), 1.0)
        order = [next(c for c in range(3) if np.array_equal(out[..., k], img[..., c])) for k in range(3)]
        assert sorted(order) == [0, 1, 2]


def test_random_crop_is_a_window_of_the_image():
    img = np.arange(10 * 12).reshape(10, 12, 1)
    positions = set()
    for seed in range(300):
        crop = random_crop(img, 4, np.random.default_rng(seed))
        top, left = divmod(int(crop[0, 0, 0]), 12)
        assert np.array_equal(crop, img[top : top + 4, left : left + 4])
        positions.add((top, left))
    assert len(positions) == 7 * 9  # every position reachable
    with pytest.raises(ValueError, match="smaller than the crop size 11"):
        random_crop(img, 11, np.random.default_rng(0))


def test_augment_is_a_pure_function_of_the_generator_seed():
    img = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    a = augment(img, np.random.default_rng([7, 3]), 16)
    b = augment(img, np.random.default_rng([7, 3]), 16)
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8 and a.flags.c_contiguous
    assert np.array_equal(a, b)
