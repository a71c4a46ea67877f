"""``ignn-pyg upscale``: super-resolve an image, or every image in a folder.

The bundled compact IGNN of the requested scale is used unless ``--model`` picks another
bundled model (``ignn_detail``, ``edsr``) or ``--weights`` names a checkpoint (ours, or
the authors' ``IGNN_x*.pth``).  Images larger than ``--max-pixels``
LR pixels are processed in overlapping tiles so memory stays bounded.  ``--method graph``
uses no model: training-free super-resolution from the image's own cross-scale graph
(:mod:`ignn_pyg.models.internal_sr`, default parameters, whole image, with a progress bar).  An
alpha channel is upscaled with MATLAB bicubic and written back (RGBA) when the output
format holds one.

Nothing is lost: every output is planned and checked before any work
(:func:`plan_outputs`): an input is never written over, an existing output only with
``--overwrite``, inputs that share a stem get names that keep them apart, and each file
is written whole or not at all (:mod:`ignn_pyg.data.atomic_files`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ignn_pyg.data import (
    ALPHA_SUFFIXES,
    bicubic_upsample,
    channels_to_uint8,
    datasets,
    image_size,
    image_to_tensor,
    read_image_and_alpha,
    tensor_to_image,
    write_image,
)
from ignn_pyg.data.output_checks import check_new, check_not_inputs, check_unique, check_writable
from ignn_pyg.inference.bundled import MODELS, bundled_weights, default_model
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.inference.compilation import compile_dense_parts
from ignn_pyg.inference.forward import forward_tiled, forward_whole
from ignn_pyg.inference.memory_estimate import (
    available_bytes,
    format_bytes,
    parse_bytes,
    resident_bytes,
    tiling_for_budget,
    upscale_peak_bytes,
)
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr
from ignn_pyg.runtime.devices import default_device, parse_device
from ignn_pyg.runtime.precision import PRECISIONS, Precision, resolve_precision

IMAGE_SUFFIXES = datasets.IMAGE_SUFFIXES | {".gif"}  # also reads a first GIF frame
#: output extensions (the format follows the extension; the folder default is .png)
WRITE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
METHODS = ("network", "graph")
DEFAULT_TILE = 256  # LR pixels: IGNN x2 in float32 peaks at about 1 GB a tile (docs/model.md)


def upscale_image(
    model: nn.Module, image, max_pixels: int, tile: int, overlap: int, precision: Precision | None = None
):
    """Super-resolve one ``[H, W, 3]`` uint8 image; tiles above ``max_pixels`` LR pixels.
    ``precision``: see :mod:`ignn_pyg.runtime.precision` (the model must already be in its layout,
    :meth:`~ignn_pyg.runtime.precision.Precision.prepare_model`); default float32.  Runs on the
    model's device.

    Returns the ``[sH, sW, 3]`` uint8 result (rounded, clipped).
    """
    lr = image_to_tensor(image).to(next(model.parameters()).device)  # both forwards run without gradient
    if lr.shape[-2] * lr.shape[-1] > max_pixels:

        def forward(x):
            return forward_tiled(model, x, tile=tile, overlap=overlap, progress=True)
    else:

        def forward(x):
            return forward_whole(model, x)

    return tensor_to_image(forward(lr) if precision is None else precision.run(forward, lr))


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-bicubic upsampling of an alpha channel, ``[H, W]`` (``uint8``, or float in
    [0, 255]) ``-> [S H, S W]`` ``uint8`` (rounded, clipped)."""
    upsampled = bicubic_upsample(torch.from_numpy(alpha.astype(np.float64))[None], scale)
    return channels_to_uint8(upsampled)[..., 0]  # by blocks: no float64 copies beside the upsampled one


def _with_alpha(result: np.ndarray, alpha: np.ndarray | None, scale: int, source: Path, target: Path) -> np.ndarray:
    """``result [sH, sW, 3]`` with ``alpha`` upscaled as a fourth channel when ``target``'s
    format holds one; says in one line what became of the alpha channel."""
    if alpha is None:
        return result
    if target.suffix.lower() not in ALPHA_SUFFIXES:
        print(
            f"{source}: alpha channel dropped, {target.suffix or 'the output format'} holds none "
            f"(write {', '.join(sorted(ALPHA_SUFFIXES))} to keep it)"
        )
        return result
    print(f"{source}: alpha channel upscaled with bicubic, written as RGBA")
    return np.concatenate([result, upscale_alpha(alpha, scale)[..., None]], axis=2)


