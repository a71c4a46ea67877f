"""``ignn-pyg eval``: PSNR/SSIM of a model, and of bicubic upsampling, on a dataset.

::

    ignn-pyg eval --weights W|bicubic|graph --dataset DIR|photos --scale S
                  [--tile N [--overlap O] | --chop reference] [--self-ensemble]
                  [--reference-window-state] [--limit N] [--device D] --out DIR

Metrics follow :mod:`ignn_pyg.evaluation.metrics` (8-bit rounding of the output, ``scale`` border
pixels cropped, BT.601 Y channel).  Every image is also upsampled with MATLAB bicubic,
``imresize(lr / 255, S) * 255``, as the reference row.  ``--weights graph`` is the
training-free graph super-resolution of :mod:`ignn_pyg.models.internal_sr` (default parameters).
Written to ``--out``: ``results.json``, ``results.csv`` and the SR images
``images/{name}.png``; the table is printed.  See ``docs/evaluation.md`` for the protocol and how to reproduce the paper.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.data import (HRFolderDataset, PairedFolderDataset, PhotoDataset, benchmark_dataset,
                           bicubic_upsample, div2k_dataset, downsample_for_graph, tensor_to_image, write_image)
from ignn_pyg.runtime.devices import default_device, parse_device
from ignn_pyg.inference.forward import (ReferenceWindowState, forward_tiled, forward_whole, reference_chop,
                                        self_ensemble_x8)
from ignn_pyg.graph.controls import GRAPH_CONTROLS
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr
from ignn_pyg.evaluation.metrics import psnr_ssim
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.precision import PRECISIONS, Precision, resolve_precision

__all__ = ["add_arguments", "run", "load_eval_dataset", "make_forward", "evaluate", "probe_graph",
           "summarize", "format_table", "write_results"]

BICUBIC = "bicubic"
GRAPH = "graph"
PHOTOS = "photos"
CSV_FIELDS = ("name", "lr_height", "lr_width", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "seconds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` subcommand's options."""
    parser.add_argument("--weights", required=True,
                        help="an ignn-pyg checkpoint, the authors' IGNN_x{S}.pth, 'bicubic' "
                             "(no model: the bicubic baseline only) or 'graph' (no model: "
                             "training-free SR from the cross-scale graph, ignn_pyg.models.internal_sr)")
    parser.add_argument("--dataset", required=True,
                        help="'photos' (the installed eval photos) or a folder: benchmark layout "
                             "(HR/ + LR_bicubic/X{S}/), DIV2K (DIV2K_valid_HR/ + "
                             "DIV2K_valid_LR_bicubic/X{S}/), the authors' HR/x{S}/ + LR/x{S}/, "
                             "HR/ + LR/, or HR images only (LR made with MATLAB bicubic)")
    parser.add_argument("--scale", type=int, required=True, choices=(2, 3, 4), help="SR factor S")
    tiling = parser.add_mutually_exclusive_group()
    tiling.add_argument("--tile", type=int, metavar="N",
                        help="run overlapping N x N LR tiles (bounded memory; exact for EDSR, "
                             "approximate for IGNN)")
    tiling.add_argument("--chop", choices=("reference",),
                        help="the authors' recursive four-quadrant test split")
    parser.add_argument("--overlap", type=int, default=16, metavar="O",
                        help="LR pixels discarded on each inner tile side with --tile (default 16)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="average over the 8 flips/transposes (x8 self-ensemble)")
    parser.add_argument("--reference-window-state", action="store_true",
                        help="reproduce the authors' switch to global search for the rest of the "
                             "run once a window covers a whole patch grid (IGNN only)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default: the exact path the published numbers use), bf16 / fp16 "
                             "(autocast; the graph stays float32), or auto (bf16 where the device "
                             "computes it natively, else fp32 channels-last); see docs/model.md")
    parser.add_argument("--probe-graph", action="store_true",
                        help="also report graph reliance (IGNN, whole images): PSNR with the model's own "
                             "graph minus PSNR with random neighbours inside each window, and with the "
                             "neighbour lists permuted between queries")
    parser.add_argument("--probe-seed", type=int, default=0, metavar="N",
                        help="seed of the graph probe's controls (default 0)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N images only")
    parser.add_argument("--device", default=default_device(),
                        help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--out", required=True, help="output folder")


def load_eval_dataset(spec: str, scale: int) -> tuple[Dataset, str]:
    """The dataset ``--dataset`` names, and a one-line description of what was found.

    ``"photos"`` is :class:`~ignn_pyg.data.PhotoDataset` ``("eval", scale)``; a folder is
    read, in this order of preference, as a benchmark set, DIV2K (validation split), the
    authors' ``HR/x{S}`` + ``LR/x{S}``, ``HR/`` + ``LR/``, and otherwise as HR images only
    (in ``HR/`` or ``DIV2K_valid_HR/`` when present, else the folder itself), whose LR
    images are made with :func:`~ignn_pyg.data.bicubic_downsample` (the same pixels as
    MATLAB's LR files).

    Items: ``{"name", "lr": [3, h, w], "hr": [3, S h, S w]}`` float32 in [0, 255].

    Raises:
        FileNotFoundError: the folder does not exist, or the photos are not installed.
        ValueError: not a folder, no images, an HR image without LR partner.
    """
    if spec == PHOTOS:
        return PhotoDataset("eval", scale), "installed photos, eval split (LR: MATLAB bicubic)"
    root = Path(spec)
    if not root.exists():
        raise FileNotFoundError(f"dataset folder not found: {root} (or use --dataset {PHOTOS})")
    if not root.is_dir():
        raise ValueError(f"--dataset must be a folder or '{PHOTOS}', got the file {root}")
    if (root / "HR").is_dir() and (root / "LR_bicubic" / f"X{scale}").is_dir():
        return benchmark_dataset(root, scale), f"benchmark layout {root}/HR + LR_bicubic/X{scale}"
    if (root / "DIV2K_valid_HR").is_dir() and (root / "DIV2K_valid_LR_bicubic" / f"X{scale}").is_dir():
        return div2k_dataset(root, "valid", scale), f"DIV2K validation split in {root}"
    authors_layout = (root / "HR" / f"x{scale}", root / "LR" / f"x{scale}")
    for hr_dir, lr_dir in (authors_layout, (root / "HR", root / "LR")):
        if hr_dir.is_dir() and lr_dir.is_dir():
            return PairedFolderDataset(hr_dir, lr_dir, scale), f"paired folders {hr_dir} + {lr_dir}"
    hr_dir = next((d for d in (root / "HR", root / "DIV2K_valid_HR") if d.is_dir()), root)
    return HRFolderDataset(hr_dir, scale), f"HR images in {hr_dir} (LR: MATLAB bicubic)"


def make_forward(model: torch.nn.Module, tile: int | None = None, overlap: int = 16,
                 chop: str | None = None, self_ensemble: bool = False,
                 reference_window_state: bool = False,
                 precision: Precision | None = None) -> Callable[[Tensor], Tensor]:
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


def evaluate(dataset: Dataset, forward: Callable[[Tensor], Tensor] | None, scale: int,
             image_dir: str | Path, limit: int | None = None, device: str | torch.device = "cpu",
             progress: bool = True, baseline: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per-image metrics of ``forward`` (``None``: the bicubic baseline is the method).

    Each SR output is saved as ``image_dir/{name}.png`` (rounded by
    :func:`~ignn_pyg.data.tensor_to_image`, the rounding the metrics apply).
    ``baseline``: rows of an earlier call on the same images, whose bicubic scores are
    reused instead of recomputed (repeated validation during training).

    Returns:
        One dict per image: ``name``, ``lr_height``, ``lr_width``, ``psnr``, ``ssim``,
        ``bicubic_psnr``, ``bicubic_ssim`` and ``seconds`` (the SR forward alone).

    Raises:
        ValueError: naming the image, for unreadable files, HR/LR size mismatches,
            images too small for the model's tiling or for the metrics, an empty dataset,
            or two images with one name.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if count == 0:
        raise ValueError(f"the dataset is empty: {dataset!r}")
    image_dir = Path(image_dir)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    # leave=False: the bar is erased when it closes, so an error is the one line left on stderr
    for index in tqdm(range(count), desc="eval", unit="img", disable=not progress, file=sys.stderr, leave=False):
        item = dataset[index]
        name, lr, hr = item["name"], item["lr"][None].to(device), item["hr"][None]
        if name in seen:
            raise ValueError(f"two images are named {name!r}; their outputs would overwrite each other")
        seen.add(name)
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
            row = {"name": name, "lr_height": lr.shape[-2], "lr_width": lr.shape[-1],
                   "psnr": sr_psnr, "ssim": sr_ssim, "bicubic_psnr": bicubic_psnr, "bicubic_ssim": bicubic_ssim,
                   "seconds": seconds}
        except ValueError as err:
            raise ValueError(f"image {name!r}: {err}") from err
        write_image(image_dir / f"{name}.png", tensor_to_image(sr))
        rows.append(row)
    return rows


def probe_graph(model: IGNN, dataset: Dataset, rows: list[dict[str, Any]],
                controls: tuple[str, ...] = GRAPH_CONTROLS, seed: int = 0, device: str | torch.device = "cpu",
                precision: Precision | None = None, progress: bool = True) -> list[dict[str, Any]]:
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
            graph = model.build_graph(lr, lr_down, neighbors=control,
                                      generator=torch.Generator().manual_seed(seed + index))

            def forward(x: Tensor) -> Tensor:
                with torch.no_grad():
                    return model(x, lr_down, graph=graph)
            sr = forward(lr) if precision is None else precision.run(forward, lr)
            row[f"psnr_{control}"], row[f"ssim_{control}"] = psnr_ssim(sr, hr, model.scale)
            row[f"reliance_{control}"] = row["psnr"] - row[f"psnr_{control}"]
        probed.append(row)
    return probed


def _metric_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The per-image numbers of ``rows``: :data:`CSV_FIELDS` after the size, then any
    added by :func:`probe_graph`."""
    return [*CSV_FIELDS[3:], *(key for key in rows[0] if key not in CSV_FIELDS)]


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over the images of ``psnr``, ``ssim``, ``bicubic_psnr``, ``bicubic_ssim``,
    ``seconds`` and the graph probe's columns when present (rows as :func:`evaluate` or
    :func:`probe_graph` return them)."""
    return {key: math.fsum(row[key] for row in rows) / len(rows) for key in _metric_keys(rows)}


def format_table(rows: list[dict[str, Any]], method: str, title: str) -> str:
    """The printed table: one row per image, the mean of ``method`` and the bicubic row."""
    width = max(len(f"mean ({method})"), len("mean (bicubic)"), *(len(row["name"]) for row in rows))
    header = f"{'image':<{width}}  {'LR size':>9}  {'PSNR':>7}  {'SSIM':>6}  {'s/image':>8}"
    lines = [title, header, "-" * len(header)]
    for row in rows:
        size = f"{row['lr_height']}x{row['lr_width']}"
        lines.append(f"{row['name']:<{width}}  {size:>9}  {row['psnr']:7.3f}  {row['ssim']:6.4f}  "
                     f"{row['seconds']:8.3f}")
    mean = summarize(rows)
    lines.append("-" * len(header))
    lines.append(f"{f'mean ({method})':<{width}}  {'':>9}  {mean['psnr']:7.3f}  {mean['ssim']:6.4f}  "
                 f"{mean['seconds']:8.3f}")
    if method != BICUBIC:
        lines.append(f"{'mean (bicubic)':<{width}}  {'':>9}  {mean['bicubic_psnr']:7.3f}  "
                     f"{mean['bicubic_ssim']:6.4f}")
    for control in (key[len("reliance_"):] for key in mean if key.startswith("reliance_")):
        per_image = ", ".join(f"{row['name']} {row[f'reliance_{control}']:+.3f}" for row in rows)
        lines.append(f"graph reliance vs {control} neighbours: mean {mean[f'reliance_{control}']:+.3f} dB "
                     f"(PSNR {mean[f'psnr_{control}']:.3f}); per image: {per_image}")
    return "\n".join(lines)


def write_results(rows: list[dict[str, Any]], out_dir: str | Path, settings: dict[str, Any]) -> None:
    """``results.json`` (settings, protocol, per-image rows, means) and ``results.csv``
    (one row per image, then a ``mean`` row) in ``out_dir``."""
    out_dir = Path(out_dir)
    mean = summarize(rows)
    payload = {**settings,
               "protocol": {"channel": "Y (BT.601)", "crop_border": settings["scale"],
                            "rounding": "8-bit, halves up", "ssim_window": "11x11 Gaussian, sigma 1.5"},
               "images": rows, "mean": mean}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    with open(out_dir / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*CSV_FIELDS[:3], *_metric_keys(rows)])
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow({"name": "mean", "lr_height": "", "lr_width": "", **mean})


def _check_options(args: argparse.Namespace) -> None:
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive integer, got {args.limit}")
    if args.overlap < 0:
        raise ValueError(f"--overlap must be >= 0, got {args.overlap}")
    if args.tile is not None and args.tile <= 2 * args.overlap:
        raise ValueError(f"--tile ({args.tile}) must exceed twice --overlap ({args.overlap})")
    args.device = parse_device(args.device)
    modes = [flag for flag, on in (("--tile", args.tile is not None), ("--chop", args.chop is not None),
                                   ("--self-ensemble", args.self_ensemble),
                                   ("--reference-window-state", args.reference_window_state)) if on]
    if args.weights in (BICUBIC, GRAPH) and (modes or args.probe_graph):
        used = modes + ["--probe-graph"] * args.probe_graph
        raise ValueError(f"{', '.join(used)} need a model; --weights {args.weights} has none")
    if args.probe_graph and modes:
        raise ValueError(f"--probe-graph compares whole-image forwards; drop {', '.join(modes)}")


def _mode(args: argparse.Namespace) -> str:
    if args.weights == BICUBIC:
        return "MATLAB bicubic upsampling"
    if args.weights == GRAPH:
        return "whole image, graph SR with default parameters"
    mode = f"tiles {args.tile} (overlap {args.overlap})" if args.tile else \
        "reference chop" if args.chop else "whole image"
    extras = [name for name, on in (("x8 self-ensemble", args.self_ensemble),
                                    ("reference window state", args.reference_window_state)) if on]
    return ", ".join([mode, *extras])


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the results; 0 on success."""
    _check_options(args)
    dataset, description = load_eval_dataset(args.dataset, args.scale)
    if args.weights == BICUBIC:
        method, forward = BICUBIC, None
    elif args.weights == GRAPH:
        config = InternalSRConfig(scale=args.scale)
        method, forward = "graph-SR", lambda lr: internal_sr(lr, config)[0]
    else:
        model = load_weights(args.weights, args.scale)
        model.to(args.device)
        method = type(model).__name__
        precision = resolve_precision(args.precision, args.device)
        print(f"precision: {precision}")
        forward = make_forward(model, args.tile, args.overlap, args.chop, args.self_ensemble,
                               args.reference_window_state, precision)
    out_dir, mode = Path(args.out), _mode(args)
    rows = evaluate(dataset, forward, args.scale, out_dir / "images", args.limit, args.device)
    if args.probe_graph:
        rows = probe_graph(model, dataset, rows, seed=args.probe_seed, device=args.device, precision=precision)
    title = f"{method} x{args.scale} on {description}: {len(rows)} images, {mode}"
    settings = {"method": method, "weights": args.weights, "dataset": args.dataset,
                "dataset_description": description, "scale": args.scale, "mode": mode,
                "tile": args.tile, "overlap": args.overlap if args.tile else None, "chop": args.chop,
                "self_ensemble": args.self_ensemble, "reference_window_state": args.reference_window_state,
                "device": str(args.device), "precision": args.precision,
                "probe_graph": {"controls": list(GRAPH_CONTROLS), "seed": args.probe_seed} if args.probe_graph else None}
    write_results(rows, out_dir, settings)
    print(format_table(rows, method, title))
    print(f"wrote {out_dir / 'results.json'}, {out_dir / 'results.csv'} and {len(rows)} images "
          f"in {out_dir / 'images'}")
    return 0
