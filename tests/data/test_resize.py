"""MATLAB-bicubic ``imresize`` against a loop-based transcription of MATLAB's algorithm."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ignn_pyg.data.resize import bicubic_downsample, imresize, modcrop, resize_matrix

# --- independent reference: MATLAB's documented imresize, pixel by pixel ---------------


def _cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _mirror(j: int, n: int) -> int:
    """1-based tap ``j`` -> 0-based pixel of ``[1..n, n..1]`` repeated."""
    m = (j - 1) % (2 * n)
    return m if m < n else 2 * n - 1 - m


def _contributions(in_len: int, out_len: int, scale: float, antialias: bool):
    """Per output pixel, MATLAB's (0-based input pixels, weights), zero columns dropped."""
    if scale < 1 and antialias:
        width = 4 / scale
        kernel = lambda d: scale * _cubic(scale * d)  # noqa: E731
    else:
        width = 4
        kernel = _cubic
    num_taps = math.ceil(width) + 2
    taps, weights = [], []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        row_taps = [left + p for p in range(num_taps)]
        row = [kernel(u - j) for j in row_taps]
        total = sum(row)
        taps.append(row_taps)
        weights.append([w / total for w in row])
    taps, weights = np.array(taps), np.array(weights)
    keep = np.any(weights != 0, axis=0)
    taps, weights = taps[:, keep], weights[:, keep]
    return np.vectorize(lambda j: _mirror(int(j), in_len))(taps), weights


def _resize_axis(img: np.ndarray, axis: int, scale: float, antialias: bool) -> np.ndarray:
    img = np.moveaxis(img, axis, 0)
    in_len = img.shape[0]
    out_len = math.ceil(in_len * scale)
    taps, weights = _contributions(in_len, out_len, scale, antialias)
    out = np.zeros((out_len,) + img.shape[1:])
    for i in range(out_len):
        for k in range(taps.shape[1]):
            out[i] += weights[i, k] * img[taps[i, k]]
    return np.moveaxis(out, 0, axis)


def matlab_imresize(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """``[..., H, W]`` float64, resized along H then W."""
    return _resize_axis(_resize_axis(img, -2, scale, antialias), -1, scale, antialias)


# --- imresize ----------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 3, 4])
@pytest.mark.parametrize("size", [(17, 23), (12, 12), (31, 9)])
@pytest.mark.parametrize("antialias", [True, False])
def test_imresize_matches_matlab_reference(scale, size, antialias):
    generator = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, *size, generator=generator)
    out = imresize(img, scale, antialiasing=antialias)
    expected = matlab_imresize(img.double().numpy(), scale, antialias)
    assert out.shape == expected.shape == (2, 3, math.ceil(size[0] * scale), math.ceil(size[1] * scale))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-4)


def test_imresize_single_image_equals_batch_item():
    img = torch.rand(2, 3, 10, 14, dtype=torch.float64)
    batch = imresize(img, 1 / 3)
    single = imresize(img[1], 1 / 3)
    assert single.shape == (3, 4, 5)
    torch.testing.assert_close(single, batch[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 2, 3])