def _output_name(path: Path, scale: int, stem_clashes: bool) -> str:
    """``{stem}_x{scale}.png``, or ``{stem}_{ext}_x{scale}.png`` when another input shares the stem."""
    extension = f"_{path.suffix[1:].lower()}" if stem_clashes else ""
    return f"{path.stem}{extension}_x{scale}.png"


def _names_a_folder(output: str) -> bool:
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def plan_outputs(source: Path, output: str | None, scale: int) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs for ``upscale SOURCE [-o OUTPUT]``, checked before any work.

    A folder's images go to ``OUTPUT/`` (default ``SOURCE_x{scale}/`` beside it) as
    ``{stem}_x{scale}.png``; inputs that share a stem (``a.png``, ``a.jpg``) keep their
    extension in the name (``a_png_x2.png``, ``a_jpg_x2.png``).  A file goes to ``OUTPUT``
    (a folder when it exists as one or ends with ``/``; else a file whose extension picks
    the format), default ``{stem}_x{scale}.png`` beside the input.

    Raises:
        ValueError: no images in the folder, a missing input, an ``OUTPUT`` of the wrong
            kind (a file for a folder run, a name without an image extension), or an
            output that is an input or appears twice.
        FileNotFoundError: the input does not exist.
    """
    if source.is_dir():
        inputs = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not inputs:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {source}")
        out_dir = Path(output) if output else source.with_name(f"{source.name}_x{scale}")
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"-o {output}: a folder run writes into a folder, and {out_dir} is a file")
        stems = Counter(p.stem for p in inputs)
        jobs = [(p, out_dir / _output_name(p, scale, stems[p.stem] > 1)) for p in inputs]
    elif not source.exists():
        raise FileNotFoundError(f"input {source} does not exist")
    elif output is None or _names_a_folder(output):
        folder = source.parent if output is None else Path(output)
        jobs = [(source, folder / _output_name(source, scale, False))]
    else:
        target = Path(output)
        if target.suffix.lower() not in WRITE_SUFFIXES:
            raise ValueError(
                f"-o {output}: no image extension to pick the format from; give a name ending in "
                f"{', '.join(sorted(WRITE_SUFFIXES))} (or end it with / for a folder)"
            )
        jobs = [(source, target)]
    targets = [target for _, target in jobs]
    check_unique(targets)
    check_not_inputs(targets, [p for p, _ in jobs] if source.is_file() else source.iterdir())
    return jobs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="an image, or a folder of images")
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        help="output file, or folder (one that exists, or a name ending with /); a folder "
        "for a folder input; default: beside the input",
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs that exist already (without it they are refused before any "
        "work); an input is never written over",
    )
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave the images whose output exists already (a run resumed: every output "
        "is written whole or not at all)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first image that cannot be read or upscaled (default: report it "
        "in one line, go on with the others, and exit with status 2 at the end)",
    )
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument(
        "--method",
        default="network",
        choices=METHODS,
        help="'network' (a trained model, default) or 'graph' (no model: patches "
        "of the image's own cross-scale graph, then back-projection)",
    )
    model = parser.add_mutually_exclusive_group()
    model.add_argument(
        "--model",
        choices=MODELS,
        default=None,
        help="which bundled model (docs/model_zoo.md): ignn_detail (IGNN with the gated detail "
        "transfer; x2 only, the default at x2), ignn (the default at x3 and x4) or edsr",
    )
    model.add_argument(
        "--weights", default=None, help="checkpoint (ours or the authors' IGNN_x*.pth) instead of a bundled model"
    )
    parser.add_argument(
        "--weights-raw",
        action="store_true",
        help="use the checkpoint's raw weights, not the EMA of them it holds when trained with ema.decay",
    )
    parser.add_argument(
        "--max-pixels", type=int, default=512 * 512, help="LR pixels above which an image is processed in tiles"
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help=f"tile side in LR pixels (default: {DEFAULT_TILE}; with --max-memory, per image the whole image "
        "when it fits the budget, else the largest tile that fits)",
    )
    parser.add_argument("--overlap", type=int, default=16, help="tile overlap in LR pixels")
    parser.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="memory this process may use at its peak, e.g. 6G or 800M (default: what it "
        "holds now plus the machine's available memory); an image whose estimated "
        "need exceeds it is refused before any work.  Without --tile, each image is then "
        "upscaled whole, or in the largest tiles, that fit it: more memory, fewer tiles, less time",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default: bf16 where the CPU/GPU computes it natively, else fp32 "
        "channels-last), fp32 (the exact path), bf16, fp16 (CUDA); see docs/model.md",
    )
    parser.add_argument(
        "--device",
        default=default_device(),
        help="where the network runs (default: cuda when available, else cpu; --method graph runs on the CPU)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the network's dense parts first (minutes the first time, then "
        "from a persistent cache; needs a C++ compiler; see docs/model.md)",
    )


def graph_upscale_image(image, scale: int):
    """Super-resolve one ``[H, W, 3]`` uint8 image with :func:`~ignn_pyg.models.internal_sr.internal_sr`
    (default parameters, progress bar on stderr); the ``[sH, sW, 3]`` uint8 result."""
    return tensor_to_image(internal_sr(image_to_tensor(image), InternalSRConfig(scale=scale), progress=True)[0])


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values that would fail only later, after earlier images are done."""
    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be a positive integer, got {args.max_pixels}")
    if args.overlap < 0:
        raise ValueError(f"--overlap must be >= 0, got {args.overlap}")
    # the tile used: --tile, else the default, unless --max-memory picks one (always wider)
    tile = DEFAULT_TILE if args.tile is None else args.tile
    if (args.tile is not None or args.max_memory is None) and tile <= 2 * args.overlap:
        raise ValueError(f"--tile ({tile}) must exceed twice --overlap ({args.overlap})")
    if args.method == "graph" and (args.weights or args.model or args.compile):
        raise ValueError("--weights, --model and --compile need --method network; --method graph uses no model")
    if args.max_memory is not None:
        parse_bytes(args.max_memory)


