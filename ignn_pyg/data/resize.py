"""MATLAB-compatible bicubic resizing and the bicubic SR degradation.

Super-resolution benchmarks (Set5, Set14, B100, Urban100, Manga109, DIV2K) make their
low-resolution inputs with MATLAB's ``imresize(hr, 1/scale, 'bicubic')``.  Other bicubic
resizers (PIL, OpenCV, ``torch.nn.functional.interpolate``) differ from it by several
grey levels, which is more than the PSNR gap between published methods, so this module
reimplements MATLAB's algorithm exactly:

* cubic kernel with :math:`a = -0.5`,

  .. math::
      k(x) = \\begin{cases}
          1.5|x|^3 - 2.5|x|^2 + 1 & |x| \\le 1 \\\\
          -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2 & 1 < |x| \\le 2 \\\\
          0 & \\text{otherwise;}
      \\end{cases}

* antialiasing when downscaling (``scale < 1``): the kernel is stretched to
  :math:`s\\,k(s x)` and its support widens from 4 to :math:`4 / s` input pixels;
* output pixel :math:`x` (1-based) samples the input at :math:`u = x / s + 0.5 (1 - 1/s)`;
* the weights of every output pixel are normalised to sum to 1;
* taps falling outside the image are mirrored (``[1..n, n..1]``, edge pixel repeated);
* output length :math:`\\lceil n s \\rceil`.

A resize is linear and separable, so each axis is one ``[out, in]`` weight matrix and an
image is resized by two matrix products (height, then width, MATLAB's order for equal
scales).  The matrices are built once per ``(in, out, scale, antialiasing)`` and cached.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from .image_io import quantize

__all__ = ["imresize", "resize_matrix", "modcrop", "bicubic_downsample", "downsample_for_graph"]


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``)."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


@functools.lru_cache(maxsize=64)
def _weight_matrix(in_length: int, out_length: int, scale: float, antialiasing: bool) -> Tensor:
    """The ``[out_length, in_length]`` float64 matrix resizing one axis, as MATLAB's
    ``contributions`` computes it.

    MATLAB keeps, per output pixel, ``P = ceil(width) + 2`` taps starting at
    ``floor(u - width / 2)``, then drops tap columns whose weights are all zero.  In the
    dense matrix here a zero tap adds nothing, so that pruning is implicit.  Mirrored taps
    that land on the same input pixel are summed, as MATLAB's sparse product does.
    """
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        kernel_width /= scale
        support_scale = scale
    else:
        support_scale = 1.0

    x = np.arange(1, out_length + 1, dtype=np.float64)[:, None]  # 1-based output pixels
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    num_taps = math.ceil(kernel_width) + 2
    taps = left + np.arange(num_taps, dtype=np.float64)[None, :]  # 1-based input pixels
    weights = support_scale * _cubic(support_scale * (u - taps))
    weights /= weights.sum(axis=1, keepdims=True)

    mirror = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    columns = mirror[np.mod(taps.astype(np.int64) - 1, 2 * in_length)]
    rows = np.broadcast_to(np.arange(out_length)[:, None], columns.shape)

    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    np.add.at(matrix, (rows, columns), weights)
    return torch.from_numpy(matrix)


def _output_length(length: int, scale: float) -> int:
    """MATLAB's ``ceil(length * scale)``, in integers where ``scale`` or ``1 / scale`` is
    one (the same number; and a size that ``torch.compile`` can carry symbolically)."""
    if scale.is_integer():
        return length * int(scale)
    if (1.0 / scale).is_integer():
        return -(-length // int(1.0 / scale))
    return math.ceil(length * scale)


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a number, got {type(scale).__name__} {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return float(scale)


@functools.lru_cache(maxsize=64)
def _weight_matrix_as(
    in_length: int, out_length: int, scale: float, antialiasing: bool, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """:func:`_weight_matrix` converted once per device and dtype (tiled inference resizes
    every tile: the float64 matrix would otherwise be copied each time)."""
    return _weight_matrix(in_length, out_length, scale, antialiasing).to(device, dtype)


@torch.library.custom_op("ignn_pyg::resize_weight_matrix", mutates_args=())
def _weight_matrix_op(in_length: int, out_length: int, scale: float, antialiasing: bool) -> Tensor:
    """:func:`_weight_matrix` (a copy) as an operator that ``torch.compile`` keeps whole in
    its graph: the numpy that builds the matrix runs when the graph does, untraced."""
    return _weight_matrix(in_length, out_length, scale, antialiasing).clone()


@_weight_matrix_op.register_fake
def _(in_length: int, out_length: int, scale: float, antialiasing: bool) -> Tensor:
    return torch.empty(out_length, in_length, dtype=torch.float64)


def _weights_for(in_length: int, out_length: int, scale: float, antialiasing: bool, like: Tensor) -> Tensor:
    """The resize matrix on ``like``'s device and dtype: cached per device and dtype
    (:func:`_weight_matrix_as`), or through :func:`_weight_matrix_op` inside code that
    ``torch.compile`` traces (no graph break)."""
    if torch.compiler.is_compiling():
        return _weight_matrix_op(in_length, out_length, scale, antialiasing).to(like.device, like.dtype)
    return _weight_matrix_as(in_length, out_length, scale, antialiasing, like.device, like.dtype)


def resize_matrix(
    in_length: int,
    scale: float,
    antialiasing: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """The ``[ceil(in_length * scale), in_length]`` matrix :func:`imresize` applies along an
    axis of length ``in_length`` (for operators built from resizes, e.g. their inverses).
    Cached and shared: do not modify it in place."""
    scale = _check_scale(scale)
    out_length = _output_length(in_length, scale)
    if min(in_length, out_length) < 1:
        raise ValueError(f"cannot resize a length of {in_length} by scale {scale}")
    return _weight_matrix_as(in_length, out_length, scale, antialiasing, torch.device(device or "cpu"), dtype)


def imresize(img: Tensor, scale: float, antialiasing: bool = True) -> Tensor:
    """Resize like MATLAB's ``imresize(img, scale, 'bicubic')`` (see the module docstring).

    The result is not rounded or clamped: bicubic overshoot (values below the input's
    minimum or above its maximum near edges) is kept, as MATLAB does for ``double`` input.

    Args:
        img: a floating-point image ``[C, H, W]`` or batch ``[B, C, H, W]``, on any device.
        scale: the resize factor ``s > 0`` (``1 / 4`` downscales by 4, ``2`` upscales by 2).
        antialiasing: widen the kernel when downscaling, as MATLAB does by default.

    Returns:
        ``[C, ceil(H s), ceil(W s)]`` or ``[B, C, ceil(H s), ceil(W s)]``, same dtype and
        device as ``img``.
    """
    if not isinstance(img, Tensor):
        raise TypeError(f"img must be a torch.Tensor, got {type(img).__name__}")
    if not img.is_floating_point():
        raise TypeError(f"img must be a floating-point tensor, got dtype {img.dtype}")
    if img.dim() not in (3, 4):
        raise ValueError(f"img must be [C, H, W] or [B, C, H, W], got shape {tuple(img.shape)}")
    scale = _check_scale(scale)
    in_h, in_w = img.shape[-2:]
    out_h, out_w = _output_length(in_h, scale), _output_length(in_w, scale)
    if min(in_h, in_w, out_h, out_w) < 1:
        raise ValueError(f"cannot resize an image of shape {tuple(img.shape)} by scale {scale}")

    weight_h = _weights_for(in_h, out_h, scale, antialiasing, img)
    weight_w = _weights_for(in_w, out_w, scale, antialiasing, img)
    # [out_h, H] @ [..., H, W] @ [W, out_w] -> [..., out_h, out_w]
    return weight_h @ img @ weight_w.T


def _check_integer_scale(scale: int) -> int:
    """``scale`` if it is a positive ``int``; ValueError naming it otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    return scale


