"""``ignn-pyg eval``: PSNR/SSIM of a model, and of bicubic upsampling, on a dataset.

::

    ignn-pyg eval --weights W|bicubic|graph --dataset DIR|photos --scale S
                  [--tile N [--overlap O] | --chop reference] [--self-ensemble]
                  [--reference-window-state] [--limit N] [--device D] --out DIR [--overwrite] [--strict]

Metrics follow :mod:`ignn_pyg.evaluation.metrics` (8-bit rounding of the output, ``scale`` border
pixels cropped, BT.601 Y channel).  Every image is also upsampled with MATLAB bicubic,
``imresize(lr / 255, S) * 255``, as the reference row.  ``--weights graph`` is the
training-free graph super-resolution of :mod:`ignn_pyg.models.internal_sr` (default parameters).
Written to ``--out``: ``results.json``, ``results.csv`` and the SR images
``images/{name}.png``, each whole or not at all; the table is printed.  An image that
fails is skipped in one line and listed under ``skipped`` in ``results.json``, and the
run then exits with status 2 (``--strict``: stop at the first).  See ``docs/evaluation.md``
for the protocol and how to reproduce the paper.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset, Subset

from ignn_pyg.data import HRFolderDataset, PairedFolderDataset, PhotoDataset, benchmark_dataset, div2k_dataset
from ignn_pyg.data.atomic_files import atomic_output, write_text_atomic
from ignn_pyg.data.output_checks import check_new, check_writable
from ignn_pyg.evaluation.engine import CSV_FIELDS, evaluate, make_forward, metric_keys, probe_graph, summarize
from ignn_pyg.graph.controls import GRAPH_CONTROLS
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.inference.compilation import compile_dense_parts
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr
from ignn_pyg.runtime.devices import default_device, parse_device
from ignn_pyg.runtime.precision import PRECISIONS, resolve_precision

__all__ = ["add_arguments", "run", "load_eval_dataset", "format_table", "write_results"]

BICUBIC = "bicubic"
GRAPH = "graph"
PHOTOS = "photos"
HELD_OUT = "held_out"
RESULT_FILES = ("results.json", "results.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` subcommand's options."""
    parser.add_argument(
        "--weights",
        required=True,
        help="an ignn-pyg checkpoint, the authors' IGNN_x{S}.pth, 'bicubic' "
        "(no model: the bicubic baseline only) or 'graph' (no model: "
        "training-free SR from the cross-scale graph, ignn_pyg.models.internal_sr)",
    )
    parser.add_argument(
        "--weights-raw",
        action="store_true",
        help="use the checkpoint's raw weights, not the EMA of them it holds when trained with ema.decay",
    )
    parser.add_argument(
        "--dataset",
        required=True,
        help="'photos' (the installed eval photos), 'held_out' (installed photos in "
        "neither split, never trained or tuned on) or a folder: benchmark layout "
        "(HR/ + LR_bicubic/X{S}/), DIV2K (DIV2K_valid_HR/ + "
        "DIV2K_valid_LR_bicubic/X{S}/), the authors' HR/x{S}/ + LR/x{S}/, "
        "HR/ + LR/, or HR images only (LR made with MATLAB bicubic)",
    )
    parser.add_argument("--scale", type=int, required=True, choices=(2, 3, 4), help="SR factor S")
    tiling = parser.add_mutually_exclusive_group()
    tiling.add_argument(
        "--tile",
        type=int,
        metavar="N",
        help="run overlapping N x N LR tiles (bounded memory; exact for EDSR, approximate for IGNN)",
    )
    tiling.add_argument("--chop", choices=("reference",), help="the authors' recursive four-quadrant test split")
    parser.add_argument(
        "--overlap",
        type=int,
        default=16,
        metavar="O",
        help="LR pixels discarded on each inner tile side with --tile (default 16)",
    )
    parser.add_argument(
        "--self-ensemble", action="store_true", help="average over the 8 flips/transposes (x8 self-ensemble)"
    )
    parser.add_argument(
        "--reference-window-state",
        action="store_true",
        help="reproduce the authors' switch to global search for the rest of the "
        "run once a window covers a whole patch grid (IGNN only)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default: the exact path the published numbers use), bf16 / fp16 "
        "(autocast; the graph stays float32), or auto (bf16 where the device "
        "computes it natively, else fp32 channels-last); see docs/model.md",
    )
    parser.add_argument(
        "--probe-graph",
        action="store_true",
        help="also report graph reliance (IGNN, whole images): PSNR with the model's own "
        "graph minus PSNR with random neighbours inside each window, and with the "
        "neighbour lists permuted between queries",
    )
    parser.add_argument(
        "--probe-seed", type=int, default=0, metavar="N", help="seed of the graph probe's controls (default 0)"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N images only")
    parser.add_argument(
        "--device", default=default_device(), help="torch device (default: cuda when available, else cpu)"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the network's dense parts first (needs a C++ compiler; see docs/model.md)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first image that fails (default: skip it with one line, evaluate the "
        "others, list the skipped ones in results.json, and exit with status 2)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of an earlier run in --out (without it they are refused before any work)",
    )


def load_eval_dataset(spec: str, scale: int) -> tuple[Dataset, str]:
    """The dataset ``--dataset`` names, and a one-line description of what was found.

    ``"photos"`` is :class:`~ignn_pyg.data.PhotoDataset` ``("eval", scale)``, ``"held_out"``
    its ``("held_out", scale)`` (photos in neither split); a folder is
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
    if spec == HELD_OUT:
        return PhotoDataset("held_out", scale), "installed photos, held-out split (LR: MATLAB bicubic)"
    root = Path(spec)
    if not root.exists():
        raise FileNotFoundError(f"dataset folder not found: {root} (or use --dataset {PHOTOS} or {HELD_OUT})")
    if not root.is_dir():
        raise ValueError(f"--dataset must be a folder, '{PHOTOS}' or '{HELD_OUT}', got the file {root}")
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


def format_table(rows: list[dict[str, Any]], method: str, title: str) -> str:
    """The printed table: one row per image, the mean of ``method`` and the bicubic row."""
    width = max(len(f"mean ({method})"), len("mean (bicubic)"), *(len(row["name"]) for row in rows))
    header = f"{'image':<{width}}  {'LR size':>9}  {'PSNR':>7}  {'SSIM':>6}  {'s/image':>8}"
    lines = [title, header, "-" * len(header)]
    for row in rows:
        size = f"{row['lr_height']}x{row['lr_width']}"
        lines.append(
            f"{row['name']:<{width}}  {size:>9}  {row['psnr']:7.3f}  {row['ssim']:6.4f}  {row['seconds']:8.3f}"
        )
    mean = summarize(rows)
    lines.append("-" * len(header))
    lines.append(
        f"{f'mean ({method})':<{width}}  {'':>9}  {mean['psnr']:7.3f}  {mean['ssim']:6.4f}  {mean['seconds']:8.3f}"
    )
    if method != BICUBIC:
        lines.append(f"{'mean (bicubic)':<{width}}  {'':>9}  {mean['bicubic_psnr']:7.3f}  {mean['bicubic_ssim']:6.4f}")
    for control in (key[len("reliance_") :] for key in mean if key.startswith("reliance_")):
        per_image = ", ".join(f"{row['name']} {row[f'reliance_{control}']:+.3f}" for row in rows)
        lines.append(
            f"graph reliance vs {control} neighbours: mean {mean[f'reliance_{control}']:+.3f} dB "
            f"(PSNR {mean[f'psnr_{control}']:.3f}); per image: {per_image}"
        )
    return "\n".join(lines)


def write_results(rows: list[dict[str, Any]], out_dir: str | Path, settings: dict[str, Any]) -> None:
    """``results.json`` (settings, protocol, per-image rows, means) and ``results.csv``
    (one row per image, then a ``mean`` row) in ``out_dir``, each written whole or not at
    all (:mod:`ignn_pyg.data.atomic_files`)."""
    out_dir = Path(out_dir)
    mean = summarize(rows)
    payload = {
        **settings,
        "protocol": {
            "channel": "Y (BT.601)",
            "crop_border": settings["scale"],
            "rounding": "8-bit, halves up",
            "ssim_window": "11x11 Gaussian, sigma 1.5",
        },
        "images": rows,
        "mean": mean,
    }
    write_text_atomic(out_dir / "results.json", json.dumps(payload, indent=2) + "\n")
    with atomic_output(out_dir / "results.csv") as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*CSV_FIELDS[:3], *metric_keys(rows)])
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
    modes = [
        flag
        for flag, on in (
            ("--tile", args.tile is not None),
            ("--chop", args.chop is not None),
            ("--self-ensemble", args.self_ensemble),
            ("--reference-window-state", args.reference_window_state),
        )
        if on
    ]
    if args.weights in (BICUBIC, GRAPH) and (modes or args.probe_graph or args.compile):
        used = modes + ["--probe-graph"] * args.probe_graph + ["--compile"] * args.compile
        raise ValueError(f"{', '.join(used)} need a model; --weights {args.weights} has none")
    if args.probe_graph and modes:
        raise ValueError(f"--probe-graph compares whole-image forwards; drop {', '.join(modes)}")


def _mode(args: argparse.Namespace) -> str:
    if args.weights == BICUBIC:
        return "MATLAB bicubic upsampling"
    if args.weights == GRAPH:
        return "whole image, graph SR with default parameters"
    mode = (
        f"tiles {args.tile} (overlap {args.overlap})" if args.tile else "reference chop" if args.chop else "whole image"
    )
    extras = [
        name
        for name, on in (
            ("x8 self-ensemble", args.self_ensemble),
            ("reference window state", args.reference_window_state),
        )
        if on
    ]
    return ", ".join([mode, *extras])


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the results; 0 on success."""
    _check_options(args)
    out_dir = Path(args.out)
    check_new([out_dir / name for name in RESULT_FILES], args.overwrite)
    check_writable(out_dir)
    dataset, description = load_eval_dataset(args.dataset, args.scale)
    if args.weights == BICUBIC:
        method, forward = BICUBIC, None
    elif args.weights == GRAPH:
        config = InternalSRConfig(scale=args.scale)
        method, forward = "graph-SR", lambda lr: internal_sr(lr, config)[0]
    else:
        model = load_weights(args.weights, args.scale, raw=args.weights_raw)
        model.to(args.device)
        method = type(model).__name__
        precision = resolve_precision(args.precision, args.device)
        print(f"precision: {precision}")
        forward = make_forward(
            model, args.tile, args.overlap, args.chop, args.self_ensemble, args.reference_window_state, precision
        )
        if args.compile and compile_dense_parts(model, inference=True):
            print("compiled: the network's dense parts (torch.compile)")
    mode = _mode(args)
    skipped: list[dict[str, Any]] | None = None if args.strict else []
    rows = evaluate(dataset, forward, args.scale, out_dir / "images", args.limit, args.device, skipped=skipped)
    skipped = skipped or []
    if not rows:
        raise ValueError(f"every image failed ({len(skipped)}, each named above); nothing to evaluate")
    if args.probe_graph:
        left_out = {entry["index"] for entry in skipped}
        evaluated = Subset(dataset, [i for i in range(len(rows) + len(skipped)) if i not in left_out])
        rows = probe_graph(model, evaluated, rows, seed=args.probe_seed, device=args.device, precision=precision)
    title = f"{method} x{args.scale} on {description}: {len(rows)} images, {mode}"
    settings = {
        "method": method,
        "weights": args.weights,
        "weights_raw": args.weights_raw,
        "dataset": args.dataset,
        "dataset_description": description,
        "scale": args.scale,
        "mode": mode,
        "tile": args.tile,
        "overlap": args.overlap if args.tile else None,
        "chop": args.chop,
        "self_ensemble": args.self_ensemble,
        "reference_window_state": args.reference_window_state,
        "device": str(args.device),
        "precision": args.precision,
        "probe_graph": {"controls": list(GRAPH_CONTROLS), "seed": args.probe_seed} if args.probe_graph else None,
        "skipped": skipped,
    }
    write_results(rows, out_dir, settings)
    print(format_table(rows, method, title))
    print(f"wrote {out_dir / 'results.json'}, {out_dir / 'results.csv'} and {len(rows)} images in {out_dir / 'images'}")
    if skipped:
        raise ValueError(
            f"{len(skipped)} of {len(rows) + len(skipped)} image(s) skipped (each named above and "
            f"listed under 'skipped' in {out_dir / 'results.json'}); the table holds the others"
        )
    return 0
