"""``ignn-pyg eval``: PSNR/SSIM of a model, and of bicubic upsampling, on a dataset; or the
results table of several models on every set of a benchmark folder at several scales.

::

    ignn-pyg eval --weights W|bicubic|graph --dataset DIR|photos --scale S
                  [--tile N [--overlap O] | --chop reference] [--self-ensemble]
                  [--reference-window-state] [--limit N] [--device D] --out DIR [--overwrite] [--strict]
    ignn-pyg eval --weights [NAME=]W|bicubic|graph ... --benchmark ROOT --scales S ... --out DIR [the same options]

Metrics follow :mod:`ignn_pyg.evaluation.metrics` (8-bit rounding of the output, ``scale`` border
pixels cropped, BT.601 Y channel).  Every image is also upsampled with MATLAB bicubic,
``imresize(lr / 255, S) * 255``, as the reference row.  ``--weights graph`` is the
training-free graph super-resolution of :mod:`ignn_pyg.models.internal_sr` (default parameters).
Written to ``--out``: ``results.json``, ``results.csv`` and the SR images
``images/{name}.png``, each whole or not at all; the table is printed.  An image that
fails is skipped in one line and listed under ``skipped`` in ``results.json``, and the
run then exits with status 2 (``--strict``: stop at the first).  See ``docs/evaluation.md``
for the protocol and how to reproduce the paper.

``--benchmark ROOT`` evaluates every ``--weights`` on every set under ``ROOT``
(:func:`~ignn_pyg.data.find_benchmark_sets`, each read as ``--dataset ROOT/SET`` reads it) at
every one of ``--scales`` the model is made for, through the same code as one set, and
writes ``table.md`` and ``table.csv`` (:mod:`ignn_pyg.evaluation.results_table`: a row per
model, a column per set and scale).  Each finished pair (model, set, scale) is kept as
``pairs/MODEL/SET/x{S}.json``, the contents ``results.json`` would have; a rerun skips the
pairs finished with the same settings, and refuses those finished with others unless
``--overwrite``.  No SR images are saved.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from torch import Tensor, nn
from torch.utils.data import Dataset, Subset
from tqdm import tqdm

from ignn_pyg.data import (
    HRFolderDataset,
    PairedFolderDataset,
    PhotoDataset,
    benchmark_dataset,
    div2k_dataset,
    find_benchmark_sets,
)
from ignn_pyg.data.atomic_files import atomic_output, write_text_atomic
from ignn_pyg.data.output_checks import check_new, check_writable
from ignn_pyg.data.photos import file_sha256
from ignn_pyg.evaluation.engine import CSV_FIELDS, evaluate, make_forward, metric_keys, probe_graph, summarize
from ignn_pyg.evaluation.results_table import (
    FAILED,
    NOT_MADE_FOR_SCALE,
    Cell,
    ResultsTable,
    TableColumn,
    changed_settings,
    pair_file,
    read_pair,
    write_pair,
)
from ignn_pyg.graph.controls import GRAPH_CONTROLS
from ignn_pyg.inference.checkpoints import load_weights, load_weights_at_scales
from ignn_pyg.inference.compilation import compile_dense_parts
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr
from ignn_pyg.runtime.devices import default_device, parse_device
from ignn_pyg.runtime.precision import PRECISIONS, Precision, resolve_precision

__all__ = ["add_arguments", "run", "load_eval_dataset", "format_table", "results_payload", "write_results"]

BICUBIC = "bicubic"
GRAPH = "graph"
PHOTOS = "photos"
HELD_OUT = "held_out"
NO_MODEL = (BICUBIC, GRAPH)  # --weights values that name a method, not a file
RESULT_FILES = ("results.json", "results.csv")
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # a table row's name, also a folder of pairs/


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` subcommand's options."""
    parser.add_argument(
        "--weights",
        required=True,
        nargs="+",
        metavar="W",
        help="an ignn-pyg checkpoint, the authors' IGNN_x{S}.pth, 'bicubic' "
        "(no model: the bicubic baseline only) or 'graph' (no model: "
        "training-free SR from the cross-scale graph, ignn_pyg.models.internal_sr); with "
        "--benchmark one or more, each a row of the table named by the file's stem, or NAME=W",
    )
    parser.add_argument(
        "--weights-raw",
        action="store_true",
        help="use the checkpoint's raw weights, not the EMA of them it holds when trained with ema.decay",
    )
    parser.add_argument(
        "--dataset",
        help="one set: 'photos' (the installed eval photos), 'held_out' (installed photos in "
        "neither split, never trained or tuned on) or a folder: benchmark layout "
        "(HR/ + LR_bicubic/X{S}/), DIV2K (DIV2K_valid_HR/ + "
        "DIV2K_valid_LR_bicubic/X{S}/), the authors' HR/x{S}/ + LR/x{S}/, "
        "HR/ + LR/, or HR images only (LR made with MATLAB bicubic)",
    )
    parser.add_argument(
        "--benchmark",
        metavar="ROOT",
        help="instead of --dataset, the results table: every --weights on every set under ROOT "
        "(ROOT/SET/HR/ with or without ROOT/SET/LR_bicubic/X{S}/, or ROOT/SET/ holding images) at "
        "every --scales, written to --out/table.md and table.csv; a rerun resumes where one stopped",
    )
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), help="SR factor S (with --dataset)")
    parser.add_argument(
        "--scales", type=int, nargs="+", choices=(2, 3, 4), metavar="S", help="SR factors, columns (with --benchmark)"
    )
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
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N images only (of each set)")
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
        "others, list the skipped ones in results.json, and exit with status 2; with --benchmark, "
        "the pair it belongs to is marked failed)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of an earlier run in --out (without it they are refused before any work; "
        "with --benchmark: recompute the finished pairs whose settings differ)",
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


