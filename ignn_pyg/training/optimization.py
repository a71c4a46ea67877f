r"""The optimiser, its learning-rate schedule and gradient clipping, as ``optim`` configures them.

* ``optim.name``: ``adam`` (default, the authors') or ``adamw`` (decoupled weight decay),
  with ``betas`` and ``weight_decay`` (0 by default);
* ``optim.schedule``: ``multistep`` (default: :math:`\eta_t = \eta_0 \gamma^{|\{m \le t\}|}`
  over ``milestones``) or ``cosine`` with ``warmup`` iterations of linear warm-up
  (torch's ``LinearLR`` from :math:`\eta_0 / W` to :math:`\eta_0`, then ``CosineAnnealingLR``,
  joined by ``SequentialLR``): with :math:`W` = ``warmup``, :math:`T` = ``iterations`` and
  :math:`\eta_\min` = ``min_lr``,

  .. math::
      \eta_t = \eta_0 \Big(\tfrac{1}{W} + \big(1 - \tfrac{1}{W}\big)\tfrac{t}{W}\Big) \ (t < W), \qquad
      \eta_t = \eta_\min + \tfrac{\eta_0 - \eta_\min}{2}\Big(1 + \cos\frac{\pi (t - W)}{T - W}\Big) \ (t \ge W);

* ``optim.clip_grad_norm``: when positive, the gradients' global 2-norm is scaled down to
  at most this before each step (0, the default: no clipping).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["OPTIMIZERS", "SCHEDULES", "build_optimizer", "build_scheduler", "clip_gradients"]

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("multistep", "cosine")


def build_optimizer(
    params: list[Tensor], name: str, lr: float, betas: Iterable[float], weight_decay: float
) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` or ``AdamW`` over ``params``."""
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(name)
    if kind is None:
        raise ValueError(f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return kind(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    iterations: int,
    milestones: list[int],
    gamma: float,
    warmup: int,
    min_lr: float,
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of the module docstring, stepped once per iteration."""
    if schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma)
    if schedule != "cosine":
        raise ValueError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=iterations - warmup, eta_min=min_lr)
    if warmup == 0:
        return cosine
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup])


def clip_gradients(params: list[Tensor], max_norm: float) -> Tensor:
    """Scale the gradients of ``params`` so that their global 2-norm is at most
    ``max_norm`` (``torch.nn.utils.clip_grad_norm_``); returns the norm before clipping.
    With a gradient scaler, call it on unscaled gradients (``scaler.unscale_``)."""
    return torch.nn.utils.clip_grad_norm_(params, max_norm)
