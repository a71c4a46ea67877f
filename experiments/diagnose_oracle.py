"""Where does the authors' aggregation lose an exact match?  A diagnosis on the oracle test.

The oracle test (``graph_oracle.py``) gives every query of one region ("oracle") an
exact cross-scale match whose HR counterpart is the ground truth; the bundled IGNN x2
turns that into 0.3 dB where training-free graph SR takes 5.6 dB.  This script follows
the exact match through the bundled model's layer, on the same 8 test images, with no
training:

1. **The graph**: the fraction of each region's queries whose rank-0 neighbour is
   pixel-exact (mean absolute RGB difference of the 3x3 patches under 1 grey level, on
   the model's own images ``lr`` and ``down(lr)``), and whose ``k`` neighbours hold one.
2. **The weights** (reference fusion): the per-pixel softmax weight on rank 0 of the HR
   and of the LR branch, mean over the region's LR pixels (uniform would be ``1/k``).
3. **AdaIN**: for every rank-0 edge of the region, per channel, the gain
   ``sigma(x_i) / sigma(h_j)`` the normalisation applies to the neighbour's centred HR
   features (1: the HR detail passes at its own amplitude), and the relative change
   ``||m - h_j|| / ||h_j||`` of the message against the raw HR features.
4. **The output**: Y-PSNR of each region (as the oracle test measures it) with the
   layer as it is, then with its output changed: random neighbours (the oracle test's
   control), the HR branch zeroed, the LR branch zeroed, both zeroed; all weight on
   rank 0 (the exact match in the oracle region); all weight on rank 0 *and* the raw HR
   features instead of AdaIN's.  The RMS change of the output (grey levels) against the
   layer as it is, beside the RMS error the bicubic image has there, says how far the
   branch moves the image compared with the error on offer.
5. **The fusion** ``fuse_hr``: the RMS of its first convolution's output from the HR
   branch's input channels against that from the upsampled LR features (bias left out),
   in each region; and the share of its output channels that are zero at every pixel of
   every test image (dead ReLUs pass nothing of either branch).

Writes ``experiments/results/diagnose_oracle.{md,json}``.  One thread, about a minute.

Usage::

    python experiments/diagnose_oracle.py [--weights ignn_pyg/weights/ignn_x2_compact.pt]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from graph_oracle import HALF, MARGIN, REGIONS, SCALE, oracle_images, region_psnr

from ignn_pyg.data import bicubic_downsample, bicubic_upsample, downsample_for_graph, image_to_tensor, tensor_to_image
from ignn_pyg.graph.patches import extract_patches, fold_patches, pad_channels_last, patch_windows
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.nn.cross_scale_aggregation import centered_patch_stats, hr_source_patches, hr_source_windows

RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parents[1]
EXACT = 1.0  # grey levels: a rank-0 neighbour this close (mean |RGB difference| of the 3x3 patches) is exact
#: the output changes of step 4, in table order
VARIANTS = ("own", "random", "hr_zero", "lr_zero", "both_zero", "rank0", "rank0_raw")
LR_BORDER = (SCALE + MARGIN) // SCALE  # LR pixels the region's PSNR leaves out at each seam


def lr_region_boxes() -> dict[str, tuple[slice, slice]]:
    """The LR pixels of each region that its PSNR sees."""
    out = {}
    for name, (rows, cols) in REGIONS.items():
        out[name] = (
            slice(rows.start // SCALE + LR_BORDER, rows.stop // SCALE - LR_BORDER),
            slice(cols.start // SCALE + LR_BORDER, cols.stop // SCALE - LR_BORDER),
        )
    return out


def region_queries(graph, box: tuple[slice, slice]) -> torch.Tensor:
    """Ids of the queries whose patch centre lies in ``box`` (image 0)."""
    centre = graph.target_pos + graph.target_grid.patch_size // 2
    rows, cols = box
    inside = (
        (centre[:, 0] >= rows.start)
        & (centre[:, 0] < rows.stop)
        & (centre[:, 1] >= cols.start)
        & (centre[:, 1] < cols.stop)
    )
    return inside.nonzero().view(-1)


def patch_distance(lr: torch.Tensor, lr_down: torch.Tensor, graph) -> torch.Tensor:
    """Mean absolute RGB difference (grey levels) of every edge's 3x3 query and source
    patches, ``[M, k]``."""
    p, t = graph.target_grid.patch_size, graph.target_grid.stride
    queries, _ = extract_patches(lr, p, t)
    sources, _ = extract_patches(lr_down, p, t)
    src, dst = graph.edge_index
    return (queries[0][dst] - sources[0][src]).abs().mean(-1).view(-1, graph.num_neighbors)


def aggregate(layer, x: torch.Tensor, graph, weights: str, adain: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference fusion of ``layer`` (a :class:`~ignn_pyg.nn.CrossScaleAggregation`)
    with its weights (``"own"``) or all weight on rank 0 (``"rank0"``), and AdaIN
    messages or the raw HR source features: ``(lr [B, C, H, W], hr [B, C, sH, sW])``."""
    b, k, s = graph.batch_size, graph.num_neighbors, layer.scale
    grid = graph.target_grid
    hr_grid = grid.scaled(s)
    if adain:
        queries = patch_windows(pad_channels_last(x, grid), grid.patch_size, grid.stride)
        _, target_mean, target_std = centered_patch_stats(queries, layer.eps)
        maps = list(
            layer._propagated_rank_maps(
                hr_source_windows(x, graph.source_grid, s), target_mean, target_std, graph, None
            )
        )
    else:
        sources = hr_source_patches(x, graph.source_grid, s).flatten(0, 1)
        maps = [
            fold_patches(sources[graph.edge_index[0, r::k]].view(b, grid.num_patches, -1), hr_grid) for r in range(k)
        ]
    hr_weight, lr_weight = layer._rank_weights(graph)
    if weights == "rank0":
        hr_weight, lr_weight = torch.zeros_like(hr_weight), torch.zeros_like(lr_weight)
        hr_weight[:, 0], lr_weight[:, 0] = 1.0, 1.0
    hr = sum(hr_weight[:, r] * maps[r] for r in range(k))
    lr = sum(lr_weight[:, r] * layer.downsample(maps[r]) for r in range(k))
    return lr, hr