def _each_or_report(jobs: list[tuple], step, strict: bool) -> tuple[list[tuple], list[Path]]:
    """``step(job)`` for every job: the results, and the inputs (``job[0]``) whose step
    raised ``ValueError``, each reported in one line (raised instead when ``strict``)."""
    done, failed = [], []
    for job in jobs:
        try:
            done.append(step(job))
        except ValueError as err:
            if strict:
                raise
            _report_failure(err)
            failed.append(job[0])
    return done, failed


def _with_size(job: tuple[Path, Path]) -> tuple[Path, Path, tuple[int, int]]:
    """``(input, output, (height, width))`` from the input's header."""
    source, target = job
    return source, target, image_size(source)


def _memory_check(model: nn.Module, args: argparse.Namespace, upscale):
    """``check(job) -> (*job, upscale_one)``, ``upscale_one`` being ``upscale`` (a
    :func:`upscale_image` of ``model`` awaiting ``max_pixels`` and ``tile``) bound to the
    job's tiling; raises ``ValueError`` when the job's estimated memory
    (:func:`~ignn_pyg.inference.memory_estimate.upscale_peak_bytes`) exceeds the budget,
    naming the image, its size, the estimate and the limit.  The tiling is the options'
    (``--tile`` or its default), or with ``--max-memory`` and no ``--tile`` the fastest that
    fits the budget (:func:`~ignn_pyg.inference.memory_estimate.tiling_for_budget`)."""
    held = resident_bytes()
    if args.max_memory is None:
        budget, limit = available_bytes(), "the memory available now"
    else:
        budget, limit = parse_bytes(args.max_memory) - held, f"--max-memory {args.max_memory}"
    fixed = (args.max_pixels, args.tile or DEFAULT_TILE)

    def check(job: tuple[Path, Path, tuple[int, int]]) -> tuple[Path, Path, tuple[int, int], Callable]:
        source, _, (height, width) = job
        chosen = fixed
        if args.max_memory is not None and args.tile is None:
            chosen = tiling_for_budget(model, height, width, budget, args.overlap) or fixed
        need = upscale_peak_bytes(model, height, width, *chosen)
        if need > budget:
            raise ValueError(
                f"{source}: a {width}x{height} image at x{args.scale} needs about {format_bytes(need)} "
                f"on top of the {format_bytes(held)} held, over {limit} ({format_bytes(held + budget)} "
                "in all); give a smaller image, or more memory"
            )
        return (*job, partial(upscale, max_pixels=chosen[0], tile=chosen[1]))

    return check


