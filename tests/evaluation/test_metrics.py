"""PSNR/SSIM against hand-computed values and scikit-image's SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ignn_pyg.evaluation.metrics import psnr, psnr_ssim, rgb_to_y, ssim

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _y(img: np.ndarray) -> np.ndarray:
    """BT.601 Y of a [H, W, 3] image in [0, 255], written out channel by channel."""
    r, g, b = (img[..., c].astype(np.float64) / 255 for c in range(3))
    return 16 + 65.481 * r + 128.553 * g + 24.966 * b


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A random HR image and a noisy, integer-valued "SR" version of it."""
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (40, 48, 3)).astype(np.float64)
    sr = np.clip(hr + rng.integers(-60, 61, hr.shape), 0, 255)
    return sr, hr


def test_rgb_to_y_known_colours():
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0]]], dtype=np.float64)
    np.testing.assert_allclose(rgb_to_y(colours)[0], [16, 235, 16 + 65.481, 16 + 128.553])
    tensor = torch.from_numpy(colours).permute(2, 0, 1)  # [3, 1, 4]
    np.testing.assert_allclose(rgb_to_y(tensor).numpy(), rgb_to_y(colours))
    with pytest.raises(ValueError, match=r"\(1, 4, 2\)"):
        rgb_to_y(colours[..., :2])


def test_psnr_constant_offset_of_one():
    hr = np.full((8, 8, 3), 100.0)
    assert psnr(hr + 1, hr, 0, y_channel=False) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(hr + 1, hr, 0, y_channel=False) == pytest.approx(48.13, abs=5e-3)
    # In Y an RGB offset of 1 is (65.481 + 128.553 + 24.966) / 255 = 219 / 255.
    assert psnr(hr + 1, hr, 0) == pytest.approx(20 * math.log10(255 / (219 / 255)), abs=1e-12)


def test_psnr_single_wrong_pixel():
    hr = np.zeros((4, 4, 3))
    sr = hr.copy()
    sr[1, 2] = 255
    # mse = 255^2 / 16, so PSNR = 10 log10(16)
    assert psnr(sr, hr, 0, y_channel=False) == pytest.approx(10 * math.log10(16), abs=1e-12)


def test_psnr_crops_the_border_and_is_infinite_for_equal_images():
    hr = np.full((10, 10, 3), 50.0)
    sr = hr.copy()
    sr[:2] = 0
    sr[:, -2:] = 255
    assert psnr(sr, hr, 2) == math.inf
    assert psnr(sr, hr, 1) < 20


def test_psnr_rounds_and_clips_sr_first():
    hr = np.full((6, 6, 3), 255.0)
    hr[0, 0] = 10
    assert psnr(hr + 0.49, hr, 0) == math.inf
    assert psnr(np.where(hr == 255, 300, hr), hr, 0) == math.inf
    # 10.5 rounds up to 11 (halves up, not to even): one pixel off by 1 out of 36.
    sr = hr.copy()
    sr[0, 0] = 10.5
    assert psnr(sr, hr, 0, y_channel=False) == pytest.approx(10 * math.log10(255**2 * 36), abs=1e-12)


def test_psnr_of_tensor_and_numpy_inputs_agree(pair):
    sr, hr = pair
    expected = 10 * math.log10(255**2 / np.mean((_y(sr)[3:-3, 3:-3] - _y(hr)[3:-3, 3:-3]) ** 2))
    sr_tensor = torch.from_numpy(sr).float().permute(2, 0, 1)
    hr_tensor = torch.from_numpy(hr).float().permute(2, 0, 1)
    assert psnr(sr, hr, 3) == pytest.approx(expected, abs=1e-10)
    assert psnr(sr_tensor, hr_tensor, 3) == pytest.approx(expected, abs=1e-10)
    assert psnr(sr_tensor[None], hr, 3) == pytest.approx(expected, abs=1e-10)