def results_payload(rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """What ``results.json`` holds: ``settings``, the protocol, the per-image ``rows``
    (as :func:`~ignn_pyg.evaluation.engine.evaluate` returns them) and their means under ``mean``."""
    return {
        **settings,
        "protocol": {
            "channel": "Y (BT.601)",
            "crop_border": settings["scale"],
            "rounding": "8-bit, halves up",
            "ssim_window": "11x11 Gaussian, sigma 1.5",
        },
        "images": rows,
        "mean": summarize(rows),
    }


def write_results(rows: list[dict[str, Any]], out_dir: str | Path, settings: dict[str, Any]) -> None:
    """``results.json`` (:func:`results_payload`) and ``results.csv`` (one row per image,
    then a ``mean`` row) in ``out_dir``, each written whole or not at all
    (:mod:`ignn_pyg.data.atomic_files`)."""
    out_dir = Path(out_dir)
    payload = results_payload(rows, settings)
    write_text_atomic(out_dir / "results.json", json.dumps(payload, indent=2) + "\n")
    with atomic_output(out_dir / "results.csv") as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*CSV_FIELDS[:3], *metric_keys(rows)])
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow({"name": "mean", "lr_height": "", "lr_width": "", **payload["mean"]})


def _check_form(args: argparse.Namespace) -> None:
    """One set (``--dataset``, ``--scale``, one ``--weights``) or the table (``--benchmark``, ``--scales``)."""
    if args.benchmark is not None:
        if args.dataset is not None:
            raise ValueError("give --dataset (one set) or --benchmark (every set under a folder), not both")
        if args.scale is not None:
            raise ValueError("--benchmark takes --scales (one or more), not --scale")
        if args.scales is None:
            raise ValueError("--benchmark needs --scales, e.g. --scales 2 3 4")
        if args.probe_graph:
            raise ValueError("--probe-graph is for one set: give --dataset, not --benchmark")
        return
    if args.dataset is None:
        raise ValueError("give --dataset DIR|photos|held_out (one set) or --benchmark ROOT (the results table)")
    if args.scales is not None:
        raise ValueError("--scales goes with --benchmark; with --dataset give --scale")
    if args.scale is None:
        raise ValueError("--dataset needs --scale (2, 3 or 4)")
    if len(args.weights) > 1:
        raise ValueError(f"--dataset evaluates one --weights, got {len(args.weights)}; several go with --benchmark")


def _check_options(args: argparse.Namespace) -> None:
    _check_form(args)
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
    if all(weights in NO_MODEL for weights in args.weights) and (modes or args.probe_graph or args.compile):
        used = modes + ["--probe-graph"] * args.probe_graph + ["--compile"] * args.compile
        raise ValueError(f"{', '.join(used)} need a model; --weights {' '.join(args.weights)} has none")
    if args.probe_graph and modes:
        raise ValueError(f"--probe-graph compares whole-image forwards; drop {', '.join(modes)}")