def test_imresize_keeps_constant_image(scale):
    img = torch.full((1, 3, 13, 8), 0.37, dtype=torch.float64)
    out = imresize(img, scale)
    torch.testing.assert_close(out, torch.full_like(out, 0.37), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upsampling_reproduces_linear_ramp_in_interior(scale):
    # Keys' cubic (a = -0.5) reproduces linear functions; output pixel x samples the
    # input at u = x / s + 0.5 (1 - 1 / s) (1-based), so a ramp f(j) = j maps to u.
    width = 20
    ramp = torch.arange(1, width + 1, dtype=torch.float64).expand(1, 1, 4, width)
    out = imresize(ramp, scale)[0, 0, 0]
    x = torch.arange(1, out.numel() + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    interior = (u > 3) & (u < width - 2)  # taps within [u - 2, u + 2] stay inside the image
    assert interior.sum() > 10
    torch.testing.assert_close(out[interior], u[interior], rtol=0, atol=1e-12)


def test_x2_downscaling_kernel_weights():
    # Antialiased x2: h(d) = 0.5 k(0.5 d) over 8 taps at d = +-0.5, +-1.5, +-2.5, +-3.5:
    # k(0.25) = 0.8671875, k(0.75) = 0.2265625, k(1.25) = -0.0703125, k(1.75) = -0.0234375.
    half = np.array([0.8671875, 0.2265625, -0.0703125, -0.0234375]) / 2
    expected_taps = np.concatenate([half[::-1], half])
    assert expected_taps.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(expected_taps, expected_taps[::-1])

    # A batch of impulses recovers the [out, in] weight matrix column by column.
    width = 32
    impulses = torch.eye(width, dtype=torch.float64).reshape(width, 1, 1, width)
    matrix = imresize(impulses, 1 / 2)[:, 0, 0, :].T  # [16, 32]
    torch.testing.assert_close(matrix.sum(dim=1), torch.ones(16, dtype=torch.float64))
    # Output pixel i (0-based) is centred at input 2 i + 0.5, so its taps are 2 i - 3 .. 2 i + 4.
    i = 8
    np.testing.assert_allclose(matrix[i, 2 * i - 3 : 2 * i + 5].numpy(), expected_taps, atol=1e-15)
    assert matrix[i, : 2 * i - 3].abs().max() == 0 and matrix[i, 2 * i + 5 :].abs().max() == 0


def test_imresize_keeps_dtype_and_float64_precision():
    img = torch.rand(3, 9, 11, dtype=torch.float64)
    out = imresize(img, 1 / 2)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), matlab_imresize(img.numpy(), 1 / 2), rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_imresize_on_cuda_matches_cpu():
    img = torch.rand(2, 3, 20, 15)
    torch.testing.assert_close(imresize(img.cuda(), 1 / 3).cpu(), imresize(img, 1 / 3), rtol=0, atol=1e-5)


def test_imresize_rejects_bad_input():
    with pytest.raises(TypeError, match="floating-point"):
        imresize(torch.zeros(3, 4, 4, dtype=torch.uint8), 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        imresize(np.zeros((3, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        imresize(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="-2"):
        imresize(torch.zeros(3, 4, 4), -2)
    with pytest.raises(TypeError, match="str"):
        imresize(torch.zeros(3, 4, 4), "2")


# --- modcrop and the degradation ----------------------------------------------------------


def test_modcrop_numpy_and_tensor():
    img = np.arange(7 * 10 * 3).reshape(7, 10, 3)
    cropped = modcrop(img, 3)
    assert cropped.shape == (6, 9, 3)
    np.testing.assert_array_equal(cropped, img[:6, :9])
    tensor = torch.arange(2 * 3 * 7 * 10).reshape(2, 3, 7, 10)
    assert modcrop(tensor, 4).shape == (2, 3, 4, 8)
    torch.testing.assert_close(modcrop(tensor, 4), tensor[..., :4, :8])
    with pytest.raises(ValueError, match="2.5"):
        modcrop(img, 2.5)
    with pytest.raises(ValueError, match="0"):
        modcrop(img, 0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_downsample_is_rounded_matlab_resize(scale):
    generator = torch.Generator().manual_seed(scale)
    hr = torch.randint(0, 256, (3, 6 * scale, 5 * scale), generator=generator).float()
    lr = bicubic_downsample(hr, scale)
    reference = matlab_imresize(hr.double().numpy() / 255, 1 / scale) * 255
    expected = np.floor(np.clip(reference, 0, 255) + 0.5)
    assert lr.shape == (3, 6, 5)
    np.testing.assert_array_equal(lr.numpy(), expected)


def test_bicubic_downsample_needs_modcropped_input():
    with pytest.raises(ValueError, match="13x12"):
        bicubic_downsample(torch.zeros(3, 13, 12), 2)


def test_resize_matrix_is_what_imresize_applies():
    img = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    for scale in (0.5, 2, 1 / 3):
        rows, cols = resize_matrix(9, scale), resize_matrix(7, scale)
        torch.testing.assert_close(rows @ img @ cols.T, imresize(img, scale), rtol=0, atol=1e-12)