def _report_failure(err: Exception) -> None:
    print(f"ignn-pyg upscale: skipped: {err}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    jobs = plan_outputs(args.input, args.output, args.scale)
    if args.skip_existing:
        done = [target for _, target in jobs if target.exists()]
        jobs = [(source, target) for source, target in jobs if not target.exists()]
        if done:
            print(f"{len(done)} output(s) exist already, skipped (--skip-existing)")
        if not jobs:  # a finished run resumed: nothing to load the model for
            return 0
    targets = [target for _, target in jobs]
    check_new(targets, args.overwrite)
    for folder in dict.fromkeys(target.parent for target in targets):
        check_writable(folder)
    single = args.input.is_file()
    total = len(jobs)
    jobs, failed = _each_or_report(jobs, _with_size, strict=args.strict or single)
    if args.method == "graph":
        upscale = partial(graph_upscale_image, scale=args.scale)
        jobs = [(*job, upscale) for job in jobs]
        described, extra = f"graph SR x{args.scale} (no model)", ""
    else:
        weights = (
            Path(args.weights) if args.weights else bundled_weights(args.scale, args.model or default_model(args.scale))
        )
        device = parse_device(args.device)
        model = load_weights(weights, args.scale, raw=args.weights_raw).to(device)
        precision = resolve_precision(args.precision, device)
        precision.prepare_model(model)
        compiled = compile_dense_parts(model, inference=True) if args.compile else []
        upscale = partial(upscale_image, model, overlap=args.overlap, precision=precision)
        jobs, too_large = _each_or_report(jobs, _memory_check(model, args, upscale), strict=args.strict or single)
        failed += too_large
        described = f"{type(model).__name__} x{args.scale} from {weights}"
        extra = f"; {device}, precision {precision}{'; compiled (dense parts)' if compiled else ''}"
    print(f"{described}; {len(jobs)} image(s){extra}")
    # the bar counts LR pixels, so its time estimate weighs each image by its size
    bar = tqdm(
        total=sum(h * w for _, _, (h, w), _ in jobs),
        unit="px",
        unit_scale=True,
        disable=len(jobs) < 2,
        leave=False,
        file=sys.stderr,
    )
    with bar:
        for source, target, (height, width), upscale_one in jobs:
            try:
                _upscale_file(upscale_one, source, target, args.scale)
            except ValueError as err:
                if args.strict or single:
                    raise
                bar.clear()
                _report_failure(err)
                failed.append(source)
            bar.update(height * width)
    if failed:
        raise ValueError(
            f"{len(failed)} of {total} image(s) failed (each named "
            f"above): {', '.join(str(p) for p in failed[:3])}{' ...' if len(failed) > 3 else ''}"
        )
    return 0


def _upscale_file(upscale, source: Path, target: Path, scale: int) -> None:
    """Read ``source``, upscale it, write ``target``, and say so in one line."""
    image, alpha = read_image_and_alpha(source)
    start = time.perf_counter()
    try:
        result = upscale(image)
    except ValueError as err:  # e.g. an image too small for the model: name the file
        raise ValueError(f"{source}: {err}") from err
    write_image(target, _with_alpha(result, alpha, scale, source, target))
    tqdm.write(
        f"{source} {image.shape[1]}x{image.shape[0]} -> {target} {result.shape[1]}x{result.shape[0]} "
        f"({time.perf_counter() - start:.1f} s)",
        file=sys.stdout,
    )
