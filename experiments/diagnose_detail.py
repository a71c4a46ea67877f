"""What the gated detail transfer delivers on the oracle test, and what the network keeps.

For an IGNN with ``aggregation="ignn_detail"`` (default: the #32 proof checkpoint
``experiments/results/graph_use/best_x2.pt``) on the 8 oracle test images of
``graph_oracle.py``, per region (oracle: every query has an exact match; control: none
planted):

* the gate and the choice weight of each query's most trusted edge (mean over the
  region's queries), and the share of queries whose gate on it is above 1/2;
* Y-PSNR of bicubic plus the layer's detail map ``D`` alone (what the layer delivers,
  no network), with the model's own graph and with random neighbours (the oracle
  test's control, distances recomputed by the layer), against the whole model's output.

The last row is the layer's prior alone (initial slopes and threshold, the MLP's
output zeroed) on the same graph: what the layer delivers before any training.

Then the same layer on real photos, the eval and the held-out split (whole images, the
model's own graph), per photo: the share of queries whose gate on the most trusted edge
is above 1/2, the RMS of the detail map ``D`` (grey levels, RGB), and what ``D`` adds to
bicubic (Y-PSNR, border 2): whether the photos hold matches exact enough to open the gate,
and where: the median texture (standard deviation of the query's LR patch, grey levels,
mean of RGB) of the queries whose gate is open and of the others.
Writes ``experiments/results/diagnose_detail.{md,json}`` (``--out STEM``: ``STEM.{md,json}``).
One thread, a few minutes.

Usage::

    python experiments/diagnose_detail.py [--weights experiments/results/graph_use/best_x2.pt] [--out STEM]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
from pathlib import Path

import torch
from diagnose_oracle import REPO, RESULTS, lr_region_boxes, region_queries
from graph_oracle import REGIONS, SCALE, oracle_images, region_psnr

from ignn_pyg.data import (
    PhotoDataset,
    bicubic_downsample,
    bicubic_upsample,
    downsample_for_graph,
    image_to_tensor,
    tensor_to_image,
)
from ignn_pyg.evaluation.metrics import psnr
from ignn_pyg.inference.checkpoints import load_checkpoint

DEFAULT = RESULTS / "graph_use" / "best_x2.pt"


def image_rows(model, hr, seed: int) -> dict:
    lr = bicubic_downsample(image_to_tensor(hr), SCALE)
    lr_down = downsample_for_graph(lr, SCALE)
    layer = model.aggregation.detail
    initial = copy.deepcopy(layer)
    out = {}
    with torch.no_grad():
        initial.reset_parameters()  # the prior alone: initial slopes and threshold, MLP's output off
        initial.weight_net[-1].weight.zero_()
        graph = model.build_graph(lr, lr_down)
        random = model.build_graph(lr, lr_down, neighbors="random", generator=torch.Generator().manual_seed(seed))
        bicubic = bicubic_upsample(lr, SCALE)
        images = {
            "model": model(lr, lr_down, graph=graph),
            "bicubic+D": bicubic + layer(lr, graph),
            "bicubic+D, random neighbours": bicubic + layer(lr, random),
            "bicubic+D, initial prior": bicubic + initial(lr, graph),
        }
        choice, gate = (w.view(-1, graph.num_neighbors) for w in layer.match_weights(lr, graph))
    trust = choice * gate
    best = trust.argmax(1, keepdim=True)
    for name, box in lr_region_boxes().items():
        queries = region_queries(graph, box)
        g, c = gate.gather(1, best)[queries, 0], choice.gather(1, best)[queries, 0]
        row = {"gate": float(g.mean()), "choice": float(c.mean()), "open": float((g > 0.5).float().mean())}
        for label, image in images.items():
            row[f"psnr {label}"] = region_psnr(tensor_to_image(image), hr)[name]
        out[name] = row
    return out


def photo_row(model, item: dict) -> dict:
    """The layer on one photo ``item`` (``lr``, ``hr``): gate statistics of each query's
    most trusted edge, the detail map's RMS and bicubic's PSNR with and without it."""
    lr, hr = item["lr"][None], item["hr"][None]
    layer = model.aggregation.detail
    with torch.no_grad():
        graph = model.build_graph(lr, downsample_for_graph(lr, SCALE))
        detail = layer(lr, graph)
        choice, gate = (w.view(-1, graph.num_neighbors) for w in layer.match_weights(lr, graph))
        bicubic = bicubic_upsample(lr, SCALE)
    trusted = gate.gather(1, (choice * gate).argmax(1, keepdim=True))[:, 0]
    is_open = trusted > 0.5
    grey, p = lr.mean(1)[0], graph.target_grid.patch_size
    # each query's patch inside the image (a border patch's top-left lies in the zero padding)
    texture = torch.stack([grey[max(r, 0) : r + p, max(c, 0) : c + p].std() for r, c in graph.target_pos.tolist()])
    return {
        "name": item["name"],
        "gate": float(trusted.mean()),
        "open": float(is_open.float().mean()),
        "texture_open": float(texture[is_open].median()) if is_open.any() else math.nan,
        "texture_closed": float(texture[~is_open].median()),
        "detail_rms": float(detail.pow(2).mean().sqrt()),
        "psnr bicubic": psnr(bicubic, hr, SCALE),
        "psnr bicubic+D": psnr(bicubic + detail, hr, SCALE),
    }


def photo_lines(rows: dict[str, list[dict]]) -> list[str]:
    """Markdown: the layer on each photo of each split (:func:`photo_row`)."""
    lines = [
        "",
        "## On real photos",
        "",
        "The model's own graph on whole photos; most trusted edge as above; D: the detail map (RMS in grey "
        "levels); D's gain: Y-PSNR of bicubic + D minus bicubic (border 2); texture: median standard "
        "deviation of the query's LR patch (grey levels), open gates / the rest.",
        "",
        "| split | photo | gate on the most trusted edge | queries with gate > 1/2 | texture: open / closed | "
        "D RMS | D's gain (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for split, split_rows in rows.items():
        for r in split_rows:
            lines.append(
                f"| {split} | {r['name']} | {r['gate']:.3f} | {r['open']:.2%} | "
                f"{'–' if math.isnan(r['texture_open']) else format(r['texture_open'], '.2f')} / "
                f"{r['texture_closed']:.2f} | {r['detail_rms']:.3f} | "
                f"{r['psnr bicubic+D'] - r['psnr bicubic']:+.4f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random neighbours (image i: seed + i)")
    parser.add_argument(
        "--out",
        default="diagnose_detail",
        metavar="STEM",
        help="write experiments/results/STEM.{md,json} (default: %(default)s)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_checkpoint(args.weights)
    if model.config.aggregation != "ignn_detail" or model.scale != SCALE:
        raise ValueError(f"{args.weights}: expected an x{SCALE} IGNN with aggregation 'ignn_detail'")
    model.eval()
    per_image = {name: image_rows(model, hr, args.seed + i) for i, (name, hr) in enumerate(oracle_images().items())}
    keys = next(iter(per_image.values()))["oracle"]
    summary = {
        region: {k: math.fsum(img[region][k] for img in per_image.values()) / len(per_image) for k in keys}
        for region in REGIONS
    }
    name = os.path.relpath(args.weights.resolve(), REPO)
    o, c = summary["oracle"], summary["control"]
    lines = [
        "# What the gated detail transfer delivers on the oracle test",
        "",
        f"Produced by `python experiments/diagnose_detail.py --weights {name}`; mean over the {len(per_image)} "
        "oracle test images of `graph_oracle.py` (Y-PSNR in dB as the oracle test measures it). Most "
        "trusted edge: the query's edge with the largest choice × gate.",
        "",
        "| quantity | oracle region | control region |",
        "| --- | --- | --- |",
        f"| gate on the most trusted edge | {o['gate']:.3f} | {c['gate']:.3f} |",
        f"| choice weight on the most trusted edge | {o['choice']:.3f} | {c['choice']:.3f} |",
        f"| queries whose gate there is above 1/2 | {o['open']:.1%} | {c['open']:.1%} |",
    ]
    for label in ("model", "bicubic+D", "bicubic+D, random neighbours", "bicubic+D, initial prior"):
        lines.append(f"| PSNR: {label} | {o[f'psnr {label}']:.2f} | {c[f'psnr {label}']:.2f} |")
    photos = {split: [photo_row(model, item) for item in PhotoDataset(split, SCALE)] for split in ("eval", "held_out")}
    text = "\n".join(lines + photo_lines(photos)) + "\n"
    (RESULTS / f"{args.out}.md").write_text(text)
    (RESULTS / f"{args.out}.json").write_text(
        json.dumps({"model": name, "summary": summary, "per_image": per_image, "photos": photos}, indent=1) + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
