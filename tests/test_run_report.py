"""experiments/run_report.py: which runs of a group it reports (finished ones only, found
through each config's run.out_dir)."""

from ignn_pyg.inference.checkpoints import save_checkpoint
from ignn_pyg.models import EDSR
from tests.experiment_scripts import load_experiment
from tests.test_bundle_weights import train_config


def test_finished_runs_pass_over_runs_under_way_and_missing_ones(tmp_path, monkeypatch, capsys):
    width = load_experiment("run_report")
    configs, runs = tmp_path / "configs", tmp_path / "runs"
    configs.mkdir()
    for name in ("edsr48_x2", "edsr48_x3", "edsr48_x4", "edsr_x2", "edsr_x2_15blocks"):
        (configs / f"{name}.yaml").write_text(f"model: {{arch: edsr}}\nrun: {{out_dir: runs/{name}}}\n")
    monkeypatch.setattr(width, "CONFIGS", configs)
    monkeypatch.setattr(width, "ROOT", tmp_path)
    model = EDSR(2, n_feats=4, n_resblocks=1)
    for name, iteration in (("edsr48_x2", 20), ("edsr48_x3", 7), ("edsr_x2", 20), ("edsr_x2_15blocks", 20)):
        (runs / name).mkdir(parents=True)
        save_checkpoint(runs / name / "last.pt", model, iteration=iteration, train_config=train_config(20))
    # edsr48_x4 never started; the bundled pair's own edsr_x2 is not reported
    assert width.finished_runs(width.GROUPS["width"][0]) == [
        ("edsr48_x2", runs / "edsr48_x2" / "last.pt"),
        ("edsr_x2_15blocks", runs / "edsr_x2_15blocks" / "last.pt"),
    ]
    assert "edsr48_x3: at iteration 7 of 20, passed over" in capsys.readouterr().err
