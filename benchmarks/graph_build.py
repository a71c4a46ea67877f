"""Cross-scale graph construction on CPU: build time and peak memory of the k-NN backends.

Usage::

    PYTHONPATH=. python benchmarks/graph_build.py [--quick] [--profile]

Workload: LR embedding maps of ``S x S`` (S = 64, 128, 256, 512) and their ``s``-times
smaller counterparts (s = 2, 3), 64 random channels (3x3 patches, stride 2: 576-dim
descriptors), ``k = 5``, window 30, reference window placement, one image.  Methods:

* ``dense``   -- ``build_cross_scale_graph(..., backend="dense")``;
* ``cluster`` -- ``build_cross_scale_graph(..., backend="cluster")`` (``torch_cluster``'s
  CPU KD-tree); a size is skipped when the previous size's time, times 10, exceeds 60 s
  (doubling the side took 9-13x longer and 6x the memory on a 2-core machine; 512^2 x2
  took 124 s and 18.8 GB);
* ``full``    -- the authors' algorithm, written out below as a plain baseline: the whole
  ``M x N`` squared-distance matrix ``|q|^2 - 2 q s^T + |s|^2`` by one matmul, a gather
  of each query's window columns (:func:`window_candidates`), ``topk``; followed by the
  same edge features as the builder.  Skipped where the matrix exceeds 8 GB.

Every (method, size, scale) runs in a fresh subprocess: ``build`` is the best of a few
whole builds (patch extraction, search, edge features), ``search`` the best of the k-NN
search alone on extracted patches, and ``peak`` is ``ru_maxrss`` after the builds minus
``ru_maxrss`` once the inputs exist (the high-water mark of resident memory the builds
added, allocator caching included).

GEMM efficiency: ``torch.baddbmm`` GFLOP/s on the shape of one dense tile (256 queries x
the tile's candidate block x 576) and on a 2048^3 square are measured in a subprocess of
the same run.  The dense backend's GEMM flops are counted by wrapping ``torch.baddbmm``
(``2 B Q N D`` per call) in an untimed run; its achieved rate is that count over the
best search time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor

from ignn_pyg.graph import PatchGrid, build_cross_scale_graph, extract_patch_rows
from ignn_pyg.graph import knn as knn_module
from ignn_pyg.graph.cross_scale_graph import edge_features
from ignn_pyg.graph.windows import SearchWindows, search_windows, window_candidates

CHANNELS, K, WINDOW, PATCH, STRIDE = 64, 5, 30, 3, 2
SIZES, SCALES, METHODS = (64, 128, 256, 512), (2, 3), ("dense", "cluster", "full")
CLUSTER_LIMIT_S = 60.0
CLUSTER_GROWTH = 10.0  # cluster time ratio between sizes S and 2S, measured
FULL_MATRIX_LIMIT_BYTES = 8e9


def make_inputs(size: int, scale: int) -> tuple[Tensor, Tensor]:
    """Random LR and downsampled embedding maps ``[1, 64, S, S]``, ``[1, 64, S/s, S/s]``."""
    generator = torch.Generator().manual_seed(size * 10 + scale)
    lr = torch.randn(1, CHANNELS, size, size, generator=generator)
    down = torch.randn(1, CHANNELS, size // scale, size // scale, generator=generator)
    return lr, down


def grids(size: int, scale: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(m1, m2)``, ``(n1, n2)`` patch grids of the two maps."""
    lr = PatchGrid.of(size, size, PATCH, STRIDE)
    down = PatchGrid.of(size // scale, size // scale, PATCH, STRIDE)
    return (lr.rows, lr.cols), (down.rows, down.cols)


def full_matrix_knn(
    query: Tensor, source: Tensor, windows: SearchWindows | None, source_grid: tuple[int, int], k: int
) -> Tensor:
    """The authors' search: ``[1, M, D] x [1, N, D] -> [1, M, k]`` source indices.

    .. math::
        d_{mn} = \\lVert q_m \\rVert^2 - 2 q_m^\\top s_n + \\lVert s_n \\rVert^2

    for all ``M x N`` pairs by one matmul, then ``topk`` over the columns of each
    query's window (all columns for global search).
    """
    q, s = query[0], source[0]
    dist = torch.addmm((s * s).sum(1)[None, :], q, s.T, alpha=-2.0).add_((q * q).sum(1)[:, None])
    if windows is None:
        return dist.topk(k, dim=1, largest=False).indices[None]
    cands = window_candidates(windows, source_grid)  # [M, w^2]
    local = dist.gather(1, cands).topk(k, dim=1, largest=False).indices
    return cands.gather(1, local)[None]


def search_inputs(
    lr: Tensor, down: Tensor, scale: int
) -> tuple[Tensor, Tensor, tuple[int, int], tuple[int, int], SearchWindows | None]:
    """Pixel-major ``[1, M, D]``, ``[1, N, D]`` patch rows (as the builder searches them),
    both grids and the search windows."""
    query, tgrid = extract_patch_rows(lr, PATCH, STRIDE)
    source, sgrid = extract_patch_rows(down, PATCH, STRIDE)
    qg, sg = (tgrid.rows, tgrid.cols), (sgrid.rows, sgrid.cols)
    return query, source, qg, sg, search_windows(qg, sg, WINDOW, scale)


def searcher(method: str, scale: int, lr: Tensor, down: Tensor) -> Callable[[], Tensor]:
    """The k-NN search of ``method`` alone, on patches extracted beforehand; ``() -> [1, M, k]``."""
    query, source, qg, sg, windows = search_inputs(lr, down, scale)
    if method == "full":
        return lambda: full_matrix_knn(query, source, windows, sg, K)
    return lambda: knn_module.windowed_knn(query, source, qg, sg, windows, K, method)


def builder(method: str, scale: int) -> Callable[[Tensor, Tensor], object]:
    """Whole build: ``build_cross_scale_graph`` for ``dense`` and ``cluster``; patches,
    :func:`full_matrix_knn` and the library's edge features for ``full``."""
    if method != "full":
        return lambda lr, down: build_cross_scale_graph(lr, down, scale, K, PATCH, STRIDE, WINDOW, method)

    def build(lr: Tensor, down: Tensor) -> tuple[Tensor, Tensor]:
        query, source, _, sg, windows = search_inputs(lr, down, scale)
        return edge_features(query, source, full_matrix_knn(query, source, windows, sg, K), lr.shape[1])

    return build


def best_time(fn: Callable[[], object], repeats: int, give_up_s: float) -> float:
    """Best wall time of ``repeats`` calls; stops repeating once one call exceeds ``give_up_s``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > give_up_s:
            break
    return best


def count_gemm_flops(search: Callable[[], Tensor]) -> int:
    """GEMM flops one search performs: ``2 B Q N D`` summed over its ``torch.baddbmm``
    calls (the dense backend's distance GEMMs), counted by wrapping ``torch.baddbmm``."""
    original = torch.baddbmm
    flops = 0

    def counting(input: Tensor, batch1: Tensor, batch2: Tensor, **kwargs: float) -> Tensor:
        nonlocal flops
        flops += 2 * batch1.shape[0] * batch1.shape[1] * batch1.shape[2] * batch2.shape[2]
        return original(input, batch1, batch2, **kwargs)

    torch.baddbmm = counting
    try:
        search()
    finally:
        torch.baddbmm = original
    return flops


def worker(method: str, size: int, scale: int, repeats: int) -> dict[str, float]:
    """Measure one configuration (run in a fresh process)."""
    lr, down = make_inputs(size, scale)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    build = builder(method, scale)
    give_up = CLUSTER_LIMIT_S if method == "cluster" else float("inf")
    result = {"build_s": best_time(lambda: build(lr, down), repeats, give_up)}
    result["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb) / 1024
    search = searcher(method, scale, lr, down)
    result["search_s"] = best_time(search, repeats, give_up)
    if method == "dense":
        result["gemm_flops"] = count_gemm_flops(search)
    return result


def gemm_worker(repeats: int) -> dict[str, float]:
    """``baddbmm`` GFLOP/s on a dense tile's shape (x2 reference windows: 16x16 queries,
    a (7 + 30)^2 candidate block, 576 dims) and on a 2048^3 square."""
    out = {}
    d = CHANNELS * PATCH * PATCH
    for name, (q, n, dim) in {"tile": (256, 37 * 37, d), "square": (2048, 2048, 2048)}.items():
        a, b, c = torch.randn(1, q, dim), torch.randn(1, n, dim), torch.randn(1, 1, n)
        calls = max(1, int(2e10 // (2 * q * n * dim)))  # about 20 GFLOP per timing

        def run(a=a, b=b, c=c, calls=calls) -> None:  # this iteration's operands
            for _ in range(calls):
                torch.baddbmm(c, a, b.transpose(1, 2), alpha=-2.0)

        out[f"{name}_gflops"] = 2 * q * n * dim * calls / best_time(run, repeats, float("inf")) / 1e9
    return out


def spawn(args: list[str], threads: int, timeout: float = 900) -> dict[str, float] | str:
    """Run this script's worker in a fresh interpreter; its JSON result, or why not."""
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--threads", str(threads), "--worker", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_dense(size: int, scale: int) -> None:
    """Where the dense build's time goes (``torch.profiler``, operators by self time)."""
    lr, down = make_inputs(size, scale)
    build = builder("dense", scale)
    build(lr, down)
    with torch.profiler.profile() as prof:
        build(lr, down)
    print(f"\ndense build, LR {size}^2, scale {scale}: operators by self CPU time")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


Results = dict[tuple[str, int, int], dict[str, float] | str]


def report(results: Results, gemm: dict[str, float] | str, sizes: tuple[int, ...], load: tuple[float, float]) -> None:
    """Print the table and one line per target."""

    def get(method: str, size: int, scale: int, key: str) -> float | None:
        r = results[method, size, scale]
        return None if isinstance(r, str) else r.get(key)

    def speedup(other: str, size: int, scale: int) -> float | None:
        mine, theirs = get("dense", size, scale, "build_s"), get(other, size, scale, "build_s")
        return None if mine is None or theirs is None else theirs / mine

    def gflops(size: int, scale: int) -> float | None:
        flops, search_s = get("dense", size, scale, "gemm_flops"), get("dense", size, scale, "search_s")
        return None if flops is None else flops / search_s / 1e9

    print(
        "\nbuild / search: whole build / k-NN search alone, seconds, best of the repeats;"
        "\nspeed-up: the other method's build time / dense's; peak: RSS the builds added, MB;"
        "\nGF/s: dense search's GEMM flops / its search time"
    )
    head = (
        f"{'s':>2} {'LR':>4} {'M':>6} {'N':>6} |"
        + "".join(f" {m + ' build/search':>20}" for m in METHODS)
        + f" | {'vs cluster':>10} {'vs full':>7} |"
        + "".join(f" {'peak ' + m:>12}" for m in METHODS)
        + f" | {'GF/s':>5}"
    )
    print(head)
    print("-" * len(head))
    for scale in SCALES:
        for size in sizes:
            (m1, m2), (n1, n2) = grids(size, scale)
            times = "".join(
                f" {fmt(get(m, size, scale, 'build_s'), '.3f') + ' / ' + fmt(get(m, size, scale, 'search_s'), '.3f'):>20}"  # noqa: E501
                for m in METHODS
            )
            peaks = "".join(f" {fmt(get(m, size, scale, 'peak_mb'), '.0f'):>12}" for m in METHODS)
            print(
                f"{scale:>2} {size:>4} {m1 * m2:>6} {n1 * n2:>6} |{times} | "
                f"{fmt(speedup('cluster', size, scale), '.1f'):>10} {fmt(speedup('full', size, scale), '.1f'):>7} |"
                f"{peaks} | {fmt(gflops(size, scale), '.1f'):>5}"
            )
    for (method, size, scale), r in results.items():
        if isinstance(r, str):
            print(f"  {method} {size}^2 x{scale}: {r}")
    print(f"load average (1 min) at start / end: {load[0]:.1f} / {load[1]:.1f}")
    if isinstance(gemm, str):
        print(f"\nGEMM measurement {gemm}")
        return
    print(
        f"baddbmm: {gemm['tile_gflops']:.1f} GFLOP/s on a dense tile's shape "
        f"[256 x 576] x [576 x 1369], {gemm['square_gflops']:.1f} GFLOP/s on 2048^3"
    )

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "MISSED")

    big = max(sizes)
    mid = 256 if 256 in sizes else big
    print("\ntargets (dense)")
    for scale in SCALES:
        for other, target in (("cluster", 5.0), ("full", 2.0)):
            x = speedup(other, mid, scale)
            print(
                f"  >= {target:.0f}x faster than {other} at {mid}^2 x{scale}: {fmt(x, '.2f')}x  "
                f"{verdict(None if x is None else x >= target)}"
            )
        peak = get("dense", big, scale, "peak_mb")
        print(
            f"  {big}^2 x{scale} built whole under 2 GB peak: {fmt(peak, '.0f')} MB  "
            f"{verdict(None if peak is None else peak < 2048)}"
        )
        rate = gflops(big, scale)
        frac = None if rate is None else rate / gemm["tile_gflops"]
        print(
            f"  search >= 40% of baddbmm throughput at {big}^2 x{scale}: "
            f"{fmt(None if frac is None else 100 * frac, '.0f')}% of the tile shape's "
            f"({fmt(None if rate is None else 100 * rate / gemm['square_gflops'], '.0f')}% of 2048^3's)  "
            f"{verdict(None if frac is None else frac >= 0.4)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 64 and 128 only")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared machine a busy core stalls "
        "every OpenMP barrier, which makes multi-threaded timings erratic)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile dense at 256^2, x2")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        if args.worker[0] == "gemm":
            result = gemm_worker(int(args.worker[1]))
        else:
            method, size, scale, repeats = args.worker
            result = worker(method, int(size), int(scale), int(repeats))
        print(json.dumps(result))
        return

    sizes = SIZES[:2] if args.quick else SIZES
    repeats = 5
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; C={CHANNELS}, k={K}, "
        f"window {WINDOW}, best of {repeats} (3 above 128^2)",
        flush=True,
    )
    load_start = os.getloadavg()[0]
    gemm = spawn(["gemm", str(repeats)], args.threads)
    results: Results = {}
    for scale in SCALES:
        for method in METHODS:
            previous = None
            for size in sizes:
                (m1, m2), (n1, n2) = grids(size, scale)
                if method == "full" and 4 * m1 * m2 * n1 * n2 > FULL_MATRIX_LIMIT_BYTES:
                    results[method, size, scale] = "skipped: M x N matrix over 8 GB"
                elif method == "cluster" and isinstance(previous, str):
                    results[method, size, scale] = "skipped: smaller size skipped"
                elif method == "cluster" and previous is not None and CLUSTER_GROWTH * previous > CLUSTER_LIMIT_S:
                    results[method, size, scale] = (
                        f"skipped: predicted {CLUSTER_GROWTH * previous:.0f} s > {CLUSTER_LIMIT_S:.0f} s"
                    )
                else:
                    size_repeats = repeats if size <= 128 else 3
                    results[method, size, scale] = spawn(
                        [method, str(size), str(scale), str(size_repeats)], args.threads
                    )
                r = results[method, size, scale]
                previous = r if isinstance(r, str) else r["build_s"]
                print(f"  {method:7s} {size:4d}^2 x{scale}: {r}", file=sys.stderr, flush=True)

    report(results, gemm, sizes, (load_start, os.getloadavg()[0]))
    if args.profile:
        profile_dense(256, 2)


if __name__ == "__main__":
    main()
