"""The graph study: does IGNN use its cross-scale graph, and in which training regime?

Every variant of ``experiments/configs/study/graph_study.yaml`` (the IGNN, its graph
controls, EDSR of equal and of matched size, and the levers that could make the network
use its neighbours) trains once per seed into ``runs/study_graph/VARIANT/seedN``, one
thread per run.  Seeds fix the data order, so seed ``s`` of every variant sees the same
crops.  ``run`` skips finished runs and resumes unfinished ones (``--resume``), so the
study continues across working stretches; ``report`` evaluates every finished run on
the eval photos (whole images, Y, border 2) with the graph probe
(:func:`ignn_pyg.evaluation.probe_graph`: own graph minus random neighbours, and minus
permuted neighbour lists), every IGNN with a cross-scale graph also on the oracle test
and on the held-out photos (``PhotoDataset("held_out")``: in neither split, never
trained, tuned or selected on), and writes ``experiments/results/graph_study.{md,json}`` and
``graph_study_curves.png`` / ``graph_study_summary.png``, and keeps each finished run's
logs (``log.csv``, its config, ``train.log`` without progress bars) in
``experiments/results/graph_study_runs/VARIANT/seedN``.  The JSON holds every run's
per-image numbers and learning curve, so results survive a lost run folder: a run whose
folder holds no checkpoint but whose finished result the JSON records (same iterations
and model) counts as finished, for ``run``, ``status`` and ``report`` alike.

Usage::

    nohup python experiments/study_graph.py run --jobs 2 > runs/study_graph.log 2>&1 &
    python experiments/study_graph.py run --variants detail_planted detail_planted_random --seeds 0
    python experiments/study_graph.py status
    python experiments/study_graph.py report
    python experiments/study_graph.py export --variant detail_planted_long --seed 0 --to best_x2.pt
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from bundle_weights import training_stages  # this folder: the history a checkpoint file records
from graph_oracle import oracle_scores  # this folder: the oracle-recurrence test

from ignn_pyg.data import PhotoDataset, list_photos
from ignn_pyg.evaluation import evaluate, make_forward, probe_graph, summarize
from ignn_pyg.inference.checkpoints import load_checkpoint, save_checkpoint
from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.training.config import TrainConfig, apply_overrides, config_from_dict, config_to_yaml
from ignn_pyg.training.logs import read_log

ROOT = Path(__file__).resolve().parent
STUDY = ROOT / "configs" / "study" / "graph_study.yaml"
RESULTS = ROOT / "results"
LOG_ARCHIVE = RESULTS / "graph_study_runs"
PROGRESS_BAR = re.compile(r"^\s*(train|eval|graph probe|validation)\b.*\|")  # tqdm lines
HELD_OUT_REFERENCE = "ignn_rerun"  # the held-out table's reference: ignn, trained on the detail runs' CPU kind
MATCH_TOLERANCE = 0.05  # parameter-matched EDSR: within 5% of the IGNN's trainable parameters


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matched_edsr_width(ignn_kwargs: dict[str, Any]) -> int:
    """The smallest EDSR width (same depth, scale and residual) whose trainable
    parameters are within :data:`MATCH_TOLERANCE` of the IGNN ``ignn_kwargs`` builds."""
    target = trainable_parameters(IGNN(**{k: v for k, v in ignn_kwargs.items() if k != "arch"}))
    for width in range(ignn_kwargs["n_feats"], 4 * ignn_kwargs["n_feats"]):
        count = trainable_parameters(
            EDSR(ignn_kwargs["scale"], width, ignn_kwargs["n_resblocks"], residual=ignn_kwargs["residual"])
        )
        if abs(count - target) <= MATCH_TOLERANCE * target:
            return width
    raise ValueError(f"no EDSR width matches {target:,} parameters within {MATCH_TOLERANCE:.0%}")


class Study:
    """The study file: ``base`` config, ``seeds``, and groups of variants (name ->
    overrides), trained group by group: ``variants``, ``levers``, ``detail``;
    :attr:`variants` holds them all."""

    def __init__(
        self, path: Path, runs: Path, recorded: Path = RESULTS / "graph_study.json", photos_root: str | None = None
    ) -> None:
        spec = yaml.safe_load(path.read_text())
        self.base, self.seeds = spec["base"], spec["seeds"]
        if photos_root is not None:  # where the train photos' Debian packages are extracted
            self.base["data"]["photos_root"] = photos_root
        groups = [spec[key] for key in spec if key not in ("base", "seeds")]  # in file order
        self.groups = [list(group) for group in groups]
        self.variants = {name: overrides for group in groups for name, overrides in group.items()}
        self.runs = runs
        self._recorded = {}
        if recorded.is_file():
            runs_by_variant = json.loads(recorded.read_text())["runs"]
            self._recorded = {(r["variant"], r["seed"]): r for rs in runs_by_variant.values() for r in rs}

    def config(self, variant: str, seed: int) -> TrainConfig:
        overrides = dict(self.variants[variant])
        if overrides.get("model.n_feats") == "match":
            overrides["model.n_feats"] = matched_edsr_width(self.config("ignn", seed).model_kwargs())
        values = apply_overrides(copy.deepcopy(self.base), [f"{k}={json.dumps(v)}" for k, v in overrides.items()])
        values["run"].update(seed=seed, out_dir=str(self.run_dir(variant, seed)))
        return config_from_dict(values)

    def run_dir(self, variant: str, seed: int) -> Path:
        return self.runs / variant / f"seed{seed}"

    def runs_in_order(self) -> list[tuple[str, int]]:
        """Group by group, each seed by seed, so a partial study has every variant of a
        group at the first seeds."""
        return [(variant, seed) for group in self.groups for seed in self.seeds for variant in group]

    def recorded(self, variant: str, seed: int) -> dict[str, Any] | None:
        """The committed result of a finished run whose folder holds no checkpoint (a
        fresh machine), if the results JSON has one for this run's iterations and model."""
        if (self.run_dir(variant, seed) / "last.pt").is_file():
            return None
        config = self.config(variant, seed)
        result = self._recorded.get((variant, seed))
        if result is None or result["iteration"] != config.optim.iterations:
            return None
        model = EDSR if config.model.arch == "edsr" else IGNN
        expected = model(**{k: v for k, v in config.model_kwargs().items() if k != "arch"}).config_dict()
        return result if result["model"] == expected else None

    def unfinished(self, variant: str, seed: int) -> bool:
        done, total = self.progress(variant, seed)
        return done < total

    def progress(self, variant: str, seed: int) -> tuple[int, int]:
        """``(iteration of last.pt or 0, iterations to train)``; a :meth:`recorded` run
        is finished."""
        config = self.config(variant, seed)
        if self.recorded(variant, seed) is not None:
            return config.optim.iterations, config.optim.iterations
        rows = read_log(self.run_dir(variant, seed) / "log.csv")
        done = max((int(r["iteration"]) for r in rows if r["val_psnr"]), default=0)
        if not (self.run_dir(variant, seed) / "last.pt").is_file():
            done = 0
        return done, config.optim.iterations


