"""A full-HD photo upscaled by ``ignn-pyg upscale``: the bundled IGNN against the bundled
EDSR, side by side in one run (issue #38's benchmark).

**The photo** is a deterministic mosaic of the eight eval photos (:func:`photo_mosaic`):
``ceil(W / 384)`` cells of 384x270 pixels per row and ``ceil(H / 270)`` rows, filled row
by row; cell ``n`` is a 384x270 crop of eval photo ``n mod 8`` (table order of
``list_photos("eval")``: astronaut, chelsea, coffee, motorcycle_left, rocket, camera,
china, flower), taken from the photo's top-left corner the first time the photo
appears, then its bottom-right, top-right and bottom-left corners and its centre.  The
mosaic is cut to ``--size`` (``W x H``) from its top-left corner: the default 1920x1080
is exactly 5x4 cells, every photo twice (top left, bottom right) and the first four a
third time (top right).  No pixel is resampled.  Its SHA-256 is printed.

**What runs.**  For every precision, scale and model, a fresh process (this script with
``--worker``) runs the ``ignn-pyg`` entry point itself
(:func:`ignn_pyg.commands.main.main`: ``upscale MOSAIC.png -o OUT --scale S --model M
--precision P --device D``; every other option at the command's default: tiles of 256
LR pixels with an overlap of 16 above 512x512 LR pixels, and the allocator setting of
:mod:`ignn_pyg.runtime.allocator`) with ``--threads`` intra-op threads; the only change
is a timer around the command's :func:`~ignn_pyg.commands.upscale.upscale_image`.
Reading and writing the PNG are outside the time.  Printed for each:

* ``time``: wall seconds of the command's :func:`~ignn_pyg.commands.upscale.upscale_image`
  call (one cold call, as a user meets it), best and median of ``--repeats`` fresh
  processes, run in interleaved rounds so that a slow spell of a shared machine hits
  every configuration;
* ``peak RSS``: the process's ``ru_maxrss`` at its end (interpreter, torch, model, image
  and the upscale; the largest of the repeats), and ``before`` it: ``ru_maxrss`` when the
  upscale starts; on CUDA the peak of ``torch.cuda.max_memory_allocated`` during the
  upscale;
* ``tiles``: how many forwards the command ran;
* the IGNN/EDSR time ratio per scale and precision (each bundled IGNN variant against
  the bundled EDSR of its scale), from the best times.

**Where IGNN's time goes.**  For each IGNN configuration a second fresh process runs the
same command with the part timers of ``benchmarks/upscale_breakdown.py``
(:func:`upscale_breakdown.timed_parts`) installed on the model, and prints each part's
seconds and share of that run's upscale (all tiles), and the share of the graph's work
that is not a convolution (search, embedding, edge features, fold, rest of the
aggregation).  The timers materialise the lazy rank maps, so this run's time and memory
are not the first run's; the first run's are the numbers.

**Tiling.**  ``--tilings`` runs every configuration once per tiling: ``default`` (the
command's defaults, above), ``whole`` (``--max-pixels`` above the photo's pixels: one
forward on the whole image) or ``tile=N`` (``--tile N --max-pixels N^2``: tiles of ``N``
LR pixels, the default overlap, whenever the photo is larger than one tile); with
``whole`` among them, each other tiling's time is printed as a ratio to the whole
image's, measured in the same interleaved rounds.

Usage::

    python benchmarks/upscale_photo.py [--size 1920x1080] [--scales 2 4] [--models ignn edsr]
        [--precisions auto] [--tilings default] [--repeats 1] [--threads 2] [--device cpu]
        [--no-breakdown] [--json FILE]
    python benchmarks/upscale_photo.py --size 1280x720 --scales 2 --models ignn --tilings default whole tile=512

Runs are kept as logs in ``benchmarks/results/<machine>_<date>/`` (``| tee`` the output).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from upscale_breakdown import format_parts, timed_parts  # this folder's part timers

import ignn_pyg.commands.upscale as upscale_command
from ignn_pyg.commands.main import main as ignn_pyg_main
from ignn_pyg.data import write_image
from ignn_pyg.data.photos import list_photos, load_photo
from ignn_pyg.inference.bundled import MODELS, is_bundled
from ignn_pyg.runtime.devices import default_device
from ignn_pyg.runtime.precision import PRECISIONS, describe_cpu

CELL = (384, 270)  # (width, height) of a mosaic cell: every eval photo is at least 451x300
#: where the crop of a photo's n-th appearance in the mosaic is taken
CROPS = ("top left", "bottom right", "top right", "bottom left", "centre")


def photo_mosaic(width: int, height: int) -> np.ndarray:
    """The benchmark photo (module docstring): ``[height, width, 3]`` ``uint8``, a mosaic of
    384x270 crops of the eval photos, ``ceil(width / 384)`` per row, cut from its top-left
    corner."""
    if width < 1 or height < 1:
        raise ValueError(f"mosaic size must be positive, got {width}x{height}")
    names = list_photos("eval")
    cell_w, cell_h = CELL
    cols, rows = math.ceil(width / cell_w), math.ceil(height / cell_h)
    mosaic = np.empty((rows * cell_h, cols * cell_w, 3), dtype=np.uint8)
    photos: dict[str, np.ndarray] = {}
    for cell in range(rows * cols):
        name = names[cell % len(names)]
        photo = photos.setdefault(name, load_photo(name))
        crop = CROPS[(cell // len(names)) % len(CROPS)]
        free_h, free_w = photo.shape[0] - cell_h, photo.shape[1] - cell_w
        y0 = {"top": 0, "bottom": free_h, "centre": free_h // 2}[crop.split()[0]]
        x0 = {"left": 0, "right": free_w}.get(crop.split()[-1], free_w // 2)
        row, col = divmod(cell, cols)
        mosaic[row * cell_h : (row + 1) * cell_h, col * cell_w : (col + 1) * cell_w] = photo[
            y0 : y0 + cell_h, x0 : x0 + cell_w
        ]
    return np.ascontiguousarray(mosaic[:height, :width])


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def peak_rss_bytes() -> int:
    """This process's ``ru_maxrss`` in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(job: dict) -> dict:
    """One configuration in this (fresh) process: ``ignn-pyg upscale`` as the command runs
    it, with its :func:`~ignn_pyg.commands.upscale.upscale_image` timed (and, with
    ``job["breakdown"]``, the parts of the model's forward).  Returns the measurements."""
    torch.set_num_threads(job["threads"])
    measured: dict = {"tiles": 0}
    original = upscale_command.upscale_image

    @functools.wraps(original)
    def timed_upscale(model, image, *args, **kwargs):
        measured["rss_before"] = peak_rss_bytes()
        precision = kwargs["precision"]  # the command passes it by name
        measured.update(
            precision=precision.name, channels_last=precision.channels_last, precision_reason=precision.reason
        )
        hook = model.register_forward_pre_hook(lambda *_: measured.__setitem__("tiles", measured["tiles"] + 1))
        cuda = next(model.parameters()).device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        seconds: dict[str, float] = {}
        try:
            with timed_parts(model, seconds) if job["breakdown"] else contextlib.nullcontext():
                start = time.perf_counter()
                result = original(model, image, *args, **kwargs)  # a uint8 array: the device has finished
                measured["seconds"] = time.perf_counter() - start
        finally:
            hook.remove()
        measured["parts"] = seconds
        if cuda:
            measured["cuda_peak"] = torch.cuda.max_memory_allocated()
        return result

    upscale_command.upscale_image = timed_upscale  # the command binds it when it runs
    try:
        status = ignn_pyg_main(
            [
                "upscale",
                job["image"],
                "-o",
                job["output"],
                "--scale",
                str(job["scale"]),
                "--model",
                job["model"],
                "--precision",
                job["precision"],
                "--device",
                job["device"],
                *job.get("tiling_options", []),
            ]
        )
    finally:
        upscale_command.upscale_image = original
    if status != 0 or "seconds" not in measured:
        raise RuntimeError(f"ignn-pyg upscale exited with status {status}")
    measured["peak_rss"] = peak_rss_bytes()
    return measured