@contextmanager
def replaced_aggregation(model, variant: str):
    """Inside: ``model.aggregation`` returns ``variant``'s output (step 4)."""

    def hook(module, args, output):
        lr, hr = output
        if variant == "hr_zero":
            return lr, torch.zeros_like(hr)
        if variant == "lr_zero":
            return torch.zeros_like(lr), hr
        if variant == "both_zero":
            return torch.zeros_like(lr), torch.zeros_like(hr)
        if variant in ("rank0", "rank0_raw"):
            return aggregate(module, args[0], args[1], "rank0", adain=variant == "rank0")
        return output

    handle = model.aggregation.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def adain_gains(layer, x: torch.Tensor, graph, queries: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Step 3 on the rank-0 edges of ``queries``: per (edge, channel) gains
    ``sigma(x_i) / sigma(h_j)`` and per edge relative changes ``||m - h_j|| / ||h_j||``."""
    grid, s, k = graph.target_grid, layer.scale, graph.num_neighbors
    q_windows = patch_windows(pad_channels_last(x, grid), grid.patch_size, grid.stride)
    _, q_mean, q_std = centered_patch_stats(q_windows, layer.eps)
    s_windows = hr_source_windows(x, graph.source_grid, s)
    centered, s_mean, s_std = centered_patch_stats(s_windows, layer.eps)
    c = x.shape[1]
    q_mean, q_std = q_mean.reshape(-1, c)[queries], q_std.reshape(-1, c)[queries]
    src = graph.edge_index[0, queries * k]  # rank 0
    h = s_windows.reshape(-1, *s_windows.shape[3:])[src]  # [n, q, q, C]
    hc = centered.reshape(-1, *centered.shape[3:])[src]
    gain = q_std / s_std.reshape(-1, c)[src]  # [n, C]
    message = hc * gain[:, None, None] + q_mean[:, None, None]
    change = (message - h).flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1).clamp_min(1e-12)
    return gain.numpy().ravel(), change.numpy()


def rms(a: torch.Tensor) -> float:
    return float(a.double().square().mean().sqrt())


def diagnose_image(model, hr: np.ndarray, seed: int, dead: dict) -> dict:
    lr = bicubic_downsample(image_to_tensor(hr), SCALE)
    lr_down = downsample_for_graph(lr, model.graph_scale)
    layer = model.aggregation
    boxes = lr_region_boxes()
    captured = {}
    hooks = [
        model.aggregation.register_forward_pre_hook(lambda m, a: captured.__setitem__("x", a[0])),
        model.fuse_hr.register_forward_pre_hook(lambda m, a: captured.__setitem__("fuse_in", a[0])),
        model.fuse_hr.register_forward_hook(lambda m, a, o: captured.__setitem__("fuse_out", o)),
    ]
    out = {"regions": {name: {} for name in REGIONS}}
    with torch.no_grad():
        graph = model.build_graph(lr, lr_down)
        own = model(lr, lr_down, graph=graph)
        for hook in hooks:
            hook.remove()
        x, fuse_in = captured["x"], captured["fuse_in"]
        alive = (captured["fuse_out"] > 0).flatten(2).any(-1).any(0)  # [C] any positive pixel
        dead["alive"] = alive if dead.get("alive") is None else dead["alive"] | alive
        lr_ref, hr_ref = layer(x, graph)
        lr_own, hr_own = aggregate(layer, x, graph, "own", adain=True)
        assert torch.allclose(hr_own, hr_ref, atol=1e-3) and torch.allclose(lr_own, lr_ref, atol=1e-3)
        distance = patch_distance(lr, lr_down, graph)
        hr_weight, lr_weight = layer.rank_weights(graph)  # [B, k, H, W]
        outputs = {"own": own}
        random = model.build_graph(lr, lr_down, neighbors="random", generator=torch.Generator().manual_seed(seed))
        outputs["random"] = model(lr, lr_down, graph=random)
        for variant in VARIANTS[2:]:
            with replaced_aggregation(model, variant):
                outputs[variant] = model(lr, lr_down, graph=graph)
        bicubic = bicubic_upsample(lr, SCALE)
        truth = image_to_tensor(hr)
        c = model.config.n_feats
        weight = model.fuse_hr[0].weight
        from_up = F.conv2d(fuse_in[:, :c], weight[:, :c], padding=1)
        from_hr = F.conv2d(fuse_in[:, c:], weight[:, c:], padding=1)
    for name, box in boxes.items():
        row = out["regions"][name]
        queries = region_queries(graph, box)
        d = distance[queries]
        row["rank0_exact"] = float((d[:, 0] < EXACT).float().mean())
        row["any_exact"] = float((d < EXACT).any(1).float().mean())
        row["hr_weight_rank0"] = float(hr_weight[0, 0][box].mean())
        row["lr_weight_rank0"] = float(lr_weight[0, 0][box].mean())
        gains, changes = adain_gains(layer, x, graph, queries)
        row["adain_gain_geomean"] = float(np.exp(np.log(gains).mean()))
        row["adain_gain_median"] = float(np.median(gains))
        row["adain_change_median"] = float(np.median(changes))
        hr_rows, hr_cols = REGIONS[name]
        inner = (
            slice(hr_rows.start + SCALE + MARGIN, hr_rows.stop - SCALE - MARGIN),
            slice(hr_cols.start + SCALE + MARGIN, hr_cols.stop - SCALE - MARGIN),
        )
        row["bicubic_rms_error"] = rms((bicubic - truth)[..., inner[0], inner[1]])
        row["own_rms_error"] = rms((own - truth)[..., inner[0], inner[1]])
        for variant, image in outputs.items():
            row[f"psnr_{variant}"] = region_psnr(tensor_to_image(image), hr)[name]
            row[f"rms_change_{variant}"] = rms((image - own)[..., inner[0], inner[1]])
        row["fuse_from_hr_rms"] = rms(from_hr[..., inner[0], inner[1]])
        row["fuse_from_up_rms"] = rms(from_up[..., inner[0], inner[1]])
    return out


def mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def write_report(path: Path, per_image: dict, summary: dict, fusion: dict) -> str:
    m = summary

    def both(key: str, spec: str = ".3f") -> str:
        return f"{format(m['oracle'][key], spec)} | {format(m['control'][key], spec)}"

    lines = [
        "# Where the authors' layer loses an exact match (oracle test, bundled IGNN x2)",
        "",
        f"Produced by `python experiments/diagnose_oracle.py` on `{os.path.relpath(path.resolve(), REPO)}`; "
        "mean over the "
        f"{len(per_image)} oracle test images of `graph_oracle.py` (oracle region: every query's exact HR "
        "counterpart is in the image; control region: none planted). No training.",
        "",
        "| quantity | oracle region | control region |",
        "| --- | --- | --- |",
        f"| queries whose rank-0 neighbour is pixel-exact (< {EXACT:g} grey level, 3x3 RGB) | "
        f"{both('rank0_exact', '.1%')} |",
        f"| queries with a pixel-exact neighbour among the k | {both('any_exact', '.1%')} |",
        f"| HR-branch softmax weight on rank 0 (uniform: 0.2) | {both('hr_weight_rank0')} |",
        f"| LR-branch softmax weight on rank 0 | {both('lr_weight_rank0')} |",
        f"| AdaIN gain sigma(x_i)/sigma(h_j) on rank-0 edges, geometric mean over edges x channels | "
        f"{both('adain_gain_geomean')} |",
        f"| AdaIN gain, median | {both('adain_gain_median')} |",
        f"| relative change of the rank-0 message against the raw HR features, median | "
        f"{both('adain_change_median')} |",
        f"| fuse_hr conv 1: RMS of the part from the HR branch | {both('fuse_from_hr_rms')} |",
        f"| fuse_hr conv 1: RMS of the part from the upsampled LR features | {both('fuse_from_up_rms')} |",
        f"| RMS error of bicubic (grey levels) | {both('bicubic_rms_error', '.2f')} |",
        f"| RMS error of the model (grey levels) | {both('own_rms_error', '.2f')} |",
        "",
        f"fuse_hr output channels zero at every pixel of every test image: {fusion['dead_channels']} of "
        f"{fusion['channels']}.",
        "",
        "Output with the aggregation's output changed (Y-PSNR in dB as in the oracle test; Δ against the "
        "layer as it is; RMS change of the RGB output in grey levels):",
        "",
        "| variant | oracle: PSNR | oracle: Δ | oracle: RMS change | control: PSNR | control: Δ | "
        "control: RMS change |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {
        "own": "the layer as it is",
        "random": "random neighbours (the oracle test's control)",
        "hr_zero": "HR branch zeroed",
        "lr_zero": "LR branch zeroed",
        "both_zero": "both branches zeroed",
        "rank0": "all weight on rank 0",
        "rank0_raw": "all weight on rank 0, raw HR features (no AdaIN)",
    }
    for v in VARIANTS:
        o, c = m["oracle"], m["control"]
        lines.append(
            f"| {labels[v]} | {o[f'psnr_{v}']:.2f} | {o[f'psnr_{v}'] - o['psnr_own']:+.3f} | "
            f"{o[f'rms_change_{v}']:.2f} | {c[f'psnr_{v}']:.2f} | {c[f'psnr_{v}'] - c['psnr_own']:+.3f} | "
            f"{c[f'rms_change_{v}']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="an IGNN x2 (default: the bundled one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random neighbours (image i: seed + i)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = args.weights or bundled_weights(SCALE, "ignn")
    model, _ = load_checkpoint(path)
    model.eval()
    if model.config.fusion != "reference" or model.config.aggregation != "ignn" or model.scale != SCALE:
        raise ValueError(
            f"{path}: the diagnosis follows the authors' layer (aggregation 'ignn', reference fusion) at x{SCALE}"
        )
    dead = {}
    per_image = {
        name: diagnose_image(model, hr, args.seed + i, dead) for i, (name, hr) in enumerate(oracle_images().items())
    }
    summary = {
        region: {
            key: mean(img["regions"][region][key] for img in per_image.values())
            for key in next(iter(per_image.values()))["regions"][region]
        }
        for region in REGIONS
    }
    fusion = {"dead_channels": int((~dead["alive"]).sum()), "channels": int(dead["alive"].numel())}
    text = write_report(path, per_image, summary, fusion)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "diagnose_oracle.md").write_text(text)
    (RESULTS / "diagnose_oracle.json").write_text(
        json.dumps(
            {
                "model": os.path.relpath(path.resolve(), REPO),
                "exact_grey_levels": EXACT,
                "half": HALF,
                "summary": summary,
                "fusion": fusion,
                "per_image": per_image,
            },
            indent=1,
        )
        + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