def command_run(study: Study, jobs: int, variants: list[str] | None = None, seeds: list[int] | None = None) -> None:
    """Train every unfinished run (of ``variants`` at ``seeds`` only, when given), ``jobs``
    processes at a time (one thread each)."""
    unknown = sorted(set(variants or ()) - set(study.variants))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; the study has {sorted(study.variants)}")
    pending = [
        (v, s)
        for v, s in study.runs_in_order()
        if (variants is None or v in variants) and (seeds is None or s in seeds) and study.unfinished(v, s)
    ]
    print(f"{len(pending)} runs to train or resume: {', '.join(f'{v}/seed{s}' for v, s in pending)}", flush=True)
    running: list[tuple[subprocess.Popen, str]] = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    while pending or running:
        while pending and len(running) < jobs:
            variant, seed = pending.pop(0)
            run_dir = study.run_dir(variant, seed)
            run_dir.mkdir(parents=True, exist_ok=True)
            config_path = run_dir / "study_config.yaml"
            config_path.write_text(config_to_yaml(study.config(variant, seed)))
            resume = (run_dir / "last.pt").is_file()
            command = [
                sys.executable,
                "-m",
                "ignn_pyg",
                "train",
                "--config",
                str(config_path),
                *(["--resume"] if resume else []),
            ]
            log = open(run_dir / "train.log", "a")
            print(f"{time.strftime('%H:%M:%S')} {'resume' if resume else 'start'} {variant}/seed{seed}", flush=True)
            running.append(
                (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), f"{variant}/seed{seed}")
            )
        time.sleep(5)
        for process, name in list(running):
            if process.poll() is not None:
                running.remove((process, name))
                print(f"{time.strftime('%H:%M:%S')} {name} exited with {process.returncode}", flush=True)