def run_worker(job: dict) -> dict:
    """:func:`worker` in a fresh process; its measurements."""
    with tempfile.TemporaryDirectory() as folder:
        result_file = Path(folder) / "result.json"
        job = {**job, "output": str(Path(folder) / "out.png"), "result": str(result_file)}
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True)
        if done.returncode != 0 or not result_file.is_file():
            raise RuntimeError(
                f"worker {job['model']} x{job['scale']} {job['precision']} failed "
                f"(status {done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}"
            )
        return json.loads(result_file.read_text())


def parse_tiling(text: str) -> str:
    """``default``, ``whole`` or ``tile=N`` (N a positive integer)."""
    if text in ("default", "whole") or (text.startswith("tile=") and text[5:].isdigit() and int(text[5:]) > 0):
        return text
    raise argparse.ArgumentTypeError(f"a tiling is 'default', 'whole' or 'tile=N', got {text!r}")


def tiling_options(tiling: str, width: int, height: int) -> list[str]:
    """The ``ignn-pyg upscale`` options of ``tiling`` on a ``width x height`` photo."""
    if tiling == "whole":
        return ["--max-pixels", str(width * height)]
    if tiling.startswith("tile="):  # tiled whenever the photo is larger than one tile
        side = int(tiling[5:])
        return ["--tile", str(side), "--max-pixels", str(side * side)]
    return []


