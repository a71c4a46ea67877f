"""The numbers docs/model_zoo.md reports for every bundled model, from the files themselves.

For each model in ``ignn_pyg/weights`` (:data:`ignn_pyg.inference.bundled.BUNDLED`): its recipe
and cost (iterations and training hours summed over its training stages, from the file's
own record), trainable parameters, file size, the eval photos' PSNR/SSIM (whole
images, Y, border = scale, the exact fp32 path, per photo and on average, with
bicubic), for IGNN its graph reliance
(:func:`ignn_pyg.evaluation.probe_graph`: own graph minus random neighbours and minus
permuted neighbour lists), and the wall time of ``ignn-pyg upscale``'s default path
(whole image, ``--precision auto``) on a 640x400 photo (the top 400 rows of the eval
photo ``rocket``; best of ``--repeats``, after one warm-up), with the machine's load
average printed beside it, since other jobs slow it.  Writes
``experiments/results/model_zoo.{md,json}``.

The quality numbers of a file already in ``model_zoo.json`` (same SHA-256) are reused
unless ``--recompute``; the time is always measured afresh, so it can be re-measured
alone on an idle machine.  With ``--models``, the other bundled models keep their rows
(time included) while their files are unchanged.

Usage::

    python experiments/zoo_report.py [--models ignn_x2 edsr_x2] [--limit N] [--repeats 3] [--recompute]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from bundle_weights import training_stages  # this folder: the history a bundled file records

from ignn_pyg.commands.upscale import upscale_image
from ignn_pyg.data import PhotoDataset, list_photos, load_photo
from ignn_pyg.data.photos import file_sha256
from ignn_pyg.evaluation import evaluate, make_forward, probe_graph, summarize
from ignn_pyg.evaluation.dead_channels import DeadChannelCounter
from ignn_pyg.inference.bundled import BUNDLED, WEIGHTS_DIR
from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.runtime.precision import describe_cpu, resolve_precision

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent  # the repository
TIMED_PHOTO, TIMED_SIZE = "rocket", (400, 640)  # rows, columns of the timed LR image


def upscale_seconds(model: torch.nn.Module, repeats: int) -> float:
    """Best wall time of ``ignn-pyg upscale``'s default path on the 640x400 photo (puts
    ``model`` in that path's memory layout)."""
    precision = resolve_precision("auto", "cpu")
    precision.prepare_model(model)
    image = load_photo(TIMED_PHOTO)[: TIMED_SIZE[0], : TIMED_SIZE[1]]
    times = []
    for _ in range(repeats + 1):  # the first one warms up
        start = time.perf_counter()
        upscale_image(model, image, max_pixels=512 * 512, tile=256, overlap=16, precision=precision)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def report_model(arch: str, scale: int, limit: int | None, repeats: int, known: dict[str, dict]) -> dict:
    """One bundled model's entry (:func:`report_file`)."""
    return report_file(WEIGHTS_DIR / BUNDLED[(arch, scale)], f"{arch}_x{scale}", limit, repeats, known)


def report_file(path: Path, name: str, limit: int | None, repeats: int, known: dict[str, dict]) -> dict:
    """The entry of checkpoint ``path`` (a bundled file or a run's ``last.pt``) as model
    ``name``; quality numbers come from ``known`` (by SHA-256) when there; no upscale
    time (``None``) with ``repeats`` 0."""
    sha256 = file_sha256(path)
    model, payload = load_checkpoint(path)
    model.eval()
    quality = known.get(sha256)
    if (
        quality is None
        or "dead_channels" not in quality  # a row from before dead channels were counted
        or (limit is None and len(quality["images"]) < len(list_photos("eval")))
    ):
        dataset = PhotoDataset("eval", model.scale)
        with tempfile.TemporaryDirectory() as images, DeadChannelCounter(model) as counter:
            rows = evaluate(dataset, make_forward(model), model.scale, images, limit=limit, progress=False)
        if isinstance(model, IGNN):
            rows = probe_graph(model, dataset, rows, seed=0, progress=False)
        quality = {"images": rows, "mean": summarize(rows), "dead_channels": counter.counts()}
    stages = training_stages(payload)
    return {
        "model": name,
        "file": os.path.relpath(path, WEIGHTS_DIR if path.parent == WEIGHTS_DIR else ROOT),
        "sha256": sha256,
        "megabytes": path.stat().st_size / 2**20,
        "weights_megabytes": sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20,
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "iterations": sum(s["iteration"] or 0 for s in stages),
        "training_hours": sum(s["training_seconds"] or 0 for s in stages) / 3600,
        "recipe": [{k: s["train_config"].get(k) for k in ("model", "data", "optim")} for s in stages],
        "images": quality["images"],
        "mean": quality["mean"],
        "dead_channels": quality["dead_channels"],
        "upscale_640x400_seconds": upscale_seconds(model, repeats) if repeats else None,
        "load_average": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
        "cpu": describe_cpu(),
    }


def kept_row(stored: list[dict], arch: str, scale: int) -> dict | None:
    """The stored row of a bundled model not measured this run, if it describes the file
    now bundled (same SHA-256); else ``None``, said in one line."""
    sha256 = file_sha256(WEIGHTS_DIR / BUNDLED[(arch, scale)])
    row = next((r for r in stored if r["model"] == f"{arch}_x{scale}"), None)
    if row is not None and row.get("sha256") == sha256:
        return row
    print(f"{arch}_x{scale}: left out, its file changed since it was measured (run it with --models)")
    return None


def _seconds(report: dict) -> str:
    """The upscale time with the load it was measured at, or a dash if not measured."""
    if report["upscale_640x400_seconds"] is None:
        return "–"
    return f"{report['upscale_640x400_seconds']:.1f} (load {report['load_average']:.1f}, {report['threads']} threads)"