def command_status(study: Study) -> None:
    for variant, seed in study.runs_in_order():
        done, total = study.progress(variant, seed)
        print(f"{variant:>14}/seed{seed}: {done:>5} / {total}")


def evaluate_run(study: Study, variant: str, seed: int) -> dict[str, Any] | None:
    """A finished run's numbers on the eval photos (cached in the run folder by the
    checkpoint's iteration), its learning curve and its costs; ``None`` if unfinished."""
    done, total = study.progress(variant, seed)
    if done < total:
        return None
    recorded = study.recorded(variant, seed)
    if recorded is not None:
        return recorded
    run_dir = study.run_dir(variant, seed)
    cache = run_dir / "eval.json"
    model, payload = load_checkpoint(run_dir / "last.pt")
    probed = isinstance(model, IGNN) and model.uses_cross_scale_graph
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached["iteration"] == done:
            missing = graph_tests(model, run_dir, skip=cached.keys()) if probed else {}
            if missing:  # cached before these tests existed
                cached.update(missing)
                cache.write_text(json.dumps(cached, indent=1) + "\n")
            return cached
    dataset = PhotoDataset("eval", model.scale)
    rows = evaluate(dataset, make_forward(model), model.scale, run_dir / "eval_images", progress=False)
    if probed:
        rows = probe_graph(model, dataset, rows, seed=0, progress=False)
    curve = [
        {k: r[k] for k in ("iteration", "val_psnr", "val_reliance") if r.get(k)}
        for r in read_log(run_dir / "log.csv")
        if r["val_psnr"]
    ]
    result = {
        "variant": variant,
        "seed": seed,
        "iteration": payload["iteration"],
        "train_seconds": payload["seconds"],
        "parameters": trainable_parameters(model),
        "model": model.config_dict(),
        "images": rows,
        "mean": summarize(rows),
        "curve": curve,
    }
    if probed:
        result.update(graph_tests(model, run_dir))
    cache.write_text(json.dumps(result, indent=1) + "\n")
    return result


def graph_tests(model: IGNN, run_dir: Path, skip=()) -> dict[str, Any]:
    """The tests beyond the eval photos that a run of an IGNN with a cross-scale graph
    gets, by result key, leaving out those in ``skip`` (already cached): ``oracle``
    (:func:`graph_oracle.oracle_scores`) and ``held_out`` (:func:`held_out_scores`, outputs
    in ``run_dir/held_out_images``)."""
    tests = {
        "oracle": lambda: oracle_scores(model),
        "held_out": lambda: held_out_scores(model, run_dir / "held_out_images"),
    }
    return {key: test() for key, test in tests.items() if key not in skip}


def held_out_scores(model: IGNN, image_dir: Path) -> dict[str, Any]:
    """The model on the held-out photos with the graph probe (outputs saved in
    ``image_dir``): per-image rows (PSNR, SSIM, reliance against random and permuted
    neighbours) and their means."""
    dataset = PhotoDataset("held_out", model.scale)
    rows = evaluate(dataset, make_forward(model), model.scale, image_dir, progress=False)
    rows = probe_graph(model, dataset, rows, seed=0, progress=False)
    return {"images": rows, "mean": summarize(rows)}


