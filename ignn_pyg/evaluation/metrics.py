"""PSNR and SSIM under the standard super-resolution evaluation protocol.

The protocol (as in EDSR, RCAN, IGNN and BasicSR's ``calculate_psnr``/``calculate_ssim``):

1. the SR output is rounded to the values an 8-bit image would hold
   (:func:`~ignn_pyg.data.image_io.quantize`: clip to [0, 255], round halves up), because
   published numbers are computed on saved PNGs; the HR image is used as given
   (it comes from an 8-bit file);
2. ``crop_border`` pixels (usually the scale factor) are removed on every side;
3. by default both images are reduced to the BT.601 luma ``Y`` (:func:`rgb_to_y`);
4. everything is computed in float64.

Inputs are ``[H, W, 3]`` numpy arrays or ``[3, H, W]`` / ``[1, 3, H, W]`` tensors, with
values in [0, 255].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ignn_pyg.data.image_io import quantize

__all__ = ["rgb_to_y", "psnr", "ssim", "psnr_ssim"]

# BT.601 luma of [0, 1] RGB scaled to studio range: Y = 16 + 65.481 R + 128.553 G + 24.966 B.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
_Y_OFFSET = 16.0

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


def rgb_to_y(img: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """BT.601 luma (MATLAB's ``rgb2ycbcr`` Y channel) of an RGB image in [0, 255].

    .. math:: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, \\quad Y \\in [16, 235]

    Args:
        img: numpy ``[H, W, 3]`` or tensor ``[..., 3, H, W]``, values in [0, 255].

    Returns:
        numpy ``[H, W]`` float64, or tensor ``[..., H, W]`` in ``img``'s dtype (float64 for
        integer tensors).
    """
    if isinstance(img, Tensor):
        if img.dim() < 3 or img.shape[-3] != 3:
            raise ValueError(f"tensor image must be [..., 3, H, W], got shape {tuple(img.shape)}")
        if not img.is_floating_point():
            img = img.double()
        weights = torch.as_tensor(_Y_WEIGHTS, dtype=img.dtype, device=img.device)
        return torch.einsum("...chw,c->...hw", img, weights) + _Y_OFFSET
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"numpy image must be [H, W, 3], got shape {img.shape}")
        return img.astype(np.float64) @ _Y_WEIGHTS + _Y_OFFSET
    raise TypeError(f"img must be a numpy array or torch.Tensor, got {type(img).__name__}")


def _to_hwc(img: np.ndarray | Tensor, role: str) -> np.ndarray:
    """``[H, W, 3]`` array or ``[3, H, W]`` / ``[1, 3, H, W]`` tensor -> ``[H, W, 3]`` float64."""
    if isinstance(img, Tensor):
        array = img.detach().to("cpu", torch.float64)
        if array.dim() == 4 and array.shape[0] == 1:
            array = array[0]
        if array.dim() != 3 or array.shape[0] != 3:
            raise ValueError(f"{role} tensor must be [3, H, W] or [1, 3, H, W], got shape {tuple(img.shape)}")
        return array.permute(1, 2, 0).numpy()
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"{role} array must be [H, W, 3], got shape {img.shape}")
        return img.astype(np.float64)
    raise TypeError(f"{role} must be a numpy array or torch.Tensor, got {type(img).__name__}")


def _prepare(
    sr: np.ndarray | Tensor,
    hr: np.ndarray | Tensor,
    crop_border: int,
    y_channel: bool,
    min_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of the protocol: ``[H', W']`` (Y) or ``[H', W', 3]`` float64 images."""
    sr_hwc, hr_hwc = _to_hwc(sr, "sr"), _to_hwc(hr, "hr")
    if sr_hwc.shape != hr_hwc.shape:
        raise ValueError(
            f"sr and hr sizes differ: sr {tuple(sr.shape)}, hr {tuple(hr.shape)} "
            f"(as [H, W, 3]: {sr_hwc.shape} vs {hr_hwc.shape})"
        )
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border!r}")
    height, width = sr_hwc.shape[:2]
    if min(height, width) - 2 * crop_border < min_size:
        raise ValueError(
            f"images of size {height}x{width} are too small for crop_border={crop_border} "
            f"(at least {min_size} pixels must remain on each axis)"
        )
    crop = (slice(crop_border, height - crop_border), slice(crop_border, width - crop_border))
    sr_hwc, hr_hwc = quantize(sr_hwc)[crop], hr_hwc[crop]
    if y_channel:
        return rgb_to_y(sr_hwc), rgb_to_y(hr_hwc)
    return sr_hwc, hr_hwc