def gigabytes(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e9:.2f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=(1920, 1080), help="WIDTHxHEIGHT of the LR photo")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4], choices=(2, 3, 4))
    parser.add_argument("--models", nargs="+", default=["ignn", "edsr"], choices=MODELS)
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["auto"],
        choices=PRECISIONS,
        help="the command's --precision, one row each (default: auto, the command's default)",
    )
    parser.add_argument(
        "--tilings",
        nargs="+",
        type=parse_tiling,
        default=["default"],
        help="default (the command's tiles), whole (one forward) or tile=N; one row each",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="fresh processes per configuration, in interleaved rounds; the best time is reported",
    )
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of every run")
    parser.add_argument("--device", default=default_device(), help="the command's --device (default: its default)")
    parser.add_argument(
        "--no-breakdown",
        dest="breakdown",
        action="store_false",
        help="skip the second run of each IGNN with the part timers",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        job = json.loads(args.worker)
        Path(job["result"]).write_text(json.dumps(worker(job)))
        return {}

    width, height = args.size
    mosaic = photo_mosaic(width, height)
    digest = hashlib.sha256(mosaic.tobytes()).hexdigest()
    configs = [
        (precision, scale, model, tiling)
        for precision in args.precisions
        for scale in args.scales
        for model in args.models
        for tiling in args.tilings
        if is_bundled(scale, model)
    ]
    if not configs:
        parser.error(f"no bundled model among {args.models} at scales {args.scales}")
    report: dict = {
        "size": [width, height],
        "mosaic_sha256": digest,
        "cpu": describe_cpu(),
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
        "runs": [],
    }
    print(
        f"upscale_photo: {width}x{height} mosaic of 384x270 crops of the {len(list_photos('eval'))} eval "
        f"photos (sha256 {digest[:16]}), ignn-pyg upscale at its defaults"
    )
    print(
        f"CPU: {describe_cpu()}; {os.cpu_count()} cores, {args.threads} threads; torch {torch.__version__}; "
        f"device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if str(args.device).startswith("cuda") else "")
        + f"; load average {report['load_average'][0]:.2f} at start"
    )
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / f"mosaic_{width}x{height}.png"
        write_image(image, mosaic)
        base = {"image": str(image), "threads": args.threads, "device": args.device}
        rounds: dict[tuple, list[dict]] = {config: [] for config in configs}
        for round_ in range(args.repeats):  # interleaved: a slow spell of a shared machine hits every config
            for precision, scale, model, tiling in configs:
                load = os.getloadavg()[0]
                job = {"precision": precision, "scale": scale, "model": model, "breakdown": False}
                measured = run_worker({**base, **job, "tiling_options": tiling_options(tiling, width, height)})
                rounds[precision, scale, model, tiling].append({**measured, "load": load})
                print(
                    f"  round {round_ + 1}: {model} x{scale} {precision} {tiling}: {measured['seconds']:.1f} s "
                    f"(load {load:.2f})",
                    file=sys.stderr,
                    flush=True,
                )
        for (precision, scale, model, tiling), runs in rounds.items():
            best = min(runs, key=lambda run: run["seconds"])
            report["runs"].append(
                {
                    "model": model,
                    "scale": scale,
                    "requested": precision,
                    "tiling": tiling,
                    **best,
                    "all_seconds": [run["seconds"] for run in runs],
                    "median_seconds": statistics.median(run["seconds"] for run in runs),
                    "max_peak_rss": max(run["peak_rss"] for run in runs),
                }
            )
        breakdowns = []
        if args.breakdown:
            for precision, scale, model, tiling in configs:
                if model == "ignn" and tiling == args.tilings[0]:
                    load = os.getloadavg()[0]
                    job = {"precision": precision, "scale": scale, "model": model, "breakdown": True}
                    measured = run_worker({**base, **job, "tiling_options": tiling_options(tiling, width, height)})
                    breakdowns.append(
                        {"model": model, "scale": scale, "requested": precision, "load": load, **measured}
                    )
        report["breakdowns"] = breakdowns
    report["load_average_end"] = os.getloadavg()
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


def print_report(report: dict) -> None:
    """The table, the IGNN/EDSR ratios and the part shares (module docstring)."""
    cuda = any("cuda_peak" in run for run in report["runs"])
    print(
        f"\n{'model':12s} {'scale':>5s} {'precision':>13s} {'tiling':>9s} {'tiles':>5s} {'best s':>7s} "
        f"{'median s':>8s} "
        f"{'peak RSS GB':>11s} {'before GB':>9s}" + (f" {'CUDA peak GB':>12s}" if cuda else "") + f" {'load':>5s}"
    )
    for run in report["runs"]:
        print(
            f"{run['model']:12s} {'x' + str(run['scale']):>5s} {run['requested'] + ' -> ' + run['precision']:>13s} "
            f"{run['tiling']:>9s} {run['tiles']:5d} {run['seconds']:7.1f} {run['median_seconds']:8.1f} "
            f"{gigabytes(run['max_peak_rss']):>11s} {gigabytes(run['rss_before']):>9s}"
            + (f" {gigabytes(run.get('cuda_peak')):>12s}" if cuda else "")
            + f" {run['load']:5.2f}"
        )
    print(
        f"  best and median of {len(report['runs'][0]['all_seconds'])} fresh process(es) each; peak RSS: the "
        "largest of them; load: the load average when the best run started"
    )
    for reason in sorted({(run["precision"], run["channels_last"], run["precision_reason"]) for run in report["runs"]}):
        print(f"  {reason[0]}{', channels-last' if reason[1] else ''}: {reason[2]}")

    def key(run: dict) -> tuple:
        return run["requested"], run["scale"], run["tiling"]

    edsr = {key(run): run["seconds"] for run in report["runs"] if run["model"] == "edsr"}
    whole = {(run["model"], *key(run)[:2]): run["seconds"] for run in report["runs"] if key(run)[2] == "whole"}
    for run in report["runs"]:
        if run["model"] != "edsr" and key(run) in edsr:
            print(
                f"{run['model'].upper()}/EDSR time, x{run['scale']} {run['requested']} {key(run)[2]}: "
                f"{run['seconds'] / edsr[key(run)]:.2f}"
            )
    for run in report["runs"]:
        reference = whole.get((run["model"], *key(run)[:2]))
        if reference is not None and key(run)[2] != "whole":
            print(
                f"{run['model'].upper()} x{run['scale']} {run['requested']}: {key(run)[2]} tiling / whole image "
                f"time: {run['seconds'] / reference:.2f} ({run['tiles']} tiles)"
            )
    for run in report["breakdowns"]:
        print(
            f"\nParts of {run['model'].upper()} x{run['scale']} {run['requested']} -> {run['precision']}, "
            f"second run with the part timers of upscale_breakdown.py: upscale {run['seconds']:.1f} s, "
            f"{run['tiles']} tile(s), load {run['load']:.2f} at start"
        )
        print("\n".join(format_parts(run["parts"], run["seconds"])))
    print(
        f"\nload average (1 min) {report['load_average'][0]:.2f} at start, {report['load_average_end'][0]:.2f} at end; "
        "'load' is the load average when each run started"
    )


if __name__ == "__main__":
    main()
