"""The evaluation loop: per-image PSNR/SSIM of a forward on a dataset, and the graph probe.

:func:`make_forward` turns a model into ``lr -> sr`` for an inference mode (whole image,
tiles, the authors' chop, x8 self-ensemble, a precision); :func:`evaluate` runs it on a
dataset with the metrics of :mod:`ignn_pyg.evaluation.metrics` (8-bit rounding of the
output, ``scale`` border pixels cropped, BT.601 Y channel), beside MATLAB bicubic;
:func:`probe_graph` measures graph reliance; :func:`summarize` averages the rows.
``ignn-pyg eval`` (:mod:`ignn_pyg.commands.eval`), training's validation, the demo and
the experiments all run these.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from ignn_pyg.data import bicubic_upsample, downsample_for_graph, tensor_to_image, write_image
from ignn_pyg.evaluation.metrics import psnr_ssim
from ignn_pyg.graph.controls import GRAPH_CONTROLS
from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.inference.forward import (
    ReferenceWindowState,
    forward_tiled,
    forward_whole,
    reference_chop,
    self_ensemble_x8,
)
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.precision import Precision

__all__ = ["make_forward", "evaluate", "probe_graph", "summarize", "metric_keys"]

CSV_FIELDS = ("name", "lr_height", "lr_width", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "seconds")


def make_forward(
    model: torch.nn.Module,
    tile: int | None = None,
    overlap: int = 16,
    chop: str | None = None,
    self_ensemble: bool = False,
    reference_window_state: bool = False,
    precision: Precision | None = None,
) -> Callable[[Tensor], Tensor]:
    """``lr [1, 3, h, w] -> sr [1, 3, S h, S w]`` for the chosen inference mode.

    Whole image by default; ``tile`` -> :func:`~ignn_pyg.inference.forward_tiled`;
    ``chop="reference"`` -> :func:`~ignn_pyg.inference.reference_chop`; ``self_ensemble``
    wraps either in :func:`~ignn_pyg.inference.self_ensemble_x8`.  For IGNN the
    downsampled image is computed once from the whole LR image (and flipped with it in
    the ensemble), as in the authors' test; with tiles every tile makes its own.
    ``reference_window_state`` wraps the model in one
    :class:`~ignn_pyg.inference.ReferenceWindowState` shared by all later calls.
    ``precision`` (:class:`~ignn_pyg.runtime.precision.Precision`; default float32, the exact
    path) sets the model's memory layout now and runs each call under its autocast; the
    output is float32 in the default layout.
    """
    if reference_window_state and not isinstance(model, IGNN):
        raise ValueError(f"--reference-window-state needs an IGNN model, got {type(model).__name__}")
    if chop not in (None, "reference"):
        raise ValueError(f"chop must be None or 'reference', got {chop!r}")
    runner = ReferenceWindowState(model) if reference_window_state else model

    if tile is not None:

        def single(lr: Tensor, lr_down: Tensor | None) -> Tensor:
            return forward_tiled(runner, lr, tile, overlap)
    elif chop == "reference":

        def single(lr: Tensor, lr_down: Tensor | None) -> Tensor:
            return reference_chop(runner, lr, lr_down)
    else:

        def single(lr: Tensor, lr_down: Tensor | None) -> Tensor:
            return forward_whole(runner, lr, lr_down)

    def lr_down_of(lr: Tensor) -> Tensor | None:
        if tile is not None or not isinstance(model, IGNN):
            return None
        return downsample_for_graph(lr, model.graph_scale)

    def run_once(lr: Tensor) -> Tensor:
        if self_ensemble:
            return self_ensemble_x8(single, lr, lr_down_of(lr))
        return single(lr, lr_down_of(lr))

    if precision is None:
        return run_once
    precision.prepare_model(model)
    return lambda lr: precision.run(run_once, lr)


def _timed(fn: Callable[[Tensor], Tensor], lr: Tensor) -> tuple[Tensor, float]:
    """``fn(lr)`` and its wall time in seconds (waiting for the GPU when there is one)."""
    if lr.is_cuda:
        torch.cuda.synchronize(lr.device)
    start = time.perf_counter()
    sr = fn(lr)
    if lr.is_cuda:
        torch.cuda.synchronize(lr.device)
    return sr, time.perf_counter() - start


def evaluate(
    dataset: Dataset,
    forward: Callable[[Tensor], Tensor] | None,
    scale: int,
    image_dir: str | Path | None,
    limit: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    baseline: list[dict[str, Any]] | None = None,
    skipped: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per-image metrics of ``forward`` (``None``: the bicubic baseline is the method).

    Each SR output is saved as ``image_dir/{name}.png`` (rounded by
    :func:`~ignn_pyg.data.tensor_to_image`, the rounding the metrics apply); ``None``
    saves none.
    ``baseline``: rows of an earlier call on the same images, whose bicubic scores are
    reused instead of recomputed (repeated validation during training).
    ``skipped``: when given, an image that fails (unreadable, sizes that disagree, too
    small) is left out and recorded there as ``{"index", "name", "error"}`` (the error in
    one line, naming the image), and a line on stderr says so; without it, the first
    failure raises.

    Returns:
        One dict per evaluated image: ``name``, ``lr_height``, ``lr_width``, ``psnr``,
        ``ssim``, ``bicubic_psnr``, ``bicubic_ssim`` and ``seconds`` (the SR forward alone).

    Raises:
        ValueError: naming the image, for unreadable files, HR/LR size mismatches,
            images too small for the model's tiling or for the metrics (unless
            ``skipped`` is given), an empty dataset, or two images with one name.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if count == 0:
        raise ValueError(f"the dataset is empty: {dataset!r}")
    names = getattr(dataset, "names", None)
    if names is not None:  # before any work, where the dataset tells its names
        _check_unique_names(names[:count])
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    # leave=False: the bar is erased when it closes, so an error is the one line left on stderr
    bar = tqdm(range(count), desc="eval", unit="img", disable=not progress, file=sys.stderr, leave=False)
    for index in bar:
        try:
            name, row, sr = _evaluate_one(dataset, index, forward, scale, device, baseline)
        except ValueError as err:
            if skipped is None:
                raise
            skipped.append({"index": index, "name": _item_name(dataset, index), "error": str(err)})
            tqdm.write(f"eval: skipped image {index}: {err}", file=sys.stderr)
            continue
        if name in seen:  # datasets that do not tell their names beforehand
            raise ValueError(f"two images are named {name!r}; their outputs would overwrite each other")
        seen.add(name)
        if image_dir is not None:
            write_image(Path(image_dir) / f"{name}.png", tensor_to_image(sr))
        rows.append(row)
    return rows


def _check_unique_names(names: list[str]) -> None:
    clash = next((name for name, count in Counter(names).items() if count > 1), None)
    if clash is not None:
        raise ValueError(f"two images are named {clash!r}; their outputs would overwrite each other")


def _item_name(dataset: Dataset, index: int) -> str | None:
    """The name of item ``index`` where the dataset tells it without reading the image."""
    names = getattr(dataset, "names", None)
    return None if names is None else names[index]


def _evaluate_one(
    dataset: Dataset,
    index: int,
    forward: Callable[[Tensor], Tensor] | None,
    scale: int,
    device: str | torch.device,
    baseline: list[dict[str, Any]] | None,
) -> tuple[str, dict[str, Any], Tensor]:
    """``(name, row, sr)`` of image ``index`` for :func:`evaluate`; ``ValueError`` names the image."""
    item = dataset[index]  # reading the files may fail: the dataset's message names them
    name, lr, hr = item["name"], item["lr"][None].to(device), item["hr"][None]
    earlier = None if baseline is None else baseline[index]
    if earlier is not None and earlier["name"] != name:
        raise ValueError(f"baseline row {index} is {earlier['name']!r}, not {name!r}")
    try:
        if forward is None:
            sr, seconds = _timed(lambda x: bicubic_upsample(x.double(), scale), lr)
        else:
            sr, seconds = _timed(forward, lr)
        sr_psnr, sr_ssim = psnr_ssim(sr, hr, scale)
        if forward is None:
            bicubic_psnr, bicubic_ssim = sr_psnr, sr_ssim
        elif earlier is not None:
            bicubic_psnr, bicubic_ssim = earlier["bicubic_psnr"], earlier["bicubic_ssim"]
        else:
            bicubic_psnr, bicubic_ssim = psnr_ssim(bicubic_upsample(lr.double(), scale), hr, scale)
    except ValueError as err:
        raise ValueError(f"image {name!r}{_source(dataset, index)}: {err}") from err
    row = {
        "name": name,
        "lr_height": lr.shape[-2],
        "lr_width": lr.shape[-1],
        "psnr": sr_psnr,
        "ssim": sr_ssim,
        "bicubic_psnr": bicubic_psnr,
        "bicubic_ssim": bicubic_ssim,
        "seconds": seconds,
    }
    return name, row, sr


def _source(dataset: Dataset, index: int) -> str:
    """`` (FILE)``: the file image ``index`` was read from, where the dataset tells it."""
    files = getattr(dataset, "files", None)
    return f" ({files[index]})" if files is not None else ""


def probe_graph(
    model: IGNN,
    dataset: Dataset,
    rows: list[dict[str, Any]],
    controls: tuple[str, ...] = GRAPH_CONTROLS,
    seed: int = 0,
    device: str | torch.device = "cpu",
    precision: Precision | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    r"""Graph reliance: how much of ``model``'s PSNR its own graph is responsible for.

    For every image and control ``c`` (:mod:`ignn_pyg.graph.controls`: ``"random"``,
    neighbours drawn uniformly inside each query's search window; ``"permuted"``, the
    neighbour lists shuffled between queries, edge features travelling with them)

    .. math:: \mathrm{reliance}_c = \mathrm{PSNR}(\text{own graph}) - \mathrm{PSNR}(\text{control } c)

    in dB, with the whole image in one forward (the protocol of :func:`evaluate`).  The
    controls of image ``i`` are drawn from ``torch.Generator().manual_seed(seed + i)``,
    so a probe is repeatable.

    Args:
        rows: :func:`evaluate`'s rows of the same model on the same ``dataset``, whole
            images (their ``psnr`` is the own-graph PSNR).

    Returns:
        The rows, each with ``psnr_{c}``, ``ssim_{c}`` and ``reliance_{c}`` added (new dicts).
    """
    if not isinstance(model, IGNN) or not model.uses_cross_scale_graph:
        got = type(model).__name__ if not isinstance(model, IGNN) else f"an IGNN with graph={model.config.graph!r}"
        raise ValueError(f"the graph probe needs an IGNN that aggregates a cross-scale graph, got {got}")
    unknown = [c for c in controls if c not in GRAPH_CONTROLS]
    if unknown:
        raise ValueError(f"unknown graph controls {unknown}; expected some of {GRAPH_CONTROLS}")
    if len(rows) > len(dataset):
        raise ValueError(f"{len(rows)} rows for a dataset of {len(dataset)} images")
    model.eval()
    probed = []
    for index in tqdm(range(len(rows)), desc="graph probe", unit="img", disable=not progress, file=sys.stderr):
        item, row = dataset[index], dict(rows[index])
        if item["name"] != row["name"]:
            raise ValueError(f"row {index} is {row['name']!r}, but image {index} is {item['name']!r}")
        lr, hr = item["lr"][None].to(device), item["hr"][None]
        lr_down = downsample_for_graph(lr, model.graph_scale)
        for control in controls:
            graph = model.build_graph(
                lr, lr_down, neighbors=control, generator=torch.Generator().manual_seed(seed + index)
            )

            def forward(x: Tensor, lr_down: Tensor = lr_down, graph: CrossScaleGraph = graph) -> Tensor:
                with torch.no_grad():  # this image's and this control's graph, bound now
                    return model(x, lr_down, graph=graph)

            sr = forward(lr) if precision is None else precision.run(forward, lr)
            row[f"psnr_{control}"], row[f"ssim_{control}"] = psnr_ssim(sr, hr, model.scale)
            row[f"reliance_{control}"] = row["psnr"] - row[f"psnr_{control}"]
        probed.append(row)
    return probed


def metric_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The per-image numbers of ``rows``: :data:`CSV_FIELDS` after the size, then any
    added by :func:`probe_graph`."""
    return [*CSV_FIELDS[3:], *(key for key in rows[0] if key not in CSV_FIELDS)]


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over the images of ``psnr``, ``ssim``, ``bicubic_psnr``, ``bicubic_ssim``,
    ``seconds`` and the graph probe's columns when present (rows as :func:`evaluate` or
    :func:`probe_graph` return them)."""
    return {key: math.fsum(row[key] for row in rows) / len(rows) for key in metric_keys(rows)}
