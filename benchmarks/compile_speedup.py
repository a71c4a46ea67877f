"""What ``--compile`` buys: the bundled x2 IGNN and EDSR on a 640x400 photo, eager
against their dense parts compiled (:func:`ignn_pyg.inference.compilation.compile_dense_parts`,
inductor with frozen weights and dynamic shapes), side by side in one run.

The photo is the top 400 rows and 640 columns of the eval photo ``rocket`` (as in
``benchmarks/upscale_cold.py``), one whole-image forward as ``ignn-pyg upscale`` runs it
(:func:`ignn_pyg.commands.upscale.upscale_image`, which also converts to 8 bits).  For
each model and precision a fresh process, given an empty kernel cache, times: the eager
upscale (best of ``--repeats`` after one warm-up), the first compiled call (compilation
included: the cold start), the compiled upscale (best of ``--repeats``); a second fresh
process on the now filled cache times its first compiled call again (the warm start a
later ``--compile`` run meets).  Printed per row: those times and eager / compiled.

Usage::

    python benchmarks/compile_speedup.py [--models ignn edsr] [--precisions fp32 auto]
                                         [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = "--child"


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(model_name: str, precision: str, threads: int, repeats: int, eager: bool) -> dict:
    """In this fresh process: eager (when ``eager``) and compiled times of one upscale."""
    import torch

    from ignn_pyg.commands.upscale import upscale_image
    from ignn_pyg.data.photos import load_photo
    from ignn_pyg.inference.bundled import bundled_weights
    from ignn_pyg.inference.checkpoints import load_weights
    from ignn_pyg.inference.compilation import compile_dense_parts
    from ignn_pyg.runtime.allocator import retain_freed_memory
    from ignn_pyg.runtime.precision import resolve_precision

    retain_freed_memory()  # as the command does
    torch.set_num_threads(threads)
    image = load_photo("rocket")[:400, :640]
    model = load_weights(bundled_weights(2, model_name), 2)
    chosen = resolve_precision(precision, "cpu")
    chosen.prepare_model(model)

    def upscale():
        return upscale_image(model, image, max_pixels=512 * 512, tile=256, overlap=16, precision=chosen)

    row = {"model": model_name, "precision": str(chosen)}
    if eager:
        upscale()
        row["eager"] = _best(upscale, repeats)
        reference = upscale()
    start = time.perf_counter()
    compile_dense_parts(model, inference=True)
    compiled_first = upscale()
    row["first_compiled"] = time.perf_counter() - start
    if eager:
        row["compiled"] = _best(upscale, repeats)
        row["max_abs_8bit"] = int(abs(reference.astype(int) - compiled_first.astype(int)).max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["ignn", "edsr"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "auto"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(CHILD, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, precision, eager = args.child
        print(json.dumps(measure(name, precision, args.threads, args.repeats, eager == "eager")))
        return
    from ignn_pyg.runtime.precision import describe_cpu

    print(f"{describe_cpu()}; {args.threads} threads; load average {os.getloadavg()[0]:.2f} at start")
    print(
        f"{'model':>6} {'precision':>40} {'eager s':>8} {'compiled s':>10} {'eager/compiled':>14} "
        f"{'cold start s':>12} {'warm start s':>12} {'max |diff| 8-bit':>16}"
    )
    for name in args.models:
        for precision in args.precisions:
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
                rows = []
                for mode in ("eager", "warm"):
                    done = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--threads",
                            str(args.threads),
                            "--repeats",
                            str(args.repeats),
                            CHILD,
                            name,
                            precision,
                            mode,
                        ],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            cold, warm = rows
            print(
                f"{name:>6} {cold['precision'][:40]:>40} {cold['eager']:8.2f} {cold['compiled']:10.2f} "
                f"{cold['eager'] / cold['compiled']:14.2f} {cold['first_compiled']:12.1f} "
                f"{warm['first_compiled']:12.1f} {cold['max_abs_8bit']:16d}",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