def _mode(args: argparse.Namespace, weights: str) -> str:
    """How ``weights`` turns LR into SR images: bicubic, graph SR, or the network's inference mode."""
    if weights == BICUBIC:
        return "MATLAB bicubic upsampling"
    if weights == GRAPH:
        return "whole image, graph SR with default parameters"
    return _inference_mode(args)


def _inference_mode(args: argparse.Namespace) -> str:
    """The network's inference mode: whole image, tiles or the reference chop, and the extras."""
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


def _method_name(weights: str, model: nn.Module | None) -> str:
    """The method's name in tables: ``bicubic``, ``graph-SR`` or the network's class."""
    if weights == BICUBIC:
        return BICUBIC
    if weights == GRAPH:
        return "graph-SR"
    return type(model).__name__


def _prepare_model(model: nn.Module, args: argparse.Namespace, precision: Precision) -> None:
    """``model`` on ``--device``, in ``precision``'s memory layout, its dense parts compiled with ``--compile``."""
    model.to(args.device)
    precision.prepare_model(model)
    if args.compile and compile_dense_parts(model, inference=True):
        print("compiled: the network's dense parts (torch.compile)")


def _forward(
    args: argparse.Namespace, weights: str, model: nn.Module | None, precision: Precision | None, scale: int
) -> Callable[[Tensor], Tensor] | None:
    """``lr [1, 3, h, w] -> sr [1, 3, S h, S w]`` of what ``weights`` names (``None``: bicubic,
    which :func:`~ignn_pyg.evaluation.engine.evaluate` computes itself).  Made anew for each
    dataset, so that ``--reference-window-state`` starts afresh on each, as in one process per set."""
    if weights == BICUBIC:
        return None
    if weights == GRAPH:
        config = InternalSRConfig(scale=scale)
        return lambda lr: internal_sr(lr, config)[0]
    return make_forward(
        model, args.tile, args.overlap, args.chop, args.self_ensemble, args.reference_window_state, precision
    )