def modcrop(img: np.ndarray | Tensor, scale: int) -> np.ndarray | Tensor:
    """Crop the bottom and right edges so height and width are multiples of ``scale``.

    Args:
        img: a numpy image ``[H, W]`` or ``[H, W, C]``, or a tensor ``[..., H, W]``.
        scale: a positive integer.

    Returns:
        ``img[:H - H % scale, :W - W % scale]`` on the spatial axes (a view).
    """
    _check_integer_scale(scale)
    if isinstance(img, Tensor):
        if img.dim() < 2:
            raise ValueError(f"tensor image must be [..., H, W], got shape {tuple(img.shape)}")
        h, w = img.shape[-2:]
        return img[..., : h - h % scale, : w - w % scale]
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"numpy image must be [H, W] or [H, W, C], got shape {img.shape}")
        h, w = img.shape[:2]
        return img[: h - h % scale, : w - w % scale]
    raise TypeError(f"img must be a numpy array or torch.Tensor, got {type(img).__name__}")


def bicubic_downsample(hr: Tensor, scale: int) -> Tensor:
    """The bicubic SR degradation: MATLAB ``imresize(hr, 1/scale, 'bicubic')`` of a
    uint8 image, as the benchmark LR images were made.

    Computed on ``hr / 255`` (MATLAB's ``im2double``), multiplied back by 255 and rounded
    to uint8 values with :func:`~ignn_pyg.data.image_io.quantize` (clip to [0, 255], round
    halves up), so the result equals the LR image a saved PNG would hold.

    Args:
        hr: ``[3, H, W]`` or ``[B, 3, H, W]`` float in [0, 255], with ``H`` and ``W``
            multiples of ``scale`` (apply :func:`modcrop` first).
        scale: the integer downscaling factor.

    Returns:
        ``[..., H / scale, W / scale]`` float, integer-valued in [0, 255].
    """
    _check_integer_scale(scale)
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not a multiple of scale {scale}; modcrop the image first")
    return quantize(imresize(hr / 255.0, 1.0 / scale) * 255.0)


def downsample_for_graph(lr: Tensor, graph_scale: int) -> Tensor:
    """The authors' downsampled image: crop ``lr`` to a multiple of ``s``, MATLAB-bicubic
    (antialiased) downsample on the ``[0, 1]`` scale, clamp to ``[0, 255]``, no rounding.

    Shapes: ``[B, 3, H, W] -> [B, 3, H // s, W // s]`` (values in ``[0, 255]``).
    """
    return (imresize(modcrop(lr, graph_scale) / 255.0, 1.0 / graph_scale) * 255.0).clamp(0.0, 255.0)


def bicubic_upsample(lr: Tensor, scale: int, rgb_range: float = 255.0) -> Tensor:
    """MATLAB-bicubic upsampling of an image in ``[0, rgb_range]``, computed on
    ``lr / rgb_range``, unrounded: ``imresize(lr / rgb_range, S) * rgb_range``.

    Shapes: ``[..., h, w] -> [..., S h, S w]``.
    """
    return imresize(lr / rgb_range, scale) * rgb_range
