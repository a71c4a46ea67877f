"""experiments/zoo_curves.py: every stage of a model on one iteration axis, shifted by
the iterations its earlier stages' configs ran."""

from ignn_pyg.training.logs import CSVLog
from tests.experiment_scripts import load_experiment


def test_stages_are_shifted_by_the_iterations_before_them(tmp_path, monkeypatch):
    curves = load_experiment("zoo_curves")
    configs, logs = tmp_path / "configs", tmp_path / "logs"
    configs.mkdir()
    logs.mkdir()
    for name, iterations in (
        ("ignn_x3", 20),
        ("ignn_x3_stage2", 30),
        ("ignn_x3_stage3", 40),
        ("edsr48_x2", 50),
        ("ignn_x3_fuse_unscaled", 20),
        ("ignn_detail_x2", 10),
        ("ignn_detail_x2_stage2", 15),
        ("ignn_detail_planted_x2", 10),
    ):
        (configs / f"{name}.yaml").write_text(f"model: {{arch: {name[:4]}}}\noptim: {{iterations: {iterations}}}\n")
        log = CSVLog(logs / f"{name}.csv")
        log.append({"iteration": 10, "loss": 1.0, "val_psnr": 30.0})
        log.append({"iteration": iterations, "loss": 1.0, "val_psnr": 31.0})
    (logs / "notes.csv").write_text("iteration\n1\n")  # not a zoo run: left out
    monkeypatch.setattr(curves, "CONFIGS", configs)

    found = {(c.model, c.stage): c for c in curves.read_curves(logs)}
    assert sorted(found) == [
        ("edsr48_x2", 1),
        ("ignn_detail_planted_x2", 1),
        ("ignn_detail_x2", 1),
        ("ignn_detail_x2", 2),
        ("ignn_x3", 1),
        ("ignn_x3", 2),
        ("ignn_x3", 3),
        ("ignn_x3_fuse_unscaled", 1),
    ]
    assert [found["ignn_x3", s].offset for s in (1, 2, 3)] == [0, 20, 50]
    assert curves.shifted(found["ignn_x3", 3], "val_psnr") == ([60, 90], [30.0, 31.0])
    assert found["edsr48_x2", 1].arch == "edsr" and found["edsr48_x2", 1].scale == 2
    assert found["ignn_detail_x2", 2].arch == "ignn_detail" and found["ignn_detail_x2", 2].offset == 10

    curves.plot(list(found.values()), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
