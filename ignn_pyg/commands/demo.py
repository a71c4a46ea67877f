"""``ignn-pyg demo``: the main job on a built-in default, with nothing to download.

Upscales the evaluation photographs that scikit-image and scikit-learn ship (LR made
with the MATLAB bicubic) with the bundled compact EDSR and compact IGNN, and at the
scales where one ships (x2) the compact IGNN with the gated detail transfer
(``IGNN-detail``), and writes to ``--out``:

* ``table.md`` (also printed): per-image and mean PSNR/SSIM on Y for bicubic and each model;
* ``images/{edsr,ignn,ignn-detail}/NAME.png``: the SR outputs;
* ``comparison.png``: for each photo a centre crop, side by side in labelled columns:
  bicubic | EDSR | IGNN | (IGNN-detail |) ground truth, each titled with its PSNR against
  the ground truth;
* ``graph_overlay.png``: the cross-scale graph of one photo, built on the bundled IGNN's
  own embedding, on the photo enlarged to at least 512 px: sampled query patches (white),
  lines to their matches, coloured by rank, the first query's search window (pink), and a
  legend below (see ``docs/graph.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ignn_pyg.data import PhotoDataset, bicubic_upsample, read_image, tensor_to_image, write_image
from ignn_pyg.evaluation.engine import evaluate, make_forward, summarize
from ignn_pyg.evaluation.metrics import psnr
from ignn_pyg.graph.study import draw_overlay
from ignn_pyg.inference.bundled import bundled_weights, default_model, is_bundled
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.precision import PRECISIONS, resolve_precision

CROP = 48  # LR pixels of the comparison crops
#: bundled model -> its column in the table
DEMO_NAMES = {"edsr": "EDSR", "ignn": "IGNN", "ignn_detail": "IGNN-detail"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--ignn", default=None, help="IGNN checkpoint (default: the bundled one)")
    parser.add_argument("--edsr", default=None, help="EDSR checkpoint (default: the bundled one)")
    parser.add_argument(
        "--ignn-detail",
        default=None,
        help="IGNN-detail checkpoint (default: the bundled one where one ships, x2; else no such column)",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default: bf16 where the CPU computes it natively, else fp32 "
        "channels-last), fp32 (the exact path), bf16; see docs/model.md",
    )


def centre_crops(images: list[np.ndarray], lr_size: tuple[int, int], scale: int) -> list[np.ndarray]:
    """The same centre crop (``CROP`` LR pixels, ``scale * CROP`` HR pixels; less for a
    smaller image) of equally sized HR images ``[H, W, 3]``."""
    h, w = lr_size
    side = min(CROP, h, w) * scale
    top, left = (h * scale - side) // 2, (w * scale - side) // 2
    return [image[top : top + side, left : left + side] for image in images]


def crop_titles(crops: list[np.ndarray], labels: list[str], scale: int) -> list[str]:
    """``"LABEL  PSNR dB"`` for every crop but the last (the ground truth, titled by its
    label alone): the Y-channel PSNR of the crop against the ground-truth crop, with the
    protocol's ``scale``-pixel border."""
    truth = crops[-1]
    return [f"{label}  {psnr(crop, truth, scale):.2f} dB" for crop, label in zip(crops[:-1], labels)] + [labels[-1]]