def archive_logs(study: Study, variant: str, seed: int) -> None:
    """Copy a finished run's logs from its folder into ``RESULTS/graph_study_runs``, to be
    committed beside the results (the run folder itself, with its checkpoints, is not)."""
    run_dir, archive = study.run_dir(variant, seed), LOG_ARCHIVE / variant / f"seed{seed}"
    archive.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "log.csv", archive / "log.csv")
    shutil.copyfile(run_dir / "study_config.yaml", archive / "config.yaml")
    lines = re.split(r"[\r\n]+", (run_dir / "train.log").read_text(errors="replace"))
    kept = [line for line in lines if line.strip() and not PROGRESS_BAR.match(line)]
    (archive / "train.log").write_text("\n".join(kept) + "\n")


def command_export(study: Study, variant: str, seed: int, to: Path) -> None:
    """Save a finished run's final weights, config and training record (no optimiser or
    RNG state) as a checkpoint file of its own, e.g. the proof checkpoint of #32/#33."""
    done, total = study.progress(variant, seed)
    path = study.run_dir(variant, seed) / "last.pt"
    if done < total or not path.is_file():
        raise SystemExit(
            f"{variant}/seed{seed} has no finished checkpoint in {study.runs} (iteration {done} of {total})"
        )
    model, payload = load_checkpoint(path)
    save_checkpoint(to, model, stages=training_stages(payload))
    print(f"wrote {to}: {variant}/seed{seed}, iteration {payload['iteration']}")


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else math.nan
    return mean, std


def _paired(results: list[dict], reference: list[dict]) -> dict[str, float] | None:
    """Per-image paired PSNR differences against ``reference`` over the seeds both have:
    mean and 95% t-interval over seeds x images, and the std over seeds of the
    per-seed mean difference.  Each entry has ``seed`` and per-image ``images``."""
    from scipy import stats

    by_seed = {r["seed"]: r for r in reference}
    diffs, per_seed = [], []
    for r in results:
        if r["seed"] not in by_seed:
            continue
        d = [a["psnr"] - b["psnr"] for a, b in zip(r["images"], by_seed[r["seed"]]["images"], strict=True)]
        diffs += d
        per_seed.append(math.fsum(d) / len(d))
    if len(diffs) < 2:
        return None
    mean, std = _mean_std(diffs)
    half = stats.t.ppf(0.975, len(diffs) - 1) * std / math.sqrt(len(diffs))
    return {
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "n": len(diffs),
        "seeds": len(per_seed),
        "seed_std": _mean_std(per_seed)[1],
    }


def summarize_variants(study: Study, results: dict[str, list[dict]]) -> list[dict[str, Any]]:
    table = []
    for variant in study.variants:
        runs = results.get(variant, [])
        if not runs:
            table.append({"variant": variant, "seeds": 0})
            continue
        psnr = _mean_std([r["mean"]["psnr"] for r in runs])
        row = {
            "variant": variant,
            "seeds": len(runs),
            "psnr": psnr[0],
            "psnr_std": psnr[1],
            "ssim": _mean_std([r["mean"]["ssim"] for r in runs])[0],
            "bicubic_psnr": runs[0]["mean"]["bicubic_psnr"],
            "parameters": runs[0]["parameters"],
            "cpu_hours": math.fsum(r["train_seconds"] for r in runs) / 3600,
            "seconds_per_iteration": _mean_std([r["train_seconds"] / r["iteration"] for r in runs])[0],
            "vs_ignn": _paired(runs, results.get("ignn", [])) if variant != "ignn" else None,
        }
        for control in ("random", "permuted"):
            key = f"reliance_{control}"
            if key in runs[0]["mean"]:
                row[key], row[f"{key}_std"] = _mean_std([r["mean"][key] for r in runs])
        oracle = [r["oracle"]["mean"]["oracle_reliance"] for r in runs if "oracle" in r]
        if oracle:
            row["oracle_reliance"], row["oracle_reliance_std"] = _mean_std(oracle)
            row["oracle_seeds"] = len(oracle)
        held_out = held_out_runs(runs)
        if held_out:
            reference = results.get(HELD_OUT_REFERENCE, [])
            row["held_out"] = {
                "seeds": len(held_out),
                **(
                    {}
                    if variant == HELD_OUT_REFERENCE
                    else {
                        "vs_reference": _paired(held_out, held_out_runs(reference)),
                        "eval_vs_reference": _paired(runs, reference),
                    }
                ),
            }
            for key in ("psnr", "reliance_random", "reliance_permuted"):
                row["held_out"][key], row["held_out"][f"{key}_std"] = _mean_std([r["mean"][key] for r in held_out])
        table.append(row)
    return table


