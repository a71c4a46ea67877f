"""Patch embeddings the graph is built on.

The authors match patches of a frozen VGG19 slice up to ``relu1_2`` (two 3x3 convs,
64 channels) applied to ``RGB / 255`` normalised by the ImageNet mean and std; with
3x3 patches that gives 576-dimensional descriptors.  Their training initialisation
overwrites those convs with scaled Kaiming noise, so released checkpoints carry
their own values: :class:`VGGEmbedding` never downloads anything, its weights always
come from a checkpoint (or stay random, as the authors' training effectively used).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGEmbedding(nn.Module):
    r"""VGG19 ``conv1_1 -> ReLU -> conv1_2 -> ReLU`` on ImageNet-normalised input.

    .. math::
        e(x) = \mathrm{ReLU}(W_2 * \mathrm{ReLU}(W_1 * \tfrac{x/255 - \mu}{\sigma} + b_1) + b_2)

    The normalisation is a frozen 1x1 convolution (``normalize``), as in the
    authors' checkpoints.  All parameters are frozen (``requires_grad=False``).

    Shapes: input ``[B, 3, H, W]`` in ``[0, 255]``; output ``[B, 64, H, W]``.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.normalize = nn.Conv2d(3, 3, 1)
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.reset_parameters()
        self.requires_grad_(False)

    def reset_parameters(self) -> None:
        """ImageNet normalisation; default PyTorch init for the convs."""
        std = torch.tensor(IMAGENET_STD)
        with torch.no_grad():
            self.normalize.weight.copy_(torch.diag(1.0 / std).view(3, 3, 1, 1))
            self.normalize.bias.copy_(-torch.tensor(IMAGENET_MEAN) / std)
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = self.normalize(x / 255.0)
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(channels={self.channels}, frozen VGG19 relu1_2 slice)"


EMBEDDINGS = ("vgg", "pixel")


def make_embedding(kind: str) -> nn.Module:
    """``"vgg"``: :class:`VGGEmbedding` (PyTorch's default random init); ``"pixel"``:
    :class:`PixelEmbedding`."""
    if kind not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {kind!r}")
    return VGGEmbedding() if kind == "vgg" else PixelEmbedding()


class PixelEmbedding(nn.Module):
    """Raw pixels as the embedding, ``x / 255`` (for studies of the graph itself).

    Shapes: input ``[B, 3, H, W]`` in ``[0, 255]``; output the same shape in ``[0, 1]``.
    """

    channels = 3

    def forward(self, x: Tensor) -> Tensor:
        return x / 255.0