def _settings(
    args: argparse.Namespace, weights: str, method: str, dataset: str, description: str, scale: int
) -> dict[str, Any]:
    """What a results file records of how its numbers were made."""
    return {
        "method": method,
        "weights": weights,
        "weights_raw": args.weights_raw,
        "dataset": dataset,
        "dataset_description": description,
        "scale": scale,
        "mode": _mode(args, weights),
        "tile": args.tile,
        "overlap": args.overlap if args.tile else None,
        "chop": args.chop,
        "self_ensemble": args.self_ensemble,
        "reference_window_state": args.reference_window_state,
        "device": str(args.device),
        "precision": args.precision,
        "limit": args.limit,
    }


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the results; 0 on success."""
    _check_options(args)
    return _run_benchmark(args) if args.benchmark is not None else _run_one_set(args)


def _run_one_set(args: argparse.Namespace) -> int:
    """``--dataset``: one ``--weights`` on one set at ``--scale``."""
    (weights,) = args.weights
    out_dir = Path(args.out)
    check_new([out_dir / name for name in RESULT_FILES], args.overwrite)
    check_writable(out_dir)
    dataset, description = load_eval_dataset(args.dataset, args.scale)
    model = precision = None
    if weights not in NO_MODEL:
        model = load_weights(weights, args.scale, raw=args.weights_raw)
        precision = resolve_precision(args.precision, args.device)
        print(f"precision: {precision}")
        _prepare_model(model, args, precision)
    method = _method_name(weights, model)
    forward = _forward(args, weights, model, precision, args.scale)
    mode = _mode(args, weights)
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
        **_settings(args, weights, method, args.dataset, description, args.scale),
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


class TableRow(NamedTuple):
    """One model of the benchmark table."""

    name: str  # the row's name, also its folder in pairs/
    weights: str  # the --weights value: a file, 'bicubic' or 'graph'
    sha256: str | None  # of the weights file; None for bicubic and graph
    models: dict[int, nn.Module | None]  # the network at each scale it is made for (None: bicubic, graph)


class SetSource(NamedTuple):
    """One column's images: the set's folder (absolute), its dataset, and how the dataset was read."""

    folder: str
    dataset: Dataset
    description: str


def _split_name(spec: str) -> tuple[str, str]:
    """``(name, weights)`` of a ``--weights`` value ``[NAME=]W``: ``W`` whole when it is
    'bicubic', 'graph', a file or has no '=', else split at the first '=' (the name
    defaults to the file's stem).

    Raises:
        ValueError: a name :data:`MODEL_NAME` does not match.
    """
    if spec in NO_MODEL or Path(spec).is_file() or "=" not in spec:
        name, weights = Path(spec).stem, spec
    else:
        name, weights = spec.split("=", 1)
    if not MODEL_NAME.fullmatch(name):
        raise ValueError(
            f"cannot name a row {name!r} (from --weights {spec}): use letters, digits and . _ + -, "
            "starting with a letter or digit; name it with NAME=W"
        )
    return name, weights


def _table_rows(specs: Sequence[str], scales: Sequence[int], raw: bool) -> list[TableRow]:
    """The rows ``--weights`` names, each weights file checked and read now, before any work.

    Raises:
        FileNotFoundError: a weights file does not exist.
        ValueError: a bad or repeated name, an unreadable file (:func:`load_weights_at_scales`).
    """
    named = [_split_name(spec) for spec in specs]
    names = [name for name, _ in named]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        clashing = ", ".join(spec for spec, name in zip(specs, names) if name == repeated)
        raise ValueError(f"two --weights make the row {repeated!r} ({clashing}); name them NAME=W")
    missing = next((weights for _, weights in named if weights not in NO_MODEL and not Path(weights).is_file()), None)
    if missing is not None:
        raise FileNotFoundError(f"weights file not found: {missing}")
    return [
        TableRow(name, weights, None, dict.fromkeys(scales))
        if weights in NO_MODEL
        else TableRow(name, weights, file_sha256(weights), load_weights_at_scales(weights, scales, raw=raw))
        for name, weights in named
    ]


def _pair_settings(args: argparse.Namespace, row: TableRow, column: TableColumn, source: SetSource) -> dict[str, Any]:
    """What a pair's file records, and what a finished pair must hold to be skipped: the
    settings of ``results.json`` (the weights file as an absolute path), the row and column,
    the weights file's SHA-256 and the names of the images evaluated."""
    weights = row.weights if row.weights in NO_MODEL else str(Path(row.weights).resolve())
    method = _method_name(row.weights, row.models[column.scale])
    return {
        "model": row.name,
        "set": column.set_name,
        **_settings(args, weights, method, source.folder, source.description, column.scale),
        "weights_sha256": row.sha256,
        "image_names": source.dataset.names[: args.limit],
    }


def _set_sources(set_folders: Sequence[Path], scales: Sequence[int]) -> dict[TableColumn, SetSource]:
    """Every column (sets outer, scales inner) and its images, each set read as ``--dataset``
    reads a folder (:func:`load_eval_dataset`): a layout problem is refused now, before any work."""
    sources = {}
    for folder in set_folders:
        for scale in scales:
            dataset, description = load_eval_dataset(str(folder.resolve()), scale)
            sources[TableColumn(folder.name, scale)] = SetSource(str(folder.resolve()), dataset, description)
    return sources


def _plan_pairs(
    args: argparse.Namespace, rows: Sequence[TableRow], sources: dict[TableColumn, SetSource], out_dir: Path
) -> tuple[dict[tuple[str, TableColumn], Cell], list[tuple[TableRow, TableColumn, dict[str, Any], Path]]]:
    """The cells known before any work, and the pairs to evaluate.

    Known: :data:`NOT_MADE_FOR_SCALE` where a model is made for another scale, and the
    means of each pair whose file holds the same settings (finished earlier: skipped, in one
    line each).  To evaluate: ``(row, column, settings, pair file)`` of the others.

    Raises:
        ValueError: finished pairs hold other settings, without ``--overwrite``.
    """
    cells: dict[tuple[str, TableColumn], Cell] = {}
    pending, other_settings = [], {}
    for row in rows:
        for column, source in sources.items():
            if column.scale not in row.models:
                cells[row.name, column] = NOT_MADE_FOR_SCALE
                continue
            settings = _pair_settings(args, row, column, source)
            path = pair_file(out_dir, row.name, column)
            stored = read_pair(path)
            changed = None if stored is None else changed_settings(stored, settings)
            if changed == []:
                cells[row.name, column] = (stored["mean"]["psnr"], stored["mean"]["ssim"])
                print(f"finished earlier, skipped: {row.name} on {column.label} ({path})")
                continue
            if changed:
                other_settings[path] = changed
            pending.append((row, column, settings, path))
    if other_settings and not args.overwrite:
        keys = ", ".join(dict.fromkeys(key for changed in other_settings.values() for key in changed))
        raise ValueError(
            f"{len(other_settings)} finished pair(s) in {out_dir / 'pairs'} hold other settings ({keys}; "
            f"e.g. {next(iter(other_settings))}); give --overwrite to recompute them, or another --out"
        )
    return cells, pending


def _table_notes(
    args: argparse.Namespace,
    sources: dict[TableColumn, SetSource],
    cells: dict[tuple[str, TableColumn], Cell],
    precision: Precision | None,
) -> list[str]:
    """The lines under the table: how the networks ran, where each column's images come
    from, and what its marks mean."""
    notes = [] if precision is None else [f"networks: {_inference_mode(args)}, precision {precision}"]
    if args.limit is not None:
        notes.append(f"the first {args.limit} images of each set (--limit)")
    notes += [
        f"{column.label}: {source.description}, {len(source.dataset)} images" for column, source in sources.items()
    ]
    if NOT_MADE_FOR_SCALE in cells.values():
        notes.append(f"{NOT_MADE_FOR_SCALE}: the model is made for another scale")
    if FAILED in cells.values():
        notes.append(f"{FAILED}: the evaluation stopped at an image (named on stderr)")
    return notes


def _run_benchmark(args: argparse.Namespace) -> int:
    """``--benchmark``: every row of ``--weights`` on every set under ROOT at every ``--scales``.

    Everything is read and checked first (sets, weights, the layout of every set at every
    scale, finished pairs holding other settings); then each pair not finished is evaluated,
    under a progress bar, and kept in its pair file; the table is written from all pairs.
    """
    set_folders = find_benchmark_sets(args.benchmark)
    scales = list(dict.fromkeys(args.scales))
    out_dir = Path(args.out)
    check_writable(out_dir)
    rows = _table_rows(args.weights, scales, args.weights_raw)
    sources = _set_sources(set_folders, scales)
    cells, pending = _plan_pairs(args, rows, sources, out_dir)
    models = [model for row in rows for model in row.models.values() if model is not None]
    precision = None
    if models:
        precision = resolve_precision(args.precision, args.device)
        print(f"precision: {precision}")
        for model in models:
            _prepare_model(model, args, precision)

    total = sum(cell != NOT_MADE_FOR_SCALE for cell in cells.values()) + len(pending)
    with tqdm(
        total=total, initial=total - len(pending), desc="benchmark", unit="pair", file=sys.stderr, leave=False
    ) as bar:
        baselines: dict[TableColumn, list[dict[str, Any]]] = {}  # a column's bicubic scores, once
        for row, column, settings, path in pending:
            bar.set_postfix_str(f"{row.name} on {column.label}")
            forward = _forward(args, row.weights, row.models[column.scale], precision, column.scale)
            try:
                images = evaluate(
                    sources[column].dataset,
                    forward,
                    column.scale,
                    None,
                    args.limit,
                    args.device,
                    baseline=baselines.get(column),
                )
            except ValueError as err:
                if args.strict:
                    raise ValueError(f"{row.name} on {column.label}: {err}") from err
                tqdm.write(f"ignn-pyg eval: {row.name} on {column.label} failed: {err}", file=sys.stderr)
                cells[row.name, column] = FAILED
            else:
                baselines.setdefault(column, images)
                payload = results_payload(images, settings)
                write_pair(path, payload)
                cells[row.name, column] = (payload["mean"]["psnr"], payload["mean"]["ssim"])
            bar.update()

    title = (
        "PSNR (dB) / SSIM on the Y channel (BT.601), the SR output rounded to 8 bits, "
        "as many border pixels cropped as the scale"
    )
    table = ResultsTable(
        [row.name for row in rows], list(sources), cells, title, _table_notes(args, sources, cells, precision)
    )
    table.write(out_dir)
    print(table.to_markdown())
    print(f"wrote {out_dir / 'table.md'}, {out_dir / 'table.csv'} and each pair's results in {out_dir / 'pairs'}")
    failed = sum(cell == FAILED for cell in cells.values())
    if failed:
        raise ValueError(
            f"{failed} of {total} pair(s) failed (each named above, '{FAILED}' in the table); "
            "the table holds the others"
        )
    return 0
