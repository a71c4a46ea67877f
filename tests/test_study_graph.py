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
    return {"variant": variant, "seed": seed, "iteration": iteration, "model": model.config_dict(),
            "images": [], "mean": {"psnr": 30.0}}


def test_recorded_runs_count_as_finished_without_their_folders(tmp_path):
    study_graph = load_experiment("study_graph")
    path, iterations = write_study(tmp_path)
    ignn = IGNN(2, 32, 4, res_scale=0.1, residual="bicubic")  # the study's base model
    runs = {"ignn": [record("ignn", 0, iterations, ignn),            # finished: counts
                     record("ignn", 1, iterations - 1, ignn)],       # stopped early: retrained
            "edsr": [record("edsr", 0, iterations, ignn)]}           # another model: retrained
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
