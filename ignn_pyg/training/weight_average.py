r"""The exponential moving average (EMA) of the weights that ``ema.decay`` turns on.

After every optimiser step :math:`t` (1-based), with decay :math:`\beta` and raw weights
:math:`\theta_t`,

.. math::
    \bar\theta_1 = \theta_1, \qquad
    \bar\theta_t = \beta\, \bar\theta_{t-1} + (1 - \beta)\, \theta_t \quad (t > 1),

(torch's :class:`~torch.optim.swa_utils.AveragedModel` with
:func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`, which starts the average at the first
step's weights rather than at the initial ones).  Every parameter is averaged, frozen
ones included (their average stays bit-equal to them: the update is a ``lerp`` of equal
values).  Checkpoints hold :math:`\bar\theta` as ``ema_state_dict`` beside the raw
``state_dict`` and the number of updates as ``ema_updates``, so a resumed run continues
the average exactly; validation, ``best.pt`` and, by default, ``eval``/``upscale`` use it.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = ["build_weight_average", "weight_average_state", "load_weight_average_state"]


def build_weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """An EMA of ``model``'s parameters with ``decay`` in (0, 1), or None for ``decay`` 0 (off).
    Build it after the model has its device and dtype: it starts as a deep copy."""
    if decay == 0:
        return None
    if not 0 < decay < 1:
        raise ValueError(f"the EMA decay must be in (0, 1) or 0 (off), got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)


def weight_average_state(average: AveragedModel) -> dict[str, Any]:
    """The checkpoint entries of ``average``: ``ema_state_dict`` (the averaged model's own
    keys, so it loads into the bare model) and ``ema_updates``."""
    return {"ema_state_dict": average.module.state_dict(), "ema_updates": int(average.n_averaged)}


def load_weight_average_state(average: AveragedModel, payload: dict[str, Any]) -> None:
    """Restore ``average`` from a checkpoint ``payload`` written by a run with the EMA on.

    Raises:
        ValueError: the checkpoint holds no EMA (the run was started with ``ema.decay: 0``).
    """
    if "ema_state_dict" not in payload:
        raise ValueError("the checkpoint holds no EMA weights (its run had ema.decay 0); it cannot be resumed with one")
    average.module.load_state_dict(payload["ema_state_dict"])
    average.n_averaged.fill_(payload["ema_updates"])