def _dead(report: dict) -> str:
    """Dead ReLU channels over all ReLU modules, and of IGNN's HR fusion (its last ReLU, right
    before the output convolution)."""
    counts = report["dead_channels"]
    dead, total = (sum(c[i] for c in counts.values()) for i in (0, 1))
    if total == 0:  # no ReLU module (EDSR's are all inside its residual blocks)
        return "–"
    text = f"{dead}/{total}"
    fusion = [name for name in counts if name.startswith("fuse_hr.")]  # in module order
    if fusion:
        text += " ({}/{} in fuse_hr)".format(*counts[fusion[-1]])
    return text


def _timed_on(reports: list[dict]) -> list[str]:
    """Markdown lines naming the CPU each upscale time was measured on (one line when they
    share one; rows from before the CPU was recorded say so)."""
    timed = [r for r in reports if r["upscale_640x400_seconds"] is not None]
    cpus = {r["model"]: r.get("cpu", "a CPU not recorded") for r in timed}
    if not cpus:
        return []
    if len(set(cpus.values())) == 1:
        return [f"Upscale timed on {next(iter(cpus.values()))}.", ""]
    return ["Upscale timed on: " + "; ".join(f"{model}: {cpu}" for model, cpu in cpus.items()) + ".", ""]


def format_report(
    reports: list[dict],
    title: str = "Bundled models (produced by `python experiments/zoo_report.py`)",
    bundled: bool = True,
) -> str:
    """The Markdown page: the summary table (the bundled files' total size when
    ``bundled``), then a per-photo table per scale."""
    lines = [
        f"# {title}",
        "",
        "Eval photos, whole images, Y channel, border = scale, fp32 exact path.  Reliance = PSNR with "
        "the model's own graph minus PSNR with random neighbours (permuted neighbour lists in "
        "brackets).  Upscale: `ignn-pyg upscale` default path (`--precision auto`) on a 640x400 photo, "
        "best of the repeats, with the 1-minute load average when measured.  Weights MiB: the model's "
        "tensors (a run's checkpoint file also holds its optimiser state).  Dead: ReLU channels that "
        "never fire on the eval photos (`ignn_pyg.evaluation.dead_channels`), "
        "in all ReLU modules (not the residual blocks' "
        "functional ReLUs) and in IGNN's HR fusion.",
        "",
        "| model | params | weights MiB | iterations | train h | bicubic | PSNR / SSIM | gain (dB) | reliance (dB) | "
        "dead | upscale 640x400 (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in reports:
        m = r["mean"]
        reliance = f"{m['reliance_random']:+.3f} ({m['reliance_permuted']:+.3f})" if "reliance_random" in m else "–"
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['weights_megabytes']:.2f} | {r['iterations']} | "
            f"{r['training_hours']:.2f} | {m['bicubic_psnr']:.3f} | {m['psnr']:.3f} / {m['ssim']:.4f} | "
            f"{m['psnr'] - m['bicubic_psnr']:+.3f} | {reliance} | {_dead(r)} | {_seconds(r)} |"
        )
    lines += [""] + _timed_on(reports)
    lines += [f"All bundled files: {sum(r['megabytes'] for r in reports):.2f} MiB.", ""] if bundled else []
    for scale in sorted({r["recipe"][-1]["data"]["scale"] for r in reports}):
        of_scale = [r for r in reports if r["recipe"][-1]["data"]["scale"] == scale]
        lines += [
            f"Per photo, x{scale} (PSNR / SSIM):",
            "",
            "| photo | bicubic | " + " | ".join(r["model"] for r in of_scale) + " |",
            "| --- | --- | " + " | ".join("---" for _ in of_scale) + " |",
        ]
        for i, first in enumerate(of_scale[0]["images"]):
            lines.append(
                f"| {first['name']} | {first['bicubic_psnr']:.2f} / {first['bicubic_ssim']:.4f} | "
                + " | ".join(f"{r['images'][i]['psnr']:.2f} / {r['images'][i]['ssim']:.4f}" for r in of_scale)
                + " |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    retain_freed_memory()  # as the ignn-pyg command does: the timed path is the command's
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models", nargs="+", metavar="ARCH_xS", help="only these (default: every bundled file present)"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N eval photos")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--recompute", action="store_true", help="evaluate again even if model_zoo.json has this file's numbers"
    )
    args = parser.parse_args()
    stored = json.loads((RESULTS / "model_zoo.json").read_text()) if (RESULTS / "model_zoo.json").is_file() else []
    known = {} if args.recompute else {r["sha256"]: r for r in stored if "sha256" in r}
    bundled = [
        (a, s)
        for (a, s), name in sorted(BUNDLED.items(), key=lambda kv: (kv[0][1], kv[0][0] != "ignn"))
        if (WEIGHTS_DIR / name).is_file()
    ]
    present = [(a, s) for a, s in bundled if not args.models or f"{a}_x{s}" in args.models]
    if not present:
        raise SystemExit("zoo_report: no bundled model matches --models")
    measured = {}
    for arch, scale in present:
        report = measured[f"{arch}_x{scale}"] = report_model(arch, scale, args.limit, args.repeats, known)
        print(f"{arch}_x{scale}: {report['mean']['psnr']:.3f} dB, upscale {_seconds(report)}", flush=True)
    reports = [measured.get(f"{a}_x{s}") or kept_row(stored, a, s) for a, s in bundled]
    reports = [r for r in reports if r is not None]
    text = format_report(reports)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_zoo.md").write_text(text)
    (RESULTS / "model_zoo.json").write_text(json.dumps(reports, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