def psnr(sr: np.ndarray | Tensor, hr: np.ndarray | Tensor, crop_border: int, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, with peak 255 (see the module docstring for the protocol).

    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{255^2}{\\mathrm{mean}((SR - HR)^2)}

    Args:
        sr: super-resolved image, ``[H, W, 3]`` array or ``[3, H, W]`` / ``[1, 3, H, W]`` tensor.
        hr: ground truth of the same size.
        crop_border: pixels removed on each side before comparing.
        y_channel: compare the BT.601 Y channel (default) instead of RGB.

    Returns:
        PSNR in dB; ``inf`` for identical images.
    """
    return _psnr_prepared(*_prepare(sr, hr, crop_border, y_channel, min_size=1))


def _psnr_prepared(sr_img: np.ndarray, hr_img: np.ndarray) -> float:
    mse = float(np.mean((sr_img - hr_img) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window() -> np.ndarray:
    """The normalised 1-D Gaussian, ``[11]``, sigma 1.5; the 2-D window is its outer product."""
    offsets = np.arange(_SSIM_WINDOW) - _SSIM_WINDOW // 2
    window = np.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    return window / window.sum()


def _filter_valid(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering: ``[H, W]`` -> ``[H - 10, W - 10]``."""
    view = np.lib.stride_tricks.sliding_window_view
    rows = view(img, len(window), axis=0) @ window
    return view(rows, len(window), axis=1) @ window


def _ssim_single_channel(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM map of two ``[H, W]`` float64 images (Wang et al. 2004)."""
    window = _gaussian_window()
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov_xy = _filter_valid(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _SSIM_C1) * (2 * cov_xy + _SSIM_C2)) / (
        (mu_x**2 + mu_y**2 + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    )
    return float(ssim_map.mean())


def ssim(sr: np.ndarray | Tensor, hr: np.ndarray | Tensor, crop_border: int, y_channel: bool = True) -> float:
    """Structural similarity (Wang et al. 2004) under the SR protocol of the module docstring.

    Local statistics use an 11x11 Gaussian window (sigma 1.5) over the 'valid' region
    (no padding), with

    .. math::
        \\mathrm{SSIM} = \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
        {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)},
        \\quad C_1 = (0.01 \\cdot 255)^2,\\ C_2 = (0.03 \\cdot 255)^2,

    averaged over the map (and over the three channels when ``y_channel`` is False).
    The arguments are those of :func:`psnr`; at least 11 pixels must remain after cropping.

    Returns:
        SSIM, 1 for identical images.
    """
    return _ssim_prepared(*_prepare(sr, hr, crop_border, y_channel, min_size=_SSIM_WINDOW))


def _ssim_prepared(sr_img: np.ndarray, hr_img: np.ndarray) -> float:
    if sr_img.ndim == 2:  # Y channel
        return _ssim_single_channel(sr_img, hr_img)
    return float(np.mean([_ssim_single_channel(sr_img[..., c], hr_img[..., c]) for c in range(3)]))


def psnr_ssim(
    sr: np.ndarray | Tensor, hr: np.ndarray | Tensor, crop_border: int, y_channel: bool = True
) -> tuple[float, float]:
    """``(psnr(...), ssim(...))`` with the protocol's preparation (rounding, crop, Y) done
    once; same arguments, and the same error for images too small for SSIM."""
    prepared = _prepare(sr, hr, crop_border, y_channel, min_size=_SSIM_WINDOW)
    return _psnr_prepared(*prepared), _ssim_prepared(*prepared)
