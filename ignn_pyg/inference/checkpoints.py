"""Checkpoints: ours (config beside weights, written atomically) and the authors'.

The authors' released ``IGNN_x{2,3,4}.pth`` hold ``{"net_state_dict": ...}`` saved
from ``torch.nn.DataParallel`` (keys prefixed ``module.``), with their module names;
the frozen VGG slice appears twice, under ``vggnet.`` and ``graph.embedcnn.``.
:func:`reference_key_map` gives, for every parameter of our :class:`~ignn_pyg.models.IGNN`,
the authors' name for it, so their weights load into our structure unchanged.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ignn_pyg.data.atomic_files import atomic_output
from ignn_pyg.models import EDSR, IGNN

FORMAT = "ignn_pyg.checkpoint/1"
ARCHITECTURES: dict[str, type[nn.Module]] = {"ignn": IGNN, "edsr": EDSR}
_AUTHORS_EMBEDDING_COPY = ("vggnet.", "graph.embedcnn.")
#: how a file written by ``torch.save`` starts: a zip archive, or (before PyTorch 1.6, as
#: the authors' released weights may be) the legacy format's pickled magic number
_CHECKPOINT_SIGNATURES = (b"PK\x03\x04", b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")


def _halve(m: re.Match) -> str:
    return str(int(m.group(1)) // 2)


def _rules(model: IGNN) -> list[tuple[str, Callable[[re.Match], str] | str]]:
    """(our-name regex, authors' name) pairs; the first match wins."""
    last_tail = len(model.tail) - 1
    last_body = len(model.body_post) - 1
    return [
        (r"input_shift\.(.*)", r"sub_mean.\1"),
        (r"output_shift\.(.*)", r"add_mean.\1"),
        (r"embedding\.normalize\.(.*)", r"vggnet.sub_mean.\1"),
        (r"embedding\.conv1\.(.*)", r"vggnet.model.0.\1"),
        (r"embedding\.conv2\.(.*)", r"vggnet.model.2.\1"),
        (r"head\.(.*)", r"head.0.\1"),
        (r"body_pre\.(\d+)\.conv1\.(.*)", r"body1.\1.body.0.\2"),
        (r"body_pre\.(\d+)\.conv2\.(.*)", r"body1.\1.body.2.\2"),
        (r"body_post\.(\d+)\.conv1\.(.*)", r"body2.\1.body.0.\2"),
        (r"body_post\.(\d+)\.conv2\.(.*)", r"body2.\1.body.2.\2"),
        (rf"body_post\.({last_body})\.(.*)", r"body2.\1.0.\2"),
        (r"aggregation\.downsample\.(\d+)\.(.*)", lambda m: f"gcn.knn_downsample.{_halve(m)}.0.{m.group(2)}"),
        (r"aggregation\.(lr|hr)_weight_net\.0\.(.*)", r"gcn.weightnet_\1.0.0.\2"),
        (r"aggregation\.(lr|hr)_weight_net\.1\.conv1\.(.*)", r"gcn.weightnet_\1.1.body.0.\2"),
        (r"aggregation\.(lr|hr)_weight_net\.1\.conv2\.(.*)", r"gcn.weightnet_\1.1.body.2.\2"),
        (r"aggregation\.(lr|hr)_weight_net\.2\.(.*)", r"gcn.weightnet_\1.2.0.\2"),
        (r"fuse_lr\.(\d+)\.(.*)", lambda m: f"fuse_b.{_halve(m)}.0.{m.group(2)}"),
        (r"fuse_hr\.(\d+)\.(.*)", lambda m: f"fuse_up.{_halve(m)}.0.{m.group(2)}"),
        (r"upsample\.(.*)", r"upsample.\1"),
        (rf"tail\.({last_tail})\.(weight|bias)", r"tail.\1.0.\2"),
        (r"tail\.(\d+)\.(\d+)\.(.*)", r"tail.\1.\2.\3"),
    ]


def reference_key_map(model: IGNN) -> dict[str, str]:
    """Our state-dict key -> the authors' key, for every entry of ``model.state_dict()``."""
    rules = [(re.compile(pattern), repl) for pattern, repl in _rules(model)]
    mapping = {}
    for key in model.state_dict():
        for pattern, repl in rules:
            match = pattern.fullmatch(key)
            if match:
                mapping[key] = repl(match) if callable(repl) else match.expand(repl)
                break
        else:
            raise KeyError(f"no authors' name for parameter {key!r}")
    return mapping


def to_reference_state_dict(model: IGNN) -> dict[str, Tensor]:
    """``model``'s weights under the authors' names (VGG slice under both prefixes)."""
    state = model.state_dict()
    out = {theirs: state[ours] for ours, theirs in reference_key_map(model).items()}
    for key in [k for k in out if k.startswith(_AUTHORS_EMBEDDING_COPY[0])]:
        out[_AUTHORS_EMBEDDING_COPY[1] + key[len(_AUTHORS_EMBEDDING_COPY[0]) :]] = out[key]
    return out


def _read(path: str | os.PathLike) -> Any:
    """What a checkpoint file holds, loaded with ``torch.load(weights_only=True)``: tensors
    and plain containers only, so that no file can run code while it is read.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: in one line naming the file, when it is empty, was not written by
            ``torch.save`` (neither of its :data:`_CHECKPOINT_SIGNATURES`), is truncated or
            corrupt, or holds other objects (refused before any of them is built).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {os.fspath(path)!r} does not exist")
    where = f"checkpoint {os.fspath(path)!r}"
    with open(path, "rb") as handle:
        head = handle.read(max(len(signature) for signature in _CHECKPOINT_SIGNATURES))
    if not head:
        raise ValueError(f"cannot read {where}: the file is empty; expected a file written by torch.save")
    if not head.startswith(_CHECKPOINT_SIGNATURES):
        raise ValueError(
            f"cannot read {where}: not a PyTorch checkpoint (it starts with {head[:8]!r}); expected "
            "a file written by torch.save (a zip archive, or the legacy pickle format)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # PyTorch's message advises weights_only=False, which would run the file's code
        refused = re.search(r"GLOBAL (\S+)", str(err))
        if refused:
            raise ValueError(
                f"refused {where}: it holds {refused.group(1)}, which is not a tensor or a plain "
                "container and would run as code if loaded; expected weights only"
            ) from None
        raise ValueError(
            f"cannot read {where}: the file is corrupt (its pickle data has instructions a weights-only load refuses)"
        ) from None
    except Exception as err:  # corrupt or truncated archives raise several exception types
        first_line = next(iter(str(err).strip().splitlines()), "")
        reason = f"{type(err).__name__}: {first_line.split('. ')[0]}" if first_line else type(err).__name__
        raise ValueError(f"cannot read {where}: the file is truncated or corrupt ({reason})") from err


def _mismatch_report(model: nn.Module, state: Mapping[str, Tensor], names: Mapping[str, str]) -> str:
    """Missing, unexpected and wrongly shaped entries, in the checkpoint's own names."""
    expected = model.state_dict()
    theirs_to_ours = {v: k for k, v in names.items()}
    missing = [names[k] for k in expected if names[k] not in state]
    unexpected = [k for k in state if k not in theirs_to_ours]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[theirs_to_ours[k]].shape)}"
        for k in state
        if k in theirs_to_ours and tuple(state[k].shape) != tuple(expected[theirs_to_ours[k]].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            parts.append(f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}")
    return "; ".join(parts)


def load_reference_checkpoint(
    path_or_state_dict: str | os.PathLike | Mapping[str, Any], scale: int, **arch: Any
) -> IGNN:
    """Load the authors' ``IGNN_x{scale}.pth`` into an :class:`IGNN` in eval mode.

    Args:
        path_or_state_dict: the ``.pth`` file, its loaded dict, or a bare state dict
            (with or without the ``module.`` prefix).
        scale: 2, 3 or 4.
        **arch: further :class:`IGNN` arguments (defaults are the authors': 256
            features, 32 blocks, k = 5, window 30, ``fusion="reference"``).

    Raises:
        ValueError: the file is unreadable, or its weights do not fit the architecture
            (the message lists missing and unexpected keys and mismatched shapes).
    """
    raw = path_or_state_dict if isinstance(path_or_state_dict, Mapping) else _read(path_or_state_dict)
    if not isinstance(raw, Mapping):
        raise ValueError("reference checkpoint is not a dict")
    state = raw.get("net_state_dict", raw)
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    copy_prefix, vgg_prefix = _AUTHORS_EMBEDDING_COPY[1], _AUTHORS_EMBEDDING_COPY[0]
    for key in [k for k in state if k.startswith(copy_prefix)]:
        twin = vgg_prefix + key[len(copy_prefix) :]
        if twin in state and not torch.equal(state[twin], state.pop(key)):
            raise ValueError(f"checkpoint holds different weights under {key!r} and {twin!r}")
    model = IGNN(scale, **arch)
    names = reference_key_map(model)
    report = _mismatch_report(model, state, names)
    if report:
        raise ValueError(f"checkpoint does not fit IGNN(scale={scale}, {arch}): {report}")
    model.load_state_dict({ours: state[theirs] for ours, theirs in names.items()})
    return model.eval()


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> None:
    """Write ``model`` (its config and weights) plus ``extra`` entries whole or not at all
    (:func:`~ignn_pyg.data.atomic_files.atomic_output`: a temporary file in the same
    folder, fsync, then a rename over ``path``)."""
    payload = {"format": FORMAT, "config": model.config_dict(), "state_dict": model.state_dict(), **extra}
    with atomic_output(path) as partial:
        torch.save(payload, partial)


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """The model a checkpoint's ``config`` describes (``{"arch": "ignn"|"edsr", ...}``)."""
    config = dict(config)
    arch = config.pop("arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**config)


def checkpoint_weights(payload: Mapping[str, Any], raw: bool = False) -> dict[str, Tensor]:
    """The weights a checkpoint of ours serves: its EMA (``ema_state_dict``, written by a
    run with ``ema.decay``) when it holds one and ``raw`` is false, else ``state_dict``."""
    if not raw and "ema_state_dict" in payload:
        return payload["ema_state_dict"]
    return payload["state_dict"]


def _model_from_payload(payload: Mapping[str, Any], path: str | os.PathLike, raw: bool) -> nn.Module:
    model = build_model(payload["config"])
    weights = checkpoint_weights(payload, raw)
    identity = {k: k for k in model.state_dict()}
    report = _mismatch_report(model, weights, identity)
    if report:
        raise ValueError(f"{os.fspath(path)!r} does not fit its own config: {report}")
    model.load_state_dict(weights)
    return model.eval()


def _is_ours(payload: Any) -> bool:
    return isinstance(payload, Mapping) and payload.get("format") == FORMAT


def load_checkpoint(path: str | os.PathLike, raw: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model written by :func:`save_checkpoint`; returns ``(model in eval mode,
    payload)``.  The model holds the EMA weights where the file has them, unless ``raw``
    (:func:`checkpoint_weights`)."""
    payload = _read(path)
    if not _is_ours(payload):
        raise ValueError(
            f"{os.fspath(path)!r} is not an ignn-pyg checkpoint "
            "(for the authors' IGNN_x*.pth use load_reference_checkpoint)"
        )
    return _model_from_payload(payload, path, raw), dict(payload)


def load_weights(path: str | os.PathLike, scale: int | None = None, raw: bool = False, **arch: Any) -> nn.Module:
    """Either kind of checkpoint: ours (rebuilt from its config; its EMA weights where it
    has them, unless ``raw``) or the authors' (needs ``scale``).  The model is returned in
    eval mode."""
    payload = _read(path)
    if _is_ours(payload):
        model = _model_from_payload(payload, path, raw)
        if scale is not None and model.scale != scale:
            raise ValueError(f"{os.fspath(path)!r} holds a x{model.scale} model, not x{scale}")
        return model
    if scale is None:
        raise ValueError(f"{os.fspath(path)!r} looks like an authors' checkpoint; give its scale")
    return load_reference_checkpoint(payload, scale, **arch)


def load_weights_at_scales(
    path: str | os.PathLike, scales: Sequence[int], raw: bool = False, **arch: Any
) -> dict[int, nn.Module]:
    """The model a checkpoint file gives at each of ``scales`` it is made for, read once.

    Ours records its scale: ``{model.scale: model}`` when that is one of ``scales``, else
    ``{}``.  The authors' files do not: their weights are loaded into an :class:`IGNN` of
    each scale (``**arch`` as in :func:`load_reference_checkpoint`), and the scales whose
    network they fit are kept (an ``IGNN_x2.pth`` fits x2 only: the upsampler differs).
    Models are in eval mode, on the CPU.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is unreadable (:func:`load_weights`), or an authors' file that
            fits the network of none of ``scales`` (the message gives the first mismatch).
    """
    payload = _read(path)
    if _is_ours(payload):
        model = _model_from_payload(payload, path, raw)
        return {model.scale: model} if model.scale in scales else {}
    models, mismatches = {}, []
    for scale in scales:
        try:
            models[scale] = load_reference_checkpoint(payload, scale, **arch)
        except ValueError as err:
            mismatches.append(f"x{scale}: {err}")
    if not models:
        raise ValueError(f"{os.fspath(path)!r} fits no IGNN at x{', x'.join(map(str, scales))} ({mismatches[0]})")
    return models
