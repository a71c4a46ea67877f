"""Initialisation: the authors' scaled Kaiming-normal weights with zero biases, or a warm
start from the weights of a checkpoint of the same model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ignn_pyg.graph.embedding import VGGEmbedding
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.nn.blocks import MeanShift

__all__ = ["scaled_kaiming_init_", "warm_start_"]


def scaled_kaiming_init_(
    model: nn.Module, scale: float = 0.1, include_embedding: bool = True, unscaled: Sequence[str] = ()
) -> list[str]:
    r"""Re-initialise every ``Conv2d`` and ``Linear`` of ``model`` in place:

    .. math:: W \sim \mathcal{N}\!\left(0,\ \left(\rho \sqrt{2 / \mathrm{fan\_in}}\right)^2\right), \qquad b = 0

    with ``rho = scale`` (Kaiming normal, fan-in mode, ReLU gain, then scaled; small
    residual branches make deep EDSR-style networks trainable at the start).

    Left alone: the frozen mean shifts (:class:`~ignn_pyg.nn.blocks.MeanShift`) and the
    embedding's ImageNet normalisation.  The embedding's two VGG convs are frozen but,
    as in the authors' training, re-initialised too unless ``include_embedding`` is
    False (then they keep their values, e.g. loaded VGG19 weights).  Modules named in
    ``unscaled`` (and everything inside them) get ``rho = 1``, plain Kaiming.

    Raises:
        ValueError: a name in ``unscaled`` is no module of ``model`` holding a
            re-initialised layer.

    Returns:
        The names of the re-initialised modules.
    """
    skipped: set[int] = set()
    for module in model.modules():
        if isinstance(module, MeanShift):
            skipped.add(id(module))
        elif isinstance(module, VGGEmbedding):
            skipped.add(id(module.normalize))
            if not include_embedding:
                skipped.update({id(module.conv1), id(module.conv2)})

    def inside(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    touched = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, (nn.Conv2d, nn.Linear)) or id(module) in skipped:
                continue
            nn.init.kaiming_normal_(module.weight, a=0.0, mode="fan_in", nonlinearity="relu")
            if not any(inside(name, prefix) for prefix in unscaled):
                module.weight.mul_(scale)
            if module.bias is not None:
                module.bias.zero_()
            touched.append(name)
    unknown = [prefix for prefix in unscaled if not any(inside(name, prefix) for name in touched)]
    if unknown:
        raise ValueError(
            f"init_unscaled names {unknown}, which hold no layer of this model to initialise; "
            f"top-level modules: {', '.join(n for n, _ in model.named_children())}"
        )
    return touched


#: the one setting a warm start may change: the authors' aggregation into the
#: detail-augmented one, whose ``features`` is the authors' layer
_AUTHORS_INTO_DETAIL = {"aggregation": ("ignn", "ignn_detail")}


def warm_start_(model: nn.Module, path: str | Path) -> int:
    """Copy the weights of the checkpoint ``path`` (ours, :func:`~ignn_pyg.inference.checkpoints.save_checkpoint`;
    its EMA weights where it holds them) into ``model`` in place, frozen ones included.
    The checkpoint must hold the same model: the same class and ``config_dict()`` (scale,
    width, depth, graph settings); anything else is a ``ValueError`` naming the settings
    that differ.  One exception: an IGNN with the authors' aggregation (``ignn``) starts an
    otherwise equal IGNN with ``ignn_detail``: every weight goes to its place, the authors'
    layer into the detail-augmented layer's ``features``, and the gated detail transfer
    and its lift keep their initialisation.

    Returns:
        The iteration the checkpoint was written at (0 if it does not say).
    """
    source, payload = load_checkpoint(path)
    if type(source) is not type(model):
        raise ValueError(f"model.init_from {path} holds {type(source).__name__} weights, not {type(model).__name__}")
    theirs, ours = source.config_dict(), model.config_dict()
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    into_detail = bool(differ) and all(_AUTHORS_INTO_DETAIL.get(k) == (theirs.get(k), ours.get(k)) for k in differ)
    if differ and not into_detail:
        raise ValueError(
            f"model.init_from {path} is another model: "
            + ", ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in differ)
        )
    if into_detail:  # the authors' layer becomes the detail layer's features
        renamed = {
            key.replace("aggregation.", "aggregation.features.", 1) if key.startswith("aggregation.") else key: value
            for key, value in source.state_dict().items()
        }
        missing, unexpected = model.load_state_dict(renamed, strict=False)
        left = [key for key in missing if not key.startswith(("aggregation.detail.", "aggregation.lift."))]
        if left or unexpected:
            raise ValueError(f"model.init_from {path}: weights that do not fit: {sorted(left + unexpected)}")
    else:
        model.load_state_dict(source.state_dict())
    return int(payload.get("iteration") or 0)
