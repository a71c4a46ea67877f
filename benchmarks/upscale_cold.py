"""The 640x400 upscale of ``docs/model_zoo.md`` as a user meets it, against the warm
in-process time the model zoo table reports: what the first call in a fresh process
costs.

Writes the top 400 rows and 640 columns of the eval photo ``rocket`` to a temporary
PNG, then alternates, ``--rounds`` times:

* ``ignn-pyg upscale photo.png`` in a fresh process (default model, precision and
  threads): the seconds the command reports (one cold forward plus writing the PNG) and
  the process's wall time (start-up, imports and model loading included);
* in this process, which loaded the same bundled model once: one forward of
  ``ignn-pyg upscale``'s default path (:func:`ignn_pyg.commands.upscale.upscale_image`, with the
  command's allocator setting, :mod:`ignn_pyg.runtime.allocator`), after one warm-up.

Alternating puts a slow spell of a shared machine on both.  Printed: every round, the
best and median of each, and the ratio command / warm forward.

Usage::

    python benchmarks/upscale_cold.py [--scale 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ignn_pyg.commands.upscale import upscale_image
from ignn_pyg.data import write_image
from ignn_pyg.data.photos import load_photo
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.runtime.precision import resolve_precision

REPORTED = re.compile(r"\((\d+(?:\.\d+)?) s\)\s*$", re.MULTILINE)  # "... 1280x800 (6.5 s)"


def command_seconds(image: Path, output: Path, scale: int) -> tuple[float, float]:
    """``(reported, wall)`` seconds of one ``ignn-pyg upscale`` in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ignn_pyg",
            "upscale",
            str(image),
            "-o",
            str(output),
            "--overwrite",
            "--scale",
            str(scale),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    reported = REPORTED.search(done.stdout)
    if reported is None:
        raise RuntimeError(f"no time in the command's output: {done.stdout!r}")
    return float(reported.group(1)), wall


def summary(values: list[float]) -> str:
    return f"best {min(values):.2f} s, median {statistics.median(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    retain_freed_memory()  # as the ignn-pyg command does
    image = load_photo("rocket")[:400, :640]
    model = load_weights(bundled_weights(args.scale), args.scale)
    precision = resolve_precision("auto", "cpu")
    precision.prepare_model(model)

    def warm_forward() -> float:
        start = time.perf_counter()
        upscale_image(model, image, max_pixels=512 * 512, tile=256, overlap=16, precision=precision)
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "rocket640x400.png"
        write_image(photo, image)
        first = warm_forward()  # this process's own cold forward, the warm-up
        reported, walls, warm = [], [], []
        for round_ in range(args.rounds):
            seconds, wall = command_seconds(photo, Path(folder) / "out.png", args.scale)
            reported.append(seconds)
            walls.append(wall)
            warm.append(warm_forward())
            print(
                f"round {round_ + 1}: command reports {seconds:.1f} s ({wall:.1f} s wall), "
                f"warm forward {warm[-1]:.2f} s",
                flush=True,
            )
    print(f"IGNN x{args.scale}, 640x400, {precision}")
    print(f"  ignn-pyg upscale, fresh process: reported {summary(reported)}; wall {summary(walls)}")
    print(f"  warm forward in one process:     {summary(warm)} (its first, cold: {first:.2f} s)")
    print(
        f"  command reported / warm forward: {min(reported) / min(warm):.2f}x best, "
        f"{statistics.median(reported) / statistics.median(warm):.2f}x median"
    )


if __name__ == "__main__":
    main()
