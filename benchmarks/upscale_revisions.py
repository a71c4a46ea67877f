"""The 640x400 upscale of ``docs/model_zoo.md`` timed for two revisions of the code,
side by side: what a speed change buys, measured in one run.

Each revision is exported with ``git archive`` into a temporary folder and imported
from there (``PYTHONPATH``, site hooks off), in its own subprocess per round; rounds
alternate between the revisions, so a slow spell of a shared machine hits both.  Both
run the same weights (default: the working tree's bundled ``ignn_x2_compact.pt``)
through ``ignn-pyg upscale``'s default path (:func:`ignn_pyg.commands.upscale.upscale_image`,
``--precision auto``, whole image, with the command's process settings:
:mod:`ignn_pyg.runtime.allocator` where the revision has it) on the top 400 rows and 640
columns of the eval photo ``rocket``.  A round times one forward after a warm-up.
Printed: each revision's best and median time and peak resident memory of a round, the
ratios, and the largest difference between the two outputs (uint8 levels).

Usage::

    python benchmarks/upscale_revisions.py --base 84890c1 [--head HEAD] [--rounds 3]
        [--weights ignn_pyg/weights/ignn_x2_compact.pt] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import site
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ignn_pyg.data.photos import load_photo

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys, time, numpy as np, torch, ignn_pyg
torch.set_num_threads(int(sys.argv[3]))
try:  # the package layout of docs/architecture.md
    from ignn_pyg.inference.checkpoints import load_checkpoint
    from ignn_pyg.runtime.precision import resolve_precision
    from ignn_pyg.commands.upscale import upscale_image
except ImportError:  # revisions before it, with every module at the top
    from ignn_pyg.checkpoints import load_checkpoint
    from ignn_pyg.precision import resolve_precision
    from ignn_pyg.upscale import upscale_image
assert ignn_pyg.__file__.startswith(sys.argv[4]), ignn_pyg.__file__
try:  # the ignn-pyg command's process setting, in revisions that have it
    try:
        from ignn_pyg.runtime.allocator import retain_freed_memory
    except ImportError:
        from ignn_pyg.allocator import retain_freed_memory
    retain_freed_memory()
except ImportError:
    pass
model, _ = load_checkpoint(sys.argv[1])
precision = resolve_precision("auto", "cpu")
precision.prepare_model(model.eval())
image = np.load(sys.argv[5])
upscale_image(model, image, max_pixels=512 * 512, tile=256, overlap=16, precision=precision)
start = time.perf_counter()
out = upscale_image(model, image, max_pixels=512 * 512, tile=256, overlap=16, precision=precision)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
np.save(sys.argv[2], out)
"""


def export(revision: str, into: Path) -> Path:
    """``revision``'s tree in ``into`` (``git archive``)."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def one_round(tree: Path, weights: Path, image: Path, out: Path, threads: int) -> tuple[float, float]:
    """One subprocess: ``(seconds of the timed forward, peak resident GiB)``."""
    # -S: no site hooks, so an editable install of the working tree cannot shadow ``tree``;
    # the installed packages come back through PYTHONPATH
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), *site.getsitepackages()]),
        "OMP_NUM_THREADS": str(threads),
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, str(weights), str(out), str(threads), str(tree), str(image)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"{tree}: {result.stderr.strip().splitlines()[-1]}")
    seconds, peak = result.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weights", type=Path, default=ROOT / "ignn_pyg" / "weights" / "ignn_x2_compact.pt")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trees = {rev: export(rev, tmp / f"tree{i}") for i, rev in enumerate((args.base, args.head))}
        image = tmp / "photo.npy"
        np.save(image, load_photo("rocket")[:400, :640])
        times: dict[str, list[float]] = {rev: [] for rev in trees}
        peaks: dict[str, list[float]] = {rev: [] for rev in trees}
        for r in range(args.rounds):
            for rev, tree in trees.items():
                seconds, peak = one_round(tree, args.weights.resolve(), image, tmp / f"{tree.name}.npy", args.threads)
                times[rev].append(seconds)
                peaks[rev].append(peak)
                print(
                    f"round {r + 1}: {rev} {seconds:.2f} s, peak {peak:.2f} GiB (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        base, head = (np.load(tmp / f"{tree.name}.npy").astype(int) for tree in trees.values())
    for rev, ts in times.items():
        print(
            f"{rev:>12}: best {min(ts):.2f} s, median {statistics.median(ts):.2f} s, "
            f"peak {max(peaks[rev]):.2f} GiB over {len(ts)} rounds"
        )
    print(
        f"{args.head} / {args.base}: time {min(times[args.head]) / min(times[args.base]):.3f} (best), "
        f"{statistics.median(times[args.head]) / statistics.median(times[args.base]):.3f} (median); "
        f"peak memory {max(peaks[args.head]) / max(peaks[args.base]):.3f}; outputs differ by at most "
        f"{np.abs(base - head).max()} levels ({(base != head).mean() * 100:.4f}% of values), {args.threads} threads"
    )


if __name__ == "__main__":
    main()
