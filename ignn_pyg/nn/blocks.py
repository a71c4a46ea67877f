"""Small convolutional building blocks shared by IGNN and EDSR."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ignn_pyg.data.resize import bicubic_upsample

# DIV2K RGB mean used by EDSR-family networks, on the [0, 1] scale.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32, or as it is when float64: the precision statistics, softmaxes and
    the graph need whatever dtype an autocast region produced (a no-op in float32)."""
    return x if x.dtype == torch.float64 else x.float()


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 convolution with 'same' padding and bias."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class ResBlock(nn.Module):
    r"""EDSR residual block without batch norm.

    .. math:: y = x + \rho \, W_2 * \mathrm{ReLU}(W_1 * x + b_1) + \rho\, b_2

    with residual scale :math:`\rho` (``res_scale``).

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        # in-place ReLU and one scaled addition: no extra full-size temporaries
        return torch.add(x, self.conv2(torch.relu_(self.conv1(x))), alpha=self.res_scale)

    def extra_repr(self) -> str:
        return f"res_scale={self.res_scale}"


class MeanShift(nn.Conv2d):
    r"""Frozen 1x1 convolution adding (``sign=+1``) or subtracting (``sign=-1``) the
    dataset mean, :math:`y = x + \text{sign} \cdot r \mu` with ``r = rgb_range``.

    A parameter (not a buffer) with ``requires_grad=False``, as in released EDSR-family
    checkpoints.  Runs in float32 even under :func:`torch.autocast`.  Shapes: ``[B, 3, H, W] -> [B, 3, H, W]``.
    """

    def __init__(
        self, rgb_range: float = 255.0, sign: int = -1, rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        # float32 under autocast too: in bf16 the shifted image would round to 1/2-1 grey level
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(at_least_float32(x))


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling: ``log2(s)`` rounds of conv (C -> 4C) + PixelShuffle(2) for
    powers of two, one round of conv (C -> 9C) + PixelShuffle(3) for ``s = 3``.

    Shapes: ``[B, C, H, W] -> [B, C, s H, s W]``.
    """

    def __init__(self, scale: int, channels: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0 and scale >= 2:
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(channels, 4 * channels), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv3x3(channels, 9 * channels), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"upsampling scale must be a power of 2 or 3, got {scale}")
        super().__init__(*layers)


RESIDUALS = ("none", "bicubic")


def check_residual(residual: str) -> str:
    """Validate a ``residual`` option (see :func:`output_residual`)."""
    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {RESIDUALS}, got {residual!r}")
    return residual


def output_residual(residual: str, lr: Tensor, scale: int, rgb_range: float) -> Tensor | None:
    r"""What the network's output is added to.

    ``"none"`` (the authors'): nothing -- the tail's output plus the dataset mean is the
    image.  ``"bicubic"``: the MATLAB-bicubic upsampling of ``lr``, so the network
    learns a correction, :math:`y = \mathrm{bicubic}_S(x) + f(x)` (as VDSR does); small
    models trained briefly converge far faster.  Returns ``None`` for ``"none"``.

    Shapes: ``lr [B, 3, H, W] -> [B, 3, S H, S W]``.
    """
    if residual == "none":
        return None
    with torch.autocast(lr.device.type, enabled=False):  # float32 under autocast too
        return bicubic_upsample(at_least_float32(lr), scale, rgb_range)
