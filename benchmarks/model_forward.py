"""Forward-pass cost of IGNN against EDSR of the same width and depth.

For each LR size and scale it prints, measured side by side in one run:

* forward time (best of ``--repeats`` interleaved rounds) of IGNN and of EDSR,
* the time IGNN spends in graph construction and in the aggregation layer,
* FLOPs counted by :class:`torch.utils.flop_counter.FlopCounterMode` and the achieved
  GFLOP/s of each model, and IGNN's achieved FLOP/s as a fraction of EDSR's.

``--full`` also runs the full-size network (256 features, 32 blocks) on a whole
256x256 LR image at x2 in a fresh subprocess and reports its peak resident memory
(``ru_maxrss`` minus the interpreter's baseline before the forward).

Usage::

    python benchmarks/model_forward.py            # 64^2 and 128^2 at x2 and x4
    python benchmarks/model_forward.py --full     # plus the 256^2 full-size run
    python benchmarks/model_forward.py --channels-last  # both models in channels-last memory
    python benchmarks/model_forward.py --precision bf16 # both models under bf16 autocast, channels-last,
                                                        # beside IGNN's exact fp32 path (speed-up column)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.runtime.precision import PRECISIONS, Precision, resolve_precision


def best_times(fns: dict, repeats: int) -> dict:
    """Minimum wall time of each function over ``repeats`` rounds after one warm-up call.
    Every round calls all functions in turn, so a slow spell of a shared machine hits all
    of them rather than one."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def measure(size: int, scale: int, n_feats: int, n_resblocks: int, repeats: int, precision: Precision) -> dict:
    """One row; with a precision other than the exact path, IGNN's exact fp32 forward is
    timed in the same rounds (``exact_s``) for the speed-up."""
    torch.manual_seed(0)
    ignn = precision.prepare_model(IGNN(scale, n_feats=n_feats, n_resblocks=n_resblocks).eval())
    edsr = precision.prepare_model(EDSR(scale, n_feats=n_feats, n_resblocks=n_resblocks).eval())
    exact = IGNN(scale, n_feats=n_feats, n_resblocks=n_resblocks).eval()
    exact.load_state_dict(ignn.state_dict())
    lr = torch.rand(1, 3, size, size) * 255
    fast_lr = precision.prepare_input(lr)
    with torch.no_grad(), precision.autocast("cpu"):
        graph = ignn.build_graph(fast_lr)
        features = ignn.body_pre(ignn.head(ignn.input_shift(fast_lr)))
        fns = {
            "edsr_s": lambda: edsr(fast_lr),
            "ignn_s": lambda: ignn(fast_lr),
            "graph_s": lambda: ignn.build_graph(fast_lr),
            "aggregation_s": lambda: ignn.aggregation(features, graph),
        }
        if precision.dtype is not None or precision.channels_last:

            def run_exact():
                with torch.autocast("cpu", enabled=False):
                    return exact(lr)

            fns["exact_s"] = run_exact
        row = {"size": size, "scale": scale, **best_times(fns, repeats)}
        row["edsr_flops"] = count_flops(lambda: edsr(fast_lr))
        row["ignn_flops"] = count_flops(lambda: ignn(fast_lr))
    row["edsr_gflops"] = row["edsr_flops"] / row["edsr_s"] / 1e9
    row["ignn_gflops"] = row["ignn_flops"] / row["ignn_s"] / 1e9
    return row


def full_size_peak_memory() -> None:
    """Child process: full-size IGNN x2 on a whole 256x256 LR image; prints peak RSS."""
    model = IGNN(2).eval()
    lr = torch.rand(1, 3, 256, 256) * 255
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.no_grad():
        out = model(lr)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{tuple(out.shape)} {seconds:.1f} {baseline / 2**20:.2f} {peak / 2**20:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--n-feats", type=int, default=64)
    parser.add_argument("--n-resblocks", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="both models and the input in channels-last memory, fp32 (faster convolutions on CPU)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default: the exact path), bf16 (autocast, channels-last) or auto "
        "(ignn_pyg.runtime.precision); other than fp32, IGNN's exact path is timed beside it",
    )
    parser.add_argument("--full", action="store_true", help="also the 256^2 full-size peak-memory run")
    parser.add_argument("--child-full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_full:
        full_size_peak_memory()
        return

    precision = resolve_precision(args.precision)
    if args.channels_last:
        precision = Precision(precision.name, True, precision.reason + "; --channels-last")
    print(
        f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} "
        f"threads; n_feats={args.n_feats}, n_resblocks={args.n_resblocks}; both models in {precision}"
    )
    header = (
        f"{'LR':>7} {'x':>2} {'EDSR s':>8} {'IGNN s':>8} {'graph s':>8} {'graph %':>8} "
        f"{'aggr s':>8} {'aggr %':>7} {'EDSR GF':>8} {'IGNN GF':>8} {'EDSR GF/s':>10} "
        f"{'IGNN GF/s':>10} {'ratio':>6} {'IGNN fp32 exact s':>18} {'speed-up':>9}"
    )
    print(header)
    rows = []
    for scale in args.scales:
        for size in args.sizes:
            r = measure(size, scale, args.n_feats, args.n_resblocks, args.repeats, precision)
            rows.append(r)
            exact = (
                f"{r['exact_s']:18.3f} {r['exact_s'] / r['ignn_s']:8.2f}x"
                if "exact_s" in r
                else f"{'(this run)':>18} {'':>9}"
            )
            print(
                f"{size:>4}^2 {scale:>2} {r['edsr_s']:8.3f} {r['ignn_s']:8.3f} {r['graph_s']:8.3f} "
                f"{100 * r['graph_s'] / r['ignn_s']:7.1f}% {r['aggregation_s']:8.3f} "
                f"{100 * r['aggregation_s'] / r['ignn_s']:6.1f}% {r['edsr_flops'] / 1e9:8.1f} "
                f"{r['ignn_flops'] / 1e9:8.1f} {r['edsr_gflops']:10.1f} {r['ignn_gflops']:10.1f} "
                f"{r['ignn_gflops'] / r['edsr_gflops']:6.2f} {exact}",
                flush=True,
            )

    target = next((r for r in rows if r["size"] == 128 and r["scale"] == 2), None)
    if target is not None:
        ratio = target["ignn_gflops"] / target["edsr_gflops"]
        share = target["graph_s"] / target["ignn_s"]
        print(f"target (128^2, x2): IGNN FLOP/s >= 75% of EDSR's: {ratio:.0%} [{'met' if ratio >= 0.75 else 'missed'}]")
        print(
            f"target (128^2, x2): graph construction <= 10% of the forward: {share:.1%} "
            f"[{'met' if share <= 0.10 else 'missed'}]"
        )
    if args.full:
        out = subprocess.run(
            [sys.executable, __file__, "--child-full"], check=True, capture_output=True, text=True
        ).stdout.split()
        shape, seconds, baseline, peak = " ".join(out[:4]), float(out[4]), float(out[5]), float(out[6])
        print(
            f"full size (256 feats, 32 blocks) x2 on a whole 256^2 LR image: output {shape}, "
            f"{seconds:.1f} s, peak RSS {peak:.2f} GiB ({peak - baseline:.2f} GiB above the "
            f"loaded model) [{'met' if peak < 12 else 'missed'}: < 12 GiB]"
        )


if __name__ == "__main__":
    main()
