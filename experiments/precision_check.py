"""Quality of the bf16 path: the bundled models on the eval photos, bf16 against fp32.

For every bundled IGNN and EDSR (``ignn_pyg/weights``) and every eval photo (whole
image, Y, border = scale) it reports the PSNR in fp32 (the exact path) and under bf16
autocast (channels-last), their difference, and for IGNN the share of queries whose
neighbour set under autocast equals the fp32 graph's (the graph is built in float32 by
design, so anything below 100% is a bug).  Then, for every bundled x2 IGNN, the oracle
test of ``graph_oracle.py`` in both precisions: whether bf16 keeps what the model takes
from an exact match (own graph minus random neighbours, oracle and control region).
Writes ``experiments/results/precision_check.{md,json}``.

Usage::

    OMP_NUM_THREADS=1 python experiments/precision_check.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

import torch
from graph_oracle import SCALE as ORACLE_SCALE  # this folder: the oracle-recurrence test
from graph_oracle import oracle_scores

from ignn_pyg.data import PhotoDataset, downsample_for_graph
from ignn_pyg.evaluation import evaluate, make_forward, summarize
from ignn_pyg.inference.bundled import BUNDLED, WEIGHTS_DIR
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.precision import cpu_native_bf16, describe_cpu, resolve_precision

RESULTS = Path(__file__).resolve().parent / "results"


def same_neighbor_share(model: IGNN, lr: torch.Tensor) -> float:
    """Share of queries whose neighbour set built under bf16 autocast equals the fp32 one."""
    lr_down = downsample_for_graph(lr, model.graph_scale)
    exact = model.build_graph(lr, lr_down).neighbors().sort(1).values
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = model.build_graph(lr, lr_down).neighbors().sort(1).values
    return float((exact == fast).all(1).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--out", type=Path, default=Path("runs/precision_check"))
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bf16 on a CPU without native support: known slow
        bf16 = resolve_precision("bf16")
    fp32 = resolve_precision("fp32")
    rows = []
    for (arch, scale), name in BUNDLED.items():
        if not (WEIGHTS_DIR / name).is_file():
            continue
        dataset = PhotoDataset("eval", scale)
        samples = [dataset[i] for i in range(len(dataset) if args.limit is None else min(args.limit, len(dataset)))]
        scores = {}
        for label, precision in (("fp32", fp32), ("bf16", bf16)):
            model = load_weights(WEIGHTS_DIR / name, scale)
            scores[label] = evaluate(
                samples,
                make_forward(model, precision=precision),
                scale,
                args.out / f"{arch}_x{scale}_{label}",
                progress=False,
            )
        model = load_weights(WEIGHTS_DIR / name, scale)
        for index, item in enumerate(samples):
            row = {
                "model": name,
                "photo": item["name"],
                "fp32_psnr": scores["fp32"][index]["psnr"],
                "bf16_psnr": scores["bf16"][index]["psnr"],
                "fp32_seconds": scores["fp32"][index]["seconds"],
                "bf16_seconds": scores["bf16"][index]["seconds"],
            }
            if isinstance(model, IGNN):
                row["same_neighbor_sets"] = same_neighbor_share(model, item["lr"][None])
            rows.append(row)
        mean = {k: summarize(scores[k])["psnr"] for k in scores}
        print(
            f"{name}: fp32 {mean['fp32']:.4f} dB, bf16 {mean['bf16']:.4f} dB, "
            f"difference {mean['bf16'] - mean['fp32']:+.4f} dB",
            flush=True,
        )

    oracle = {}
    for (arch, scale), name in BUNDLED.items():
        if scale != ORACLE_SCALE or arch == "edsr" or not (WEIGHTS_DIR / name).is_file():
            continue
        oracle[name] = {}
        for label, precision in (("fp32", fp32), ("bf16", bf16)):
            model = precision.prepare_model(load_weights(WEIGHTS_DIR / name, scale).eval())
            with precision.autocast("cpu"):
                oracle[name][label] = oracle_scores(model)["mean"]
        print(
            f"{name}: oracle reliance fp32 {oracle[name]['fp32']['oracle_reliance']:+.3f} dB, "
            f"bf16 {oracle[name]['bf16']['oracle_reliance']:+.3f} dB",
            flush=True,
        )

    lines = [
        "# bf16 against fp32: bundled models on the eval photos (Y, border = scale)",
        "",
        f"Produced by `python experiments/precision_check.py` on {describe_cpu()}, "
        f"{torch.get_num_threads()} thread(s); "
        f"bf16 is {'native' if cpu_native_bf16() else 'emulated (so the seconds show no speed-up)'} here.",
        "",
        "| model | photo | fp32 PSNR | bf16 PSNR | bf16 − fp32 (dB) | identical neighbour sets | fp32 s | bf16 s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        share = f"{100 * r['same_neighbor_sets']:.1f}%" if "same_neighbor_sets" in r else "–"
        lines.append(
            f"| {r['model']} | {r['photo']} | {r['fp32_psnr']:.4f} | {r['bf16_psnr']:.4f} | "
            f"{r['bf16_psnr'] - r['fp32_psnr']:+.4f} | {share} | {r['fp32_seconds']:.2f} | "
            f"{r['bf16_seconds']:.2f} |"
        )
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        diff = math.fsum(r["bf16_psnr"] - r["fp32_psnr"] for r in mine) / len(mine)
        lines.append(f"| **{name}** | mean of {len(mine)} | | | **{diff:+.4f}** | | | |")
    lines += [
        "",
        "## The oracle test (`graph_oracle.py`) in both precisions",
        "",
        "Mean over its 8 images; Y-PSNR in dB of each region with the model's own graph, and reliance "
        "(own graph minus random neighbours, the same neighbour seeds in both precisions).",
        "",
        "| model | precision | oracle: own | oracle reliance | control: own | control reliance |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, by_precision in oracle.items():
        for label, m in by_precision.items():
            lines.append(
                f"| {name} | {label} | {m['oracle_own']:.2f} | {m['oracle_reliance']:+.3f} | "
                f"{m['control_own']:.2f} | {m['control_reliance']:+.3f} |"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "precision_check.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "precision_check.json").write_text(json.dumps({"photos": rows, "oracle": oracle}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
