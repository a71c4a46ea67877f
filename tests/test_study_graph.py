"""The graph study's runner (experiments/study_graph.py) on a fresh machine: finished runs
recorded in the committed results JSON count as finished when their folders are gone,
and only when the record matches the run the study file asks for."""

import json

import yaml

from ignn_pyg.models import EDSR, IGNN
from tests.experiment_scripts import EXPERIMENTS, load_experiment


def write_study(tmp_path):
    study = yaml.safe_load((EXPERIMENTS / "configs" / "study" / "graph_study.yaml").read_text())
    study.update(seeds=[0, 1], variants={"ignn": {}, "edsr": {"model.arch": "edsr"}}, levers={})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path, study["base"]["optim"]["iterations"]


def record(variant, seed, iteration, model):
    return {
        "variant": variant,
        "seed": seed,
        "iteration": iteration,
        "model": model.config_dict(),
        "images": [],
        "mean": {"psnr": 30.0},
    }


def test_recorded_runs_count_as_finished_without_their_folders(tmp_path):
    study_graph = load_experiment("study_graph")
    path, iterations = write_study(tmp_path)
    ignn = IGNN(2, 32, 4, res_scale=0.1, residual="bicubic")  # the study's base model
    runs = {
        "ignn": [
            record("ignn", 0, iterations, ignn),  # finished: counts
            record("ignn", 1, iterations - 1, ignn),
        ],  # stopped early: retrained
        "edsr": [record("edsr", 0, iterations, ignn)],
    }  # another model: retrained
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"runs": runs}))
    study = study_graph.Study(path, tmp_path / "runs", recorded=results)

    assert study.progress("ignn", 0) == (iterations, iterations)
    assert study_graph.evaluate_run(study, "ignn", 0) == runs["ignn"][0]
    assert study.progress("ignn", 1) == (0, iterations)
    assert study.progress("edsr", 0) == (0, iterations)
    assert study.progress("edsr", 1) == (0, iterations)
    assert study_graph.evaluate_run(study, "ignn", 1) is None

    # a run folder with its own checkpoint wins over the record
    (study.run_dir("ignn", 0)).mkdir(parents=True)
    (study.run_dir("ignn", 0) / "last.pt").write_bytes(b"")
    assert study.recorded("ignn", 0) is None
    assert study.progress("ignn", 0) == (0, iterations)


def test_a_record_of_the_right_edsr_counts(tmp_path):
    study_graph = load_experiment("study_graph")
    path, iterations = write_study(tmp_path)
    edsr = EDSR(2, 32, 4, res_scale=0.1, residual="bicubic")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"runs": {"edsr": [record("edsr", 1, iterations, edsr)]}}))
    study = study_graph.Study(path, tmp_path / "runs", recorded=results)
    assert study.progress("edsr", 1) == (iterations, iterations)
    assert study.progress("edsr", 0) == (0, iterations)


def test_held_out_numbers_are_summarised_and_paired_per_photo(tmp_path):
    """Held-out results: mean over seeds, and Δ vs the reference (ignn_rerun) paired photo
    by photo at equal seeds (hand-computed); runs without held-out numbers are left out."""
    study_graph = load_experiment("study_graph")
    path, iterations = write_study(tmp_path)
    study = study_graph.Study(path, tmp_path / "runs", recorded=tmp_path / "absent.json")

    def run(seed, psnrs, reliance):
        images = [
            {"name": f"p{i}", "psnr": p, "reliance_random": reliance, "reliance_permuted": reliance / 2}
            for i, p in enumerate(psnrs)
        ]
        mean = {"psnr": sum(psnrs) / len(psnrs), "reliance_random": reliance, "reliance_permuted": reliance / 2}
        return {"seed": seed, "images": images, "mean": mean}

    def entry(variant, seed, held_out):
        return {
            "variant": variant,
            "seed": seed,
            "iteration": iterations,
            "parameters": 1,
            "train_seconds": 1.0,
            "images": [{"psnr": 30.0}],
            "mean": {"psnr": 30.0, "ssim": 0.9, "bicubic_psnr": 28.0},
            **({"held_out": held_out} if held_out else {}),
        }

    assert study_graph.HELD_OUT_REFERENCE == "ignn_rerun"
    study.variants["ignn_rerun"] = {}
    results = {
        "ignn_rerun": [
            entry("ignn_rerun", 0, run(0, [30.0, 32.0], 0.01)),
            entry("ignn_rerun", 1, run(1, [31.0, 33.0], 0.03)),
        ],
        "edsr": [
            entry("edsr", 0, run(0, [30.5, 31.0], 0.2)),  # paired with ignn seed 0
            entry("edsr", 1, run(1, [32.0, 33.5], 0.4)),  # and seed 1
            entry("edsr", 2, None),
        ],
    }  # no held-out numbers
    table = {row["variant"]: row for row in study_graph.summarize_variants(study, results)}
    held_out = table["edsr"]["held_out"]
    assert held_out["seeds"] == 2
    assert abs(held_out["psnr"] - (30.75 + 32.75) / 2) < 1e-12
    assert abs(held_out["reliance_random"] - 0.3) < 1e-12 and abs(held_out["reliance_permuted"] - 0.15) < 1e-12
    diffs = [0.5, -1.0, 1.0, 0.5]  # edsr minus ignn_rerun, photo by photo, seeds 0 and 1
    assert abs(held_out["vs_reference"]["mean"] - sum(diffs) / 4) < 1e-12 and held_out["vs_reference"]["n"] == 4
    assert held_out["eval_vs_reference"]["mean"] == 0.0  # equal eval PSNR in every pair
    assert "vs_reference" not in table["ignn_rerun"]["held_out"]


def test_archived_logs_keep_the_run_lines_and_drop_progress_bars(tmp_path, monkeypatch):
    study_graph = load_experiment("study_graph")
    path, _ = write_study(tmp_path)
    study = study_graph.Study(path, tmp_path / "runs", recorded=tmp_path / "absent.json")
    monkeypatch.setattr(study_graph, "LOG_ARCHIVE", tmp_path / "archive")
    run_dir = study.run_dir("ignn", 0)
    run_dir.mkdir(parents=True)
    (run_dir / "log.csv").write_text("iteration,loss\n10,1.5\n")
    (run_dir / "study_config.yaml").write_text("model: {arch: ignn}\n")
    (run_dir / "train.log").write_text(
        "{'arch': 'ignn'} | 246,629 trainable parameters\n"
        "train:   0%|          | 0/20 [00:00<?, ?it/s]\rtrain:  50%|#####     | 10/20 [00:01<00:01]\r"
        "iteration 10: loss 1.5000, val PSNR 31.000 dB\n"
        "train: 100%|##########| 20/20 [00:02<00:00]\n"
        "done: iteration 20, val PSNR 31.500 dB\n"
    )
    study_graph.archive_logs(study, "ignn", 0)
    archive = tmp_path / "archive" / "ignn" / "seed0"
    assert (archive / "train.log").read_text().splitlines() == [
        "{'arch': 'ignn'} | 246,629 trainable parameters",
        "iteration 10: loss 1.5000, val PSNR 31.000 dB",
        "done: iteration 20, val PSNR 31.500 dB",
    ]
    assert (archive / "log.csv").read_text() == "iteration,loss\n10,1.5\n"
    assert (archive / "config.yaml").read_text() == "model: {arch: ignn}\n"
