"""How much HR detail do the graph's matches carry?  Training-free SR from the graph alone.

On every eval photo (``--split held_out``: every held-out photo, in neither split of
``shared/data/photos.tsv``; x2 by default, LR made with MATLAB bicubic) this runs, side by side:

* ``bicubic``            -- MATLAB bicubic upsampling;
* ``bicubic+BP``         -- the same, then the back-projection graph SR uses (so its own
  gain is not credited to the graph);
* ``graph estimate``     -- graph SR before back-projection (:func:`patch_estimate`);
* ``graph-SR``           -- :func:`ignn_pyg.models.internal_sr.internal_sr` with the photo's own graph
  (default parameters: detail transfer with a zero example at ``prior_distance``);
* ``random``             -- the same with every query's neighbours replaced by uniform
  random patches of its search window (:func:`ignn_pyg.graph.controls.random_neighbors`),
  one run per seed;
* ``patch-SR``, ``patch random`` -- the same pair with the plain recipe: mean-shifted HR
  patches, softmax weights summing to 1 (``transfer="patch"``, ``prior_distance=None``);
* ``EDSR``, ``IGNN``, ``IGNN-detail`` -- the bundled compact models (``docs/model_zoo.md``)
  that ship at the scale.

The default parameters were chosen on training photos, never on the eval photos: the
sweep ``TUNING`` on the centre 512x384 crops of six wallpapers (``--tune`` reruns it).

The HR information in the graph is ``graph-SR - random`` (paired per photo, against the
mean over seeds).  Match contrast, the mean squared patch distance of the random
neighbours over that of the graph's own, says how much better than chance the matches are.

Writes ``experiments/results/internal_sr.json`` (every photo's numbers; finished photos are
skipped when the script runs again with the same settings), ``internal_sr.md`` (tables)
and ``docs/images/internal_sr_crops.png`` (labelled centre crops of the photos, among those
computed in the call, where the graph carries the most HR information, the median and the
least); with ``--split held_out``, ``internal_sr_held_out.{json,md}`` and
``internal_sr_crops_held_out.png``.

Usage::

    OMP_NUM_THREADS=1 python experiments/internal_sr.py [--scale 2] [--seeds 3] [--limit N]
    OMP_NUM_THREADS=1 python experiments/internal_sr.py --split held_out
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ignn_pyg.data import (
    PhotoDataset,
    bicubic_downsample,
    bicubic_upsample,
    image_to_tensor,
    list_photos,
    load_training_photo,
    tensor_to_image,
)
from ignn_pyg.data.photos import file_sha256
from ignn_pyg.evaluation.metrics import psnr_ssim
from ignn_pyg.inference import forward_whole
from ignn_pyg.inference.bundled import bundled_weights, is_bundled
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.models.internal_sr import (
    InternalSRConfig,
    back_project,
    bicubic_back_projected,
    build_graph,
    patch_estimate,
)

ROOT = Path(__file__).resolve().parent
#: the bundled models run beside graph SR (column -> bundled name), those that ship at the scale
MODELS = {"EDSR": "edsr", "IGNN": "ignn", "IGNN-detail": "ignn_detail"}
METHODS = ("bicubic", "bicubic+BP", "graph estimate", "graph-SR", "random", "patch-SR", "patch random", *MODELS)
RANDOM = {"graph-SR": "random", "patch-SR": "patch random"}
FIGURE_METHODS = ("bicubic", "bicubic+BP", "random", "graph-SR", "patch-SR", "EDSR", "IGNN", "HR")
CROP = 40  # LR pixels of a figure crop
TUNING_PHOTOS = (0, 3, 8, 14, 20, 26)  # indices into list_photos("train")
TUNING = (
    [{"transfer": "patch", "prior_distance": None, "h": h} for h in (0.02, 0.05, 0.2)]
    + [{"transfer": "patch", "prior_distance": None, "h": 0.05, "match_std": True}]
    + [{"transfer": "detail", "prior_distance": None, "h": h} for h in (0.05, 0.2)]
    + [{"transfer": "detail", "prior_distance": d0, "h": h} for d0 in (0.003, 0.01, 0.03) for h in (0.02, 0.1, 0.3)]
)


def tune(scale: int) -> list[dict]:
    """Mean Y PSNR over the training crops of every ``TUNING`` setting, of its random
    control (seed 0) and of bicubic+BP."""
    names = list_photos("train")
    crops = []
    for index in TUNING_PHOTOS:
        image = image_to_tensor(load_training_photo(names[index]))
        h, w = image.shape[-2:]
        hr = image[..., (h - 384) // 2 : (h - 384) // 2 + 384, (w - 512) // 2 : (w - 512) // 2 + 512]
        crops.append((bicubic_downsample(hr, scale), hr))

    def mean_psnr(config: InternalSRConfig, seed: int | None) -> float:
        return statistics.fmean(psnr_ssim(graph_sr(lr, config, seed)["sr"], hr, scale)[0] for lr, hr in crops)

    base = InternalSRConfig(scale=scale)
    rows = [
        {
            "setting": "bicubic+BP",
            "psnr": statistics.fmean(psnr_ssim(bicubic_back_projected(lr, base)[0], hr, scale)[0] for lr, hr in crops),
        }
    ]
    for overrides in TUNING:
        config = replace(base, **overrides)
        rows.append({"setting": overrides, "psnr": mean_psnr(config, None), "random_psnr": mean_psnr(config, 0)})
        print(f"tuning {overrides}: {rows[-1]['psnr']:.3f} dB (random {rows[-1]['random_psnr']:.3f})", flush=True)
    return rows


def tuning_table(rows: list[dict]) -> str:
    lines = [
        "| setting | graph SR (dB) | random control (dB) |",
        "| --- | --- | --- |",
        f"| bicubic+BP | {rows[0]['psnr']:.3f} | |",
    ]
    lines += [f"| `{json.dumps(r['setting'])}` | {r['psnr']:.3f} | {r['random_psnr']:.3f} |" for r in rows[1:]]
    return (
        "Parameter sweep on training photos (centre 512x384 crops of six wallpapers, x2, mean Y PSNR; "
        "the defaults were picked here)\n\n" + "\n".join(lines)
    )


def graph_sr(lr: torch.Tensor, config: InternalSRConfig, seed: int | None) -> dict:
    """Graph SR with the photo's graph (``seed=None``) or its random control: the
    estimate, the back-projected result, the mean match distance and the seconds."""
    start = time.perf_counter()
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        graph = build_graph(lr, config, generator)
        estimate = patch_estimate(lr, graph, config)
        sr, info = back_project(estimate, lr, config.scale, config.back_projection_iterations, config.tolerance)
    return {
        "estimate": estimate,
        "sr": sr,
        "info": info,
        "distance": float(graph.distance.double().mean()),
        "seconds": time.perf_counter() - start,
    }


def score(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict:
    psnr, ssim = psnr_ssim(sr, hr, scale)
    return {"psnr": psnr, "ssim": ssim}


def run_photo(item: dict, configs: dict[str, InternalSRConfig], seeds: int, models: dict) -> tuple[dict, dict]:
    """Every method on one photo: ``(row of numbers, {method: SR image [1, 3, sH, sW]})``;
    ``configs`` maps ``graph-SR`` and ``patch-SR`` to their parameters."""
    lr, hr, s = item["lr"][None], item["hr"][None], configs["graph-SR"].scale
    images = {"bicubic": bicubic_upsample(lr.double(), s)}
    images["bicubic+BP"], bp_info = bicubic_back_projected(lr, configs["graph-SR"])
    row = {
        "name": item["name"],
        "lr_size": list(lr.shape[-2:]),
        "back_projection": {"bicubic": bp_info},
        "distance": {},
        "seconds": {},
    }
    for method, config in configs.items():
        own = graph_sr(lr, config, None)
        randoms = [graph_sr(lr, config, seed) for seed in range(seeds)]
        images[method], images[RANDOM[method]] = own["sr"], randoms[0]["sr"]
        if method == "graph-SR":
            images["graph estimate"] = own["estimate"]
            row["distance"] = {"graph": own["distance"], "random": statistics.fmean(r["distance"] for r in randoms)}
        row["back_projection"][method] = own["info"]
        row["seconds"][method] = own["seconds"]
        per_seed = [score(r["sr"], hr, s) for r in randoms]
        seed_psnr = [r["psnr"] for r in per_seed]
        row[f"{RANDOM[method]} seeds"] = per_seed
        row[RANDOM[method]] = {
            "psnr": statistics.fmean(seed_psnr),
            "psnr_std": statistics.stdev(seed_psnr) if seeds > 1 else 0.0,
            "ssim": statistics.fmean(r["ssim"] for r in per_seed),
        }
    for name, model in models.items():
        start = time.perf_counter()
        images[name] = forward_whole(model, lr)
        row["seconds"][name] = time.perf_counter() - start
    row.update({m: score(images[m], hr, s) for m in METHODS if m in images and m not in RANDOM.values()})
    row["hr_information_db"] = {m: row[m]["psnr"] - row[RANDOM[m]]["psnr"] for m in RANDOM}
    row["match_contrast"] = row["distance"]["random"] / max(row["distance"]["graph"], 1e-12)
    return row, images


def tables(rows: list[dict], settings: dict) -> str:
    """The markdown report: PSNR and SSIM per photo and on average, and the graph's share."""

    def mean(get) -> float:
        return math.fsum(get(r) for r in rows) / len(rows)

    methods = [m for m in METHODS if all(m in r for r in rows)]  # the models bundled at this scale
    parts = []
    for metric, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.4f}")):
        header = "| photo | " + " | ".join(methods) + " |"
        lines = [header, "|" + " --- |" * (len(methods) + 1)]
        for r in rows:
            cells = [fmt.format(r[m][metric]) for m in methods]
            if metric == "psnr":
                for control in RANDOM.values():
                    cells[methods.index(control)] += f" ± {r[control]['psnr_std']:.2f}"
            lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
        lines.append(
            "| **mean** | "
            + " | ".join("**" + fmt.format(mean(lambda r, m=m, metric=metric: r[m][metric])) + "**" for m in methods)
            + " |"
        )
        parts.append(f"Y-channel {metric.upper()}\n\n" + "\n".join(lines))
    lines = [
        "| photo | graph-SR − bicubic+BP (dB) | HR information: graph-SR − random (dB) | "
        "patch-SR − random (dB) | match contrast (random / graph distance) | graph-SR seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        info = r["hr_information_db"]
        lines.append(
            f"| {r['name']} | {r['graph-SR']['psnr'] - r['bicubic+BP']['psnr']:+.3f} | "
            f"{info['graph-SR']:+.3f} (seed std {r['random']['psnr_std']:.3f}) | "
            f"{info['patch-SR']:+.3f} | {r['match_contrast']:.1f} | {r['seconds']['graph-SR']:.2f} |"
        )
    lines.append(
        f"| **mean** | {mean(lambda r: r['graph-SR']['psnr'] - r['bicubic+BP']['psnr']):+.3f} | "
        f"{mean(lambda r: r['hr_information_db']['graph-SR']):+.3f} | "
        f"{mean(lambda r: r['hr_information_db']['patch-SR']):+.3f} | "
        f"{mean(lambda r: r['match_contrast']):.1f} | {mean(lambda r: r['seconds']['graph-SR']):.2f} |"
    )
    parts.append("What the graph adds\n\n" + "\n".join(lines))
    config = settings["config"]
    head = (
        f"# Training-free SR from the graph (x{config['scale']}, {settings['split'].replace('_', '-')} photos, "
        f"Y channel, border "
        f"{config['scale']} px)\n\nProduced by `OMP_NUM_THREADS=1 python experiments/internal_sr.py"
        f"{'' if settings['split'] == 'eval' else ' --split ' + settings['split']}` "
        f"({settings['seconds']:.0f} s of CPU time on one thread for the photos run in the last call). "
        f"graph-SR parameters: `{json.dumps(config)}`; patch-SR: the same with "
        f"`{json.dumps(settings['patch_overrides'])}`; random controls: "
        f"{settings['seeds']} seeds (mean ± std over seeds).\n"
    )
    return head + "\n" + "\n\n".join(parts) + "\n"


def crop(image: torch.Tensor, lr_size: list[int], scale: int) -> np.ndarray:
    """The centre ``CROP``-LR-pixel crop of an HR image ``[1, 3, sH, sW]``, uint8 ``[h, w, 3]``."""
    h, w = lr_size
    side = min(CROP, h, w) * scale
    top, left = (h * scale - side) // 2, (w * scale - side) // 2
    return tensor_to_image(image)[top : top + side, left : left + side]


def figure(strips: list[tuple[str, dict, dict]], path: Path, scale: int) -> None:
    """A grid of labelled crops: one row per photo, one column per method."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cols = len(FIGURE_METHODS)
    fig, axes = plt.subplots(len(strips), cols, figsize=(1.2 * cols, 1.45 * len(strips) + 0.3), dpi=80, squeeze=False)
    for row_axes, (name, crops, row) in zip(axes, strips):
        for ax, method in zip(row_axes, FIGURE_METHODS):
            ax.imshow(crops[method], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            label = method if method == "HR" else f"{method}\n{row[method]['psnr']:.2f} dB"
            ax.set_title(label, fontsize=6.5, pad=2)
        row_axes[0].set_ylabel(name, fontsize=7)
    fig.suptitle(
        f"Centre crops ({CROP}x{CROP} LR px, x{scale}); PSNR of the whole photo (Y). Rows: most, "
        "median and least HR information in the graph",
        fontsize=7,
    )
    fig.tight_layout(pad=0.3, h_pad=0.6, w_pad=0.2)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=2, choices=(2, 4))
    parser.add_argument("--seeds", type=int, default=3, help="random-neighbour control runs per photo")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument(
        "--tune",
        action="store_true",
        help="rerun the parameter sweep on training photos (kept from the last run otherwise)",
    )
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument(
        "--split",
        choices=("eval", "held_out"),
        default="eval",
        help="the photos: the eval split, or the held-out photos in neither split",
    )
    parser.add_argument(
        "--figure", type=Path, help="default: docs/images/internal_sr_crops.png (eval), internal_sr_crops_held_out.png"
    )
    args = parser.parse_args()
    suffix = "" if args.split == "eval" else f"_{args.split}"
    figure_path = args.figure or ROOT.parent / "docs" / "images" / f"internal_sr_crops{suffix}.png"
    config = InternalSRConfig(scale=args.scale)
    patch_overrides = {"transfer": "patch", "prior_distance": None}
    configs = {"graph-SR": config, "patch-SR": replace(config, **patch_overrides)}
    weights = {
        column: bundled_weights(args.scale, name) for column, name in MODELS.items() if is_bundled(args.scale, name)
    }
    # a photo's stored row is reused only while the bundled files it scored are the same
    settings = {
        "config": config.to_dict(),
        "patch_overrides": patch_overrides,
        "seeds": args.seeds,
        "models": {column: file_sha256(path) for column, path in weights.items()},
    }
    json_path = args.results / f"internal_sr{suffix}.json"
    previous = json.loads(json_path.read_text()) if json_path.is_file() else {}
    done = {r["name"]: r for r in previous.get("photos", [])} if previous.get("settings") == settings else {}
    started = time.process_time()
    tuning = tune(args.scale) if args.tune or "tuning" not in previous else previous["tuning"]
    models = {column: load_weights(path, args.scale) for column, path in weights.items()}
    dataset = PhotoDataset(args.split, args.scale)
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    rows, strips = [], []
    for index in range(count):
        item = dataset[index]
        if item["name"] in done:
            rows.append(done[item["name"]])
            continue
        row, images = run_photo(item, configs, args.seeds, models)
        rows.append(row)
        print(
            f"{row['name']}: graph-SR {row['graph-SR']['psnr']:.2f} dB, bicubic+BP {row['bicubic+BP']['psnr']:.2f}, "
            f"random {row['random']['psnr']:.2f}, HR information {row['hr_information_db']['graph-SR']:+.3f} dB "
            f"({row['seconds']['graph-SR']:.1f} s)",
            flush=True,
        )
        images["HR"] = item["hr"][None]
        strips.append((row["name"], {m: crop(images[m], row["lr_size"], args.scale) for m in FIGURE_METHODS}, row))
        args.results.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"settings": settings, "photos": rows, "tuning": tuning}, indent=2) + "\n")
    # CPU time of the photos this call ran; when it reused them all, that of the call that did
    seconds = time.process_time() - started if strips else previous.get("seconds", 0.0)
    summary = {"settings": settings, "photos": rows, "tuning": tuning, "seconds": seconds}
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    report = args.results / f"internal_sr{suffix}.md"
    report.write_text(
        tables(rows, {**settings, "split": args.split, "seconds": summary["seconds"]})
        + "\n"
        + tuning_table(tuning)
        + "\n"
    )
    if strips:
        # the photos (of this call) where the graph carries the most, the median and the least
        strips.sort(key=lambda strip: -strip[2]["hr_information_db"]["graph-SR"])
        shown = sorted({0, len(strips) // 2, len(strips) - 1})
        figure([strips[i] for i in shown], figure_path, args.scale)
    print(report.read_text())


if __name__ == "__main__":
    main()
