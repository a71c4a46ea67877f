"""Ablation study at x2: aggregation layers against EDSR, ``num_neighbors``, the search
window and the embedding, all with one training budget on the installed photos.

Every variant trains from ``experiments/configs/ablations/base_x2.yaml`` plus its
overrides (same iterations, crop, batch and seed) into ``runs/ablation/NAME``, then is
evaluated on the whole eval photos (Y PSNR/SSIM, border 2).  Runs resume: an
interrupted study continues where it stopped, a finished variant is not retrained.
The window study is at test time on the ``ignn`` variant: training crops are smaller
than the windows, so every window would be global during training.

Writes ``experiments/results/ablation_x2.md`` (and ``.json``).

Usage::

    python experiments/ablate.py                     # every study
    python experiments/ablate.py --study neighbors window   # of: aggregation neighbors window embedding
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ignn_pyg.data import PhotoDataset
from ignn_pyg.evaluation import evaluate, make_forward, summarize
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.training.config import load_config
from ignn_pyg.training.engine import train, trained_iterations

ROOT = Path(__file__).resolve().parent
BASE = ROOT / "configs" / "ablations" / "base_x2.yaml"
STUDIES: dict[str, list[tuple[str, list[str]]]] = {
    "aggregation": [
        ("edsr", ["model.arch=edsr"]),
        ("ignn", []),
        ("ignn_edge_fusion", ["model.fusion=edge"]),
        ("gatv2", ["model.aggregation=gatv2"]),
        ("transformer", ["model.aggregation=transformer"]),
        ("general", ["model.aggregation=general"]),
        ("mean", ["model.aggregation=mean"]),
    ],
    "neighbors": [
        ("k1", ["model.num_neighbors=1"]),
        ("k3", ["model.num_neighbors=3"]),
        ("ignn", []),
        ("k8", ["model.num_neighbors=8"]),
    ],
    "embedding": [("ignn", []), ("pixel_embedding", ["model.embedding=pixel"])],
}
WINDOWS = (10, 20, 30, 10_000)  # 10_000 patches: global search on any photo here


def run_variant(name: str, overrides: list[str], runs: Path) -> tuple[torch.nn.Module, dict]:
    """Train (or resume, or reuse) one variant; returns its model and training facts."""
    out_dir = runs / name
    config = load_config(BASE, [*overrides, f"run.out_dir={out_dir}"])
    last = out_dir / "last.pt"
    done = trained_iterations(out_dir) >= config.optim.iterations
    if not done:
        print(f"== training {name} ({' '.join(overrides) or 'base'})", flush=True)
        train(config, resume=last.is_file())
    model, payload = load_checkpoint(last)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, {"iterations": payload["iteration"], "train_seconds": payload["seconds"], "parameters": trainable}


def evaluate_model(model: torch.nn.Module, images: Path, window: int | None = None) -> dict:
    """Mean Y PSNR/SSIM of ``model`` on the eval photos (whole images); ``window``
    overrides an IGNN's search window."""

    def with_window(lr: torch.Tensor) -> torch.Tensor:
        return model(lr, graph=model.build_graph(lr, window=window))

    with torch.no_grad():
        rows = evaluate(
            PhotoDataset("eval", 2), make_forward(model) if window is None else with_window, 2, images, progress=False
        )
    return summarize(rows)


def table(rows: list[dict], bicubic: dict) -> str:
    lines = [
        "| variant | PSNR (dB) | SSIM | Δ vs bicubic (dB) | trainable params | s / iteration |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| bicubic | {bicubic['psnr']:.3f} | {bicubic['ssim']:.4f} | 0 | 0 | – |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['psnr']:.3f} | {r['ssim']:.4f} | {r['psnr'] - bicubic['psnr']:+.3f} | "
            f"{r['parameters']:,} | {r['train_seconds'] / r['iterations']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=[*STUDIES, "window", "all"], nargs="+", default=["all"])
    parser.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    studies = [*STUDIES, "window"] if "all" in args.study else args.study
    args.results.mkdir(parents=True, exist_ok=True)
    json_path = args.results / "ablation_x2.json"
    cache: dict[str, dict] = {}
    started = time.perf_counter()
    for study in studies:
        rows = []
        variants = STUDIES.get(study, [("ignn", [])])
        for name, overrides in variants:
            model, facts = run_variant(name, overrides, args.runs)
            windows = WINDOWS if study == "window" else (None,)
            for window in windows:
                label = name if window is None else ("global" if window == WINDOWS[-1] else f"window {window}")
                key = f"{name}@{window}"
                if key not in cache:
                    cache[key] = {**facts, **evaluate_model(model, args.runs / name / f"eval_{window}", window)}
                rows.append({"name": label, **cache[key]})
                print(f"{study}: {label}: {cache[key]['psnr']:.3f} dB", flush=True)
        # merge into what is on disk: several studies may run in parallel processes
        results = json.loads(json_path.read_text()) if json_path.is_file() else {}
        results[study] = rows
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    first = next(iter(cache.values()))
    bicubic = {"psnr": first["bicubic_psnr"], "ssim": first["bicubic_ssim"]}
    config = load_config(BASE)
    parts = [
        "# Ablations at x2 (eval photos, Y channel, border 2)\n",
        f"Budget per variant: {config.optim.iterations} iterations, batch {config.data.batch_size}, "
        f"HR crops {config.data.crop_size}, seed {config.run.seed}, {config.model.n_feats} features, "
        f"{config.model.n_resblocks} blocks, residual '{config.model.residual}', trained on the installed "
        f"wallpaper photos on this 2-core CPU (1 thread). Produced by `python experiments/ablate.py` "
        f"({time.perf_counter() - started:.0f} s this call; s / iteration includes validation).\n",
    ]
    titles = {
        "aggregation": "Aggregation layer (EDSR = no graph block)",
        "neighbors": "num_neighbors (k)",
        "window": "Search window at test time (model: ignn, k = 5)",
        "embedding": "Graph embedding",
    }
    for study in (s for s in titles if s in results):
        rows = results[study]
        parts.append(f"## {titles[study]}\n\n{table(rows, bicubic)}\n")
    (args.results / "ablation_x2.md").write_text("\n".join(parts))
    print((args.results / "ablation_x2.md").read_text())


if __name__ == "__main__":
    main()
