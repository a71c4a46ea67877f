r"""The reconstruction losses ``loss.name`` picks, each a mean over every value of the batch.

With :math:`d = \hat y - y` (SR output minus HR crop, 0-255 values, float32):

* ``l1`` (default, the authors'): :math:`\operatorname{mean} |d|`;
* ``mse``: :math:`\operatorname{mean} d^2`;
* ``charbonnier``: :math:`\operatorname{mean} \sqrt{d^2 + \varepsilon^2}`, a smooth L1
  (``loss.eps`` = :math:`\varepsilon`, in grey levels; it is L1 where
  :math:`|d| \gg \varepsilon` and quadratic near 0).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "reconstruction_loss", "charbonnier_loss"]

LOSSES = ("l1", "mse", "charbonnier")


def charbonnier_loss(sr: Tensor, hr: Tensor, eps: float) -> Tensor:
    r""":math:`\operatorname{mean} \sqrt{(sr - hr)^2 + \varepsilon^2}` over every value."""
    return torch.sqrt((sr - hr).square() + eps * eps).mean()


def reconstruction_loss(name: str, eps: float = 1e-3) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss(sr, hr) -> scalar`` for ``name`` in :data:`LOSSES` (``eps``: Charbonnier's).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name == "l1":
        return F.l1_loss
    if name == "mse":
        return F.mse_loss
    if name == "charbonnier":
        return partial(charbonnier_loss, eps=eps)
    raise ValueError(f"loss.name must be one of {', '.join(LOSSES)}, got {name!r}")