def test_shape_errors_name_both_shapes(pair):
    sr, hr = pair
    with pytest.raises(ValueError, match=r"\(40, 47, 3\).*\(40, 48, 3\)"):
        psnr(sr[:, :-1], hr, 0)
    with pytest.raises(ValueError, match=r"\(2, 3, 40, 48\)"):
        ssim(torch.zeros(2, 3, 40, 48), hr, 0)
    with pytest.raises(ValueError, match=r"\(40, 48\)"):
        psnr(sr[..., 0], hr[..., 0], 0)
    with pytest.raises(ValueError, match="crop_border"):
        psnr(sr, hr, -1)
    with pytest.raises(ValueError, match="too small"):
        ssim(sr, hr, 15)


def test_ssim_of_identical_images_is_one(pair):
    _, hr = pair
    assert ssim(hr, hr, 4) == pytest.approx(1.0, abs=1e-12)
    assert ssim(hr, hr, 4, y_channel=False) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_flat_images_by_hand():
    # Flat images: all variances are 0, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1).
    a, b = 100.0, 110.0
    expected = (2 * a * b + C1) / (a**2 + b**2 + C1)
    assert ssim(np.full((20, 20, 3), b), np.full((20, 20, 3), a), 2, y_channel=False) == pytest.approx(
        expected, abs=1e-12
    )


def test_skimage_gaussian_window_is_11_by_11():
    # skimage's structural_similarity filters with scipy.ndimage.gaussian_filter(sigma=1.5,
    # truncate=3.5): radius int(3.5 * 1.5 + 0.5) = 5, the 11x11 window of Wang et al.;
    # scipy's default truncate=4.0 would give 13x13.
    ndimage = pytest.importorskip("scipy.ndimage")
    impulse = np.zeros((21, 21))
    impulse[10, 10] = 1
    for truncate, taps in ((3.5, 11), (4.0, 13)):
        response = ndimage.gaussian_filter(impulse, sigma=1.5, truncate=truncate)
        rows, cols = np.nonzero(response)
        assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (taps, taps)


def _skimage_ssim(x: np.ndarray, y: np.ndarray, **kwargs) -> float:
    metrics = pytest.importorskip("skimage.metrics")
    return metrics.structural_similarity(
        x,
        y,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        win_size=11,
        **kwargs,
    )


def test_ssim_matches_skimage_on_random_images(pair):
    sr, hr = pair
    crop = slice(4, -4)
    expected_y = _skimage_ssim(_y(sr)[crop, crop], _y(hr)[crop, crop])
    assert ssim(sr, hr, 4) == pytest.approx(expected_y, abs=1e-4)
    expected_rgb = _skimage_ssim(sr[crop, crop], hr[crop, crop], channel_axis=2)
    assert ssim(sr, hr, 4, y_channel=False) == pytest.approx(expected_rgb, abs=1e-4)
    assert 0.3 < expected_y < 0.99


def test_ssim_matches_skimage_on_a_real_photo():
    data = pytest.importorskip("skimage.data")
    from ignn_pyg.data.resize import bicubic_downsample, imresize

    hr = data.astronaut()[:256, 128:384].astype(np.float64)
    hr_tensor = torch.from_numpy(hr).permute(2, 0, 1)
    sr_tensor = imresize(bicubic_downsample(hr_tensor, 4), 4)  # unrounded, with overshoot
    sr = np.floor(np.clip(sr_tensor.permute(1, 2, 0).numpy(), 0, 255) + 0.5)
    crop = slice(4, -4)
    expected = _skimage_ssim(_y(sr)[crop, crop], _y(hr)[crop, crop])
    assert ssim(sr_tensor, hr_tensor, 4) == pytest.approx(expected, abs=1e-4)
    assert 0.5 < expected < 0.95


@pytest.mark.parametrize("y_channel", [True, False])
def test_psnr_ssim_is_the_pair_of_metrics(pair, y_channel):
    sr, hr = pair
    assert psnr_ssim(sr, hr, 4, y_channel) == (psnr(sr, hr, 4, y_channel), ssim(sr, hr, 4, y_channel))
    with pytest.raises(ValueError, match="at least 11 pixels"):
        psnr_ssim(sr[:20, :20], hr[:20, :20], 5)
