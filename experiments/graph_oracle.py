"""Can a trained IGNN use its graph when the graph holds the answer?  The oracle test.

Graph reliance on real photos is small (``docs/study.md``).  That could mean the
network ignores its neighbours, or that the photos offer little cross-scale recurrence
to exploit.  This test separates the two with images in which the graph is exact.

For each eval photo, two ``2A x 2A`` HR crops ``P`` (the centre) and ``Q`` (another
place) give the HR test image (x2)::

    I = [ P | down(P) ]      P: 2A x 2A,  down = MATLAB bicubic / 2
        [   | down(Q) ]      right column: A wide, down(P) above down(Q)

Its LR image ``down(I)`` holds ``down(P)`` on the left and ``down(down(P))`` in the top
right.  The graph searches ``down(down(I))``, whose left part is ``down(down(P))`` again:
every query in the top-right ("oracle") region has an exact match there, and that
match's HR counterpart (the LR region at twice its position, ``down(P)``) is exactly
the ground truth of the query (``I``'s top right is ``down(P)``).  The bottom right
("control") region has no planted match.  The image is small enough (``A`` = 80, so
the downsampled grid is at most 30 patches wide) that every query searches globally.

Per model it reports the Y-PSNR (border 2, plus 4 px kept clear of each region's
seams) of the oracle and control regions with the model's own graph, with random
neighbours (:mod:`ignn_pyg.graph.controls`) and the reliance (own minus random); as
the test's own check, the training-free graph SR (:mod:`ignn_pyg.models.internal_sr`) and
bicubic.  A network that uses its graph gains far more in the oracle region than in
the control region.  Writes ``experiments/results/graph_oracle.{md,json}``.

The table grows: a model's row is replaced when it is run again, and the rows of models
not run this time stay (run folders may be gone on another machine).  A file whose
SHA-256 matches its row is not scored again unless ``--recompute``.  A model's
iteration counts all its training stages (``experiments/bundle_weights.py``).

Usage::

    python experiments/graph_oracle.py                     # bundled IGNN x2 + finished study runs
    python experiments/graph_oracle.py --weights a.pt b.pt [--recompute]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from bundle_weights import training_stages  # this folder: the history a bundled file records

from ignn_pyg.data import (
    bicubic_downsample,
    bicubic_upsample,
    downsample_for_graph,
    image_to_tensor,
    list_photos,
    load_photo,
    tensor_to_image,
)
from ignn_pyg.data.photos import file_sha256
from ignn_pyg.evaluation.metrics import psnr
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.models import IGNN
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr

RESULTS = Path(__file__).resolve().parent / "results"
SCALE, HALF = 2, 80  # x2; the right column is HALF HR pixels wide, P is 2 HALF square
MARGIN = 4  # HR pixels kept clear of each region's seams (plus the protocol's border)
REGIONS = {
    "oracle": (slice(0, HALF), slice(2 * HALF, 3 * HALF)),
    "control": (slice(HALF, 2 * HALF), slice(2 * HALF, 3 * HALF)),
}


def down(image: np.ndarray) -> np.ndarray:
    """MATLAB-bicubic downscale by 2 of ``[H, W, 3]`` uint8, rounded to uint8."""
    return tensor_to_image(bicubic_downsample(image_to_tensor(image), SCALE))


def oracle_image(photo: np.ndarray) -> np.ndarray:
    """The ``2 HALF x 3 HALF`` HR test image of the module docstring from one photo."""
    h, w = photo.shape[:2]
    side = 2 * HALF
    top, left = (h - side) // 2, (w - side) // 2
    p = photo[top : top + side, left : left + side]
    q = photo[:side, :side] if (top, left) != (0, 0) else photo[-side:, -side:]
    return np.concatenate([p, np.concatenate([down(p), down(q)], 0)], 1)


def region_psnr(sr: np.ndarray, hr: np.ndarray) -> dict[str, float]:
    """Y-PSNR of each region, ``MARGIN`` pixels inside it (plus border ``SCALE``)."""
    return {name: psnr(sr[rows, cols], hr[rows, cols], SCALE + MARGIN) for name, (rows, cols) in REGIONS.items()}


def model_scores(model: IGNN, hr: np.ndarray, seed: int) -> dict[str, float]:
    """Own-graph and random-neighbour PSNR of each region, and their difference."""
    lr = bicubic_downsample(image_to_tensor(hr), SCALE)
    lr_down = downsample_for_graph(lr, model.graph_scale)
    scores = {}
    with torch.no_grad():
        for control in ("own", "random"):
            graph = model.build_graph(
                lr,
                lr_down,
                neighbors=None if control == "own" else control,
                generator=torch.Generator().manual_seed(seed),
            )
            for region, value in region_psnr(tensor_to_image(model(lr, lr_down, graph=graph)), hr).items():
                scores[f"{region}_{control}"] = value
    for region in REGIONS:
        scores[f"{region}_reliance"] = scores[f"{region}_own"] - scores[f"{region}_random"]
    return scores


def baseline_scores(hr: np.ndarray) -> dict[str, float]:
    """Bicubic and training-free graph SR PSNR of each region (the test's own check)."""
    lr = bicubic_downsample(image_to_tensor(hr), SCALE)
    bicubic = tensor_to_image(bicubic_upsample(lr, SCALE))
    graph_sr = tensor_to_image(internal_sr(lr, InternalSRConfig(scale=SCALE))[0])
    return {
        **{f"{r}_bicubic": v for r, v in region_psnr(bicubic, hr).items()},
        **{f"{r}_graph_sr": v for r, v in region_psnr(graph_sr, hr).items()},
    }


@functools.cache
def oracle_images() -> dict[str, np.ndarray]:
    """The test image of every eval photo, by photo name."""
    return {name: oracle_image(load_photo(name)) for name in list_photos("eval")}


def oracle_scores(model: IGNN, seed: int = 0) -> dict[str, dict[str, float]]:
    """:func:`model_scores` on every photo's test image (neighbour seed ``seed + i``):
    ``{"per_image": {name: scores}, "mean": scores}``."""
    per_image = {name: model_scores(model, hr, seed + i) for i, (name, hr) in enumerate(oracle_images().items())}
    keys = next(iter(per_image.values()))
    return {"per_image": per_image, "mean": {k: mean([s[k] for s in per_image.values()]) for k in keys}}


def default_models() -> list[Path]:
    """The bundled IGNN x2 and every finished study run that aggregates a cross-scale graph."""
    runs = sorted(Path("runs/study_graph").glob("*/seed*/last.pt"))
    return [bundled_weights(SCALE, "ignn"), *runs]


def mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def model_row(path: Path, previous: dict | None, seed: int, recompute: bool) -> dict | None:
    """The table row of checkpoint ``path`` (``previous`` reused when it scored the same
    file), or ``None`` for a model the test does not apply to (not an x2 IGNN on a
    cross-scale graph)."""
    sha256 = file_sha256(path)
    if previous is not None and previous.get("sha256") == sha256 and not recompute:
        return previous
    model, payload = load_checkpoint(path)
    if not isinstance(model, IGNN) or not model.uses_cross_scale_graph or model.scale != SCALE:
        return None
    iteration = sum(stage["iteration"] for stage in training_stages(payload))
    return {
        "model": os.path.relpath(path),
        "sha256": sha256,
        "iteration": iteration,
        **oracle_scores(model.eval(), seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="+", type=Path, help="IGNN x2 checkpoints (default: see above)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random neighbours")
    parser.add_argument("--recompute", action="store_true", help="score again the files the table already has")
    args = parser.parse_args()
    images = oracle_images()
    stored = (
        json.loads((RESULTS / "graph_oracle.json").read_text()) if (RESULTS / "graph_oracle.json").is_file() else {}
    )
    baselines = stored.get("baselines") if not args.recompute else None
    if baselines is None or set(baselines) != set(images):
        baselines = {name: baseline_scores(hr) for name, hr in images.items()}
    rows = {row["model"]: row for row in stored.get("models", [])}
    for path in args.weights or default_models():
        row = model_row(path, rows.get(os.path.relpath(path)), args.seed, args.recompute)
        if row is None:
            continue
        rows[row["model"]] = row
        m = row["mean"]
        print(
            f"{path}: oracle reliance {m['oracle_reliance']:+.3f} dB, control {m['control_reliance']:+.3f} dB",
            flush=True,
        )
    results = sorted(rows.values(), key=lambda row: (not row["model"].startswith("ignn_pyg"), row["model"]))
    base = {k: mean([b[k] for b in baselines.values()]) for k in next(iter(baselines.values()))}
    lines = [
        "# Oracle recurrence: does a trained IGNN use its graph when the graph is exact?",
        "",
        "Produced by `python experiments/graph_oracle.py` (see its docstring for the test images).  "
        f"Mean over the {len(images)} eval photos; Y-PSNR in dB of the oracle region (every query's "
        "exact HR counterpart is in the image and the search is global) and the control region (no "
        "planted match); reliance = own graph minus random neighbours; iteration = all training stages.",
        "",
        f"Bicubic: oracle {base['oracle_bicubic']:.2f}, control {base['control_bicubic']:.2f}.  "
        f"Training-free graph SR (the test's check): oracle {base['oracle_graph_sr']:.2f}, "
        f"control {base['control_graph_sr']:.2f}.",
        "",
        "| model | iteration | oracle: own | oracle: random | oracle reliance | control: own | "
        "control: random | control reliance |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        m = r["mean"]
        lines.append(
            f"| {r['model']} | {r['iteration']} | {m['oracle_own']:.2f} | {m['oracle_random']:.2f} | "
            f"{m['oracle_reliance']:+.3f} | {m['control_own']:.2f} | {m['control_random']:.2f} | "
            f"{m['control_reliance']:+.3f} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "graph_oracle.md").write_text(text)
    (RESULTS / "graph_oracle.json").write_text(
        json.dumps({"baselines": baselines, "baseline_mean": base, "models": results}, indent=1) + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