def draw_comparison(names: list[str], crops: list[list[np.ndarray]], labels: list[str], scale: int, path: Path) -> None:
    """One row per photo, one labelled column per method (pixels shown without
    interpolation), each crop titled with its PSNR against the ground truth (last column)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cols = len(labels)
    fig, axes = plt.subplots(
        len(names), cols, figsize=(2.6 * cols, 2.8 * len(names)), squeeze=False, layout="constrained"
    )
    for row, (name, photo_crops) in enumerate(zip(names, crops)):
        for col, (crop, title) in enumerate(zip(photo_crops, crop_titles(photo_crops, labels, scale))):
            ax = axes[row, col]
            ax.imshow(crop, interpolation="nearest")
            ax.set_title(title, fontsize=9, fontweight="bold" if col == cols - 1 else "normal")
            ax.set_xticks([]), ax.set_yticks([])
        axes[row, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(f"x{scale} centre crops, Y-PSNR of each crop against the ground truth", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_comparison(names: list[str], results: dict[str, list[dict]], scale: int) -> str:
    """Markdown table: one row per photo, PSNR/SSIM per method, and the means."""
    methods = list(results)
    header = "| photo | bicubic | " + " | ".join(methods) + " |"
    lines = [
        f"Y-channel PSNR (dB) / SSIM, x{scale}, border {scale} px",
        "",
        header,
        "|" + " --- |" * (len(methods) + 2),
    ]
    first = results[methods[0]]
    for i, name in enumerate(names):
        cells = [f"{first[i]['bicubic_psnr']:.2f} / {first[i]['bicubic_ssim']:.4f}"]
        cells += [f"{results[m][i]['psnr']:.2f} / {results[m][i]['ssim']:.4f}" for m in methods]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    means = {m: summarize(results[m]) for m in methods}
    cells = [f"**{means[methods[0]]['bicubic_psnr']:.2f}** / {means[methods[0]]['bicubic_ssim']:.4f}"]
    cells += [f"**{means[m]['psnr']:.2f}** / {means[m]['ssim']:.4f}" for m in methods]
    lines.append("| mean | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    scale = args.scale
    models = {
        DEMO_NAMES["edsr"]: load_weights(args.edsr or bundled_weights(scale, "edsr"), scale),
        DEMO_NAMES["ignn"]: load_weights(args.ignn or bundled_weights(scale, "ignn"), scale),
    }
    detail = args.ignn_detail or (bundled_weights(scale, "ignn_detail") if is_bundled(scale, "ignn_detail") else None)
    if detail is not None:
        models[DEMO_NAMES["ignn_detail"]] = load_weights(detail, scale)
    dataset = PhotoDataset("eval", scale)
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    samples = [dataset[index] for index in range(count)]  # read and degrade each photo once
    args.out.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(args.precision, "cpu")
    print(f"precision: {precision}")
    results = {}
    for method, model in models.items():
        print(f"{method}: {sum(p.numel() for p in model.parameters()):,} parameters")
        results[method] = evaluate(
            samples, make_forward(model, precision=precision), scale, args.out / "images" / method.lower()
        )
    names = [row["name"] for row in results[DEMO_NAMES["edsr"]]]
    table = format_comparison(names, results, scale)
    print(table)
    (args.out / "table.md").write_text(table + "\n")

    crops = []
    for item, name in zip(samples, names):
        lr = item["lr"][None]
        columns = [tensor_to_image(bicubic_upsample(lr.double(), scale))]
        columns += [read_image(args.out / "images" / method.lower() / f"{name}.png") for method in models]
        columns.append(tensor_to_image(item["hr"][None]))
        crops.append(centre_crops(columns, tuple(lr.shape[-2:]), scale))
    draw_comparison(names, crops, ["bicubic", *models, "ground truth"], scale, args.out / "comparison.png")

    ignn = models[DEMO_NAMES["ignn"]]
    if isinstance(ignn, IGNN):
        lr = samples[0]["lr"][None]
        with torch.no_grad():
            graph = ignn.build_graph(lr)
        write_image(args.out / "graph_overlay.png", draw_overlay(tensor_to_image(lr), graph, sample=40))
    print(
        f"wrote {args.out}/table.md, images/, comparison.png (bicubic | {' | '.join(models)} | ground truth)"
        f"{', graph_overlay.png' if isinstance(ignn, IGNN) else ''}; "
        f"ignn-pyg upscale uses {DEMO_NAMES[default_model(scale)]} at x{scale} by default"
    )
    return 0