def held_out_runs(runs: list[dict]) -> list[dict]:
    """The runs' held-out results as runs of their own (``seed``, ``images``, ``mean``),
    for those that have them."""
    return [{"seed": r["seed"], **r["held_out"]} for r in runs if "held_out" in r]


def _fmt(value: float | None, spec: str = ".3f", std: float | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = format(value, spec)
    return text if std is None or math.isnan(std) else f"{text} ± {format(std, spec.lstrip('+'))}"


def per_photo_reliance(study: Study, results: dict[str, list[dict]], title: str) -> list[str]:
    """Markdown lines: each photo's reliance (random control, mean over seeds) for every
    variant that has it, so that where the graph matters shows per image."""
    probed = [v for v in study.variants if results.get(v) and "reliance_random" in results[v][0]["mean"]]
    if not probed:
        return []
    names = [row["name"] for row in results[probed[0]][0]["images"]]
    lines = [
        f"{title} (random control, dB, mean over seeds):",
        "",
        "| photo | " + " | ".join(probed) + " |",
        "| --- |" + " --- |" * len(probed),
    ]
    for i, name in enumerate(names):
        cells = [_mean_std([r["images"][i]["reliance_random"] for r in results[v]])[0] for v in probed]
        lines.append(f"| {name} | " + " | ".join(f"{c:+.3f}" for c in cells) + " |")
    return lines + [""]


def _delta(paired: dict[str, float] | None) -> str:
    return (
        "–"
        if paired is None
        else (
            f"{paired['mean']:+.3f} [{paired['low']:+.3f}, {paired['high']:+.3f}] (seed std {_fmt(paired['seed_std'])})"
        )
    )


def held_out_report(study: Study, table: list[dict], results: dict[str, list[dict]]) -> list[str]:
    """Markdown lines: the variants' table on the held-out photos, and reliance per photo."""
    rows = [row for row in table if "held_out" in row]
    if not rows:
        return []
    names = ", ".join(list_photos("held_out"))
    lines = [
        "## Held-out photos",
        "",
        f"The IGNNs with a cross-scale graph on the held-out photos ({names}; "
        '`PhotoDataset("held_out")`, in neither split of `shared/data/photos.tsv`), whole images, '
        f"the same probe.  Δ: paired per photo against `{HELD_OUT_REFERENCE}` (trained on the same CPU kind), "
        "on the held-out photos and, for the same pairs of runs, on the eval photos.",
        "",
        f"| variant | seeds | PSNR (dB) | Δ vs {HELD_OUT_REFERENCE} (dB) | eval photos: Δ vs {HELD_OUT_REFERENCE} "
        "(dB) | reliance random (dB) | reliance permuted (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        held_out = row["held_out"]
        lines.append(
            f"| {row['variant']} | {held_out['seeds']} | {_fmt(held_out['psnr'], std=held_out['psnr_std'])} | "
            f"{_delta(held_out.get('vs_reference'))} | {_delta(held_out.get('eval_vs_reference'))} | "
            f"{_fmt(held_out['reliance_random'], '+.3f', held_out['reliance_random_std'])} | "
            f"{_fmt(held_out['reliance_permuted'], '+.3f', held_out['reliance_permuted_std'])} |"
        )
    lines.append("")
    held_out_results = {v: held_out for v, rs in results.items() if (held_out := held_out_runs(rs))}
    return lines + per_photo_reliance(study, held_out_results, "Held-out reliance per photo")


def write_report(study: Study, results: dict[str, list[dict]], pending: list[str]) -> str:
    table = summarize_variants(study, results)
    base = config_from_dict(copy.deepcopy(study.base))
    lines = [
        "# Graph study: does IGNN use its graph? (x2, eval photos, Y, border 2)",
        "",
        f"Base: {base.model.n_feats} features, {base.model.n_resblocks} blocks, residual "
        f"'{base.model.residual}', HR crops {base.data.crop_size}, batch {base.data.batch_size}, "
        f"{base.optim.iterations} iterations, lr {base.optim.lr:g}, {base.run.precision}, one thread per "
        "run on the 2-core CPU; seeds " + ", ".join(map(str, study.seeds)) + " (the same data order for "
        "every variant at one seed).  Produced by `python experiments/study_graph.py report`.",
        "",
        "Reliance = PSNR with the model's own graph minus PSNR with a control graph (random: k "
        "neighbours drawn uniformly inside each query's window; permuted: neighbour lists shuffled "
        "between queries).  Δ vs ignn: per-image paired difference, mean [95% t-interval over "
        "seeds × images] (seed std: std over seeds of the per-seed mean difference).",
        "",
        "Oracle reliance: the same difference (own minus random) in the planted region of the "
        "oracle-recurrence test images, where the graph holds the exact answer "
        "(`experiments/graph_oracle.py`, `graph_oracle.md`).",
        "",
        "| variant | overrides | seeds | PSNR (dB), mean ± std over seeds | Δ vs ignn (dB) | "
        "reliance random (dB) | reliance permuted (dB) | oracle reliance (dB) | trainable params | "
        "CPU h (all seeds) | s / iteration |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table:
        overrides = ", ".join(f"{k}={v}" for k, v in study.variants[row["variant"]].items()) or "–"
        if not row["seeds"]:
            lines.append(f"| {row['variant']} | {overrides} | 0 | – | – | – | – | – | – | – | – |")
            continue
        delta = _delta(row["vs_ignn"])
        lines.append(
            f"| {row['variant']} | {overrides} | {row['seeds']} | {_fmt(row['psnr'], std=row['psnr_std'])} | "
            f"{delta} | {_fmt(row.get('reliance_random'), '+.3f', row.get('reliance_random_std'))} | "
            f"{_fmt(row.get('reliance_permuted'), '+.3f', row.get('reliance_permuted_std'))} | "
            f"{_fmt(row.get('oracle_reliance'), '+.3f', row.get('oracle_reliance_std'))} | "
            f"{row['parameters']:,} | {row['cpu_hours']:.2f} | {row['seconds_per_iteration']:.2f} |"
        )
    bicubic = next((r["bicubic_psnr"] for r in table if r["seeds"]), None)
    lines += [
        "",
        f"Bicubic: {_fmt(bicubic)} dB.  Unfinished runs (not in the table): {', '.join(pending) or 'none'}.",
        "",
    ]
    lines += per_photo_reliance(study, results, "Reliance per photo")
    lines += held_out_report(study, table, results)
    text = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "graph_study.md").write_text(text)
    (RESULTS / "graph_study.json").write_text(
        json.dumps(
            {"study": yaml.safe_load(STUDY.read_text()), "summary": table, "runs": results, "unfinished": pending},
            indent=1,
        )
        + "\n"
    )
    _plot(study, results, table)
    return text


def _plot(study: Study, results: dict[str, list[dict]], table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (ax_psnr, ax_rel) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    palette = [*plt.get_cmap("tab10").colors, "black", "darkgoldenrod", "indigo"]  # one per variant
    for i, (variant, runs) in enumerate((v, results[v]) for v in study.variants if results.get(v)):
        colour = palette[i % len(palette)]
        for j, run in enumerate(runs):
            its = [int(p["iteration"]) for p in run["curve"]]
            ax_psnr.plot(
                its,
                [float(p["val_psnr"]) for p in run["curve"]],
                color=colour,
                alpha=0.8,
                lw=1,
                label=variant if j == 0 else None,
            )
            rel = [(int(p["iteration"]), float(p["val_reliance"])) for p in run["curve"] if p.get("val_reliance")]
            if rel:
                ax_rel.plot(*zip(*rel), "o-", ms=2, color=colour, alpha=0.8, lw=1, label=variant if j == 0 else None)
    ax_psnr.set(
        xlabel="iteration", ylabel="validation PSNR (dB, Y; 4 eval crops)", title="Learning curves (one line per seed)"
    )
    ax_rel.axhline(0.0, color="gray", ls="--")
    ax_rel.axhline(0.10, color="tab:red", ls=":", label="target 0.10 dB")
    ax_rel.set(xlabel="iteration", ylabel="dB", title="Graph reliance on the validation crops (own − random)")
    for ax in (ax_psnr, ax_rel):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.savefig(RESULTS / "graph_study_curves.png", dpi=90)
    plt.close(fig)

    rows = [r for r in table if r["seeds"]]
    fig, (ax_d, ax_r) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    names = [r["variant"] for r in rows]
    for k, r in enumerate(rows):
        p = r["vs_ignn"]
        if p is not None:
            ax_d.errorbar(k, p["mean"], yerr=[[p["mean"] - p["low"]], [p["high"] - p["mean"]]], fmt="o", capsize=3)
        for offset, control in ((-0.12, "random"), (0.12, "permuted")):
            if f"reliance_{control}" in r:
                ax_r.errorbar(
                    k + offset,
                    r[f"reliance_{control}"],
                    yerr=r[f"reliance_{control}_std"],
                    fmt="o" if control == "random" else "s",
                    capsize=3,
                    color="C0" if control == "random" else "C1",
                    label=control if k == 0 else None,
                )
    for ax in (ax_d, ax_r):
        ax.axhline(0.0, color="gray", ls="--")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.grid(alpha=0.3)
    ax_r.axhline(0.10, color="tab:red", ls=":")
    ax_d.set(ylabel="dB", title="PSNR − ignn's, paired per image (95% interval over seeds × images)")
    ax_r.set(ylabel="dB", title="Graph reliance on the eval photos (mean ± std over seeds)")
    ax_r.legend(fontsize=8)
    fig.savefig(RESULTS / "graph_study_summary.png", dpi=90)
    plt.close(fig)


def command_report(study: Study) -> None:
    results: dict[str, list[dict]] = {}
    pending = []
    for variant, seed in study.runs_in_order():
        result = evaluate_run(study, variant, seed)
        if result is None:
            pending.append(f"{variant}/seed{seed}")
        else:
            results.setdefault(variant, []).append(result)
            if (study.run_dir(variant, seed) / "last.pt").is_file():
                archive_logs(study, variant, seed)
            print(
                f"{variant}/seed{seed}: {result['mean']['psnr']:.3f} dB"
                + (
                    f", reliance {result['mean']['reliance_random']:+.3f}"
                    if "reliance_random" in result["mean"]
                    else ""
                ),
                flush=True,
            )
    print(write_report(study, results, pending))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "status", "report", "export"))
    parser.add_argument("--study", type=Path, default=STUDY)
    parser.add_argument("--runs", type=Path, default=Path("runs/study_graph"))
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each (default 2)")
    parser.add_argument("--variants", nargs="+", help="run: train only these variants (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, help="run: train only these seeds (default: the study's)")
    parser.add_argument("--photos-root", help="data.photos_root of every run (default: the study's, /)")
    parser.add_argument("--variant", help="export: the run's variant")
    parser.add_argument("--seed", type=int, help="export: the run's seed")
    parser.add_argument("--to", type=Path, help="export: the checkpoint file to write")
    args = parser.parse_args()
    study = Study(args.study, args.runs, photos_root=args.photos_root)
    if args.command == "run":
        command_run(study, args.jobs, args.variants, args.seeds)
    elif args.command == "status":
        command_status(study)
    elif args.command == "export":
        if None in (args.variant, args.seed, args.to):
            parser.error("export needs --variant, --seed and --to")
        command_export(study, args.variant, args.seed, args.to)
    else:
        command_report(study)


if __name__ == "__main__":
    main()
