"""experiments/zoo_report.py keeps the row of a bundled model it does not measure again
only while that row describes the file now bundled (same SHA-256), and reports a
model's weights size apart from its file's."""

import hashlib

import torch

from ignn_pyg.data.photos import file_sha256, list_photos
from ignn_pyg.inference.checkpoints import save_checkpoint
from ignn_pyg.models import EDSR
from tests.experiment_scripts import load_experiment
from tests.test_bundle_weights import train_config


def test_kept_row_only_for_the_unchanged_file(tmp_path, monkeypatch, capsys):
    zoo = load_experiment("zoo_report")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(zoo, "BUNDLED", {("edsr", 2): "edsr_x2.pt", ("ignn", 2): "ignn_x2.pt"})
    (tmp_path / "edsr_x2.pt").write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    stored = [
        {"model": "edsr_x2", "sha256": sha, "mean": {"psnr": 30.0}},
        {"model": "ignn_x2", "sha256": sha, "mean": {"psnr": 31.0}},
    ]
    assert zoo.kept_row(stored, "edsr", 2) is stored[0]

    (tmp_path / "ignn_x2.pt").write_bytes(b"retrained weights")  # its stored row is of the old file
    assert zoo.kept_row(stored, "ignn", 2) is None
    assert "ignn_x2: left out, its file changed" in capsys.readouterr().out
    assert zoo.kept_row([], "edsr", 2) is None  # never measured


def test_weights_size_leaves_out_what_else_a_run_checkpoint_holds(tmp_path):
    """A run's last.pt also holds optimiser moments; the reported weights size is the
    model's tensors alone, 4 bytes per float32 value, whichever file it comes from."""
    zoo = load_experiment("zoo_report")
    model = EDSR(2, n_feats=4, n_resblocks=1)
    values = sum(t.numel() for t in model.state_dict().values())
    moments = {name: torch.zeros(100_000) for name in ("exp_avg", "exp_avg_sq")}
    rows = []
    for name, extra in (("bundled.pt", {}), ("last.pt", {"optimizer": moments})):
        save_checkpoint(tmp_path / name, model, iteration=20, train_config=train_config(20), **extra)
        quality = {"images": [{}] * len(list_photos("eval")), "mean": {}, "dead_channels": {}}  # known
        rows.append(zoo.report_file(tmp_path / name, name, None, 0, {file_sha256(tmp_path / name): quality}))
    assert rows[0]["weights_megabytes"] == rows[1]["weights_megabytes"] == 4 * values / 2**20
    assert rows[1]["megabytes"] > rows[0]["megabytes"] + 8 * 100_000 / 2**20


def test_the_report_names_the_cpu_each_time_was_measured_on():
    """One line when every timed row shares a CPU; each model's CPU when they differ; a row
    from before the CPU was recorded says so; an untimed row names none."""
    zoo = load_experiment("zoo_report")
    timed = {"upscale_640x400_seconds": 1.0}
    same = [
        {"model": "a", **timed, "cpu": "X"},
        {"model": "b", **timed, "cpu": "X"},
        {"model": "c", "upscale_640x400_seconds": None, "cpu": "Y"},
    ]
    assert zoo._timed_on(same) == ["Upscale timed on X.", ""]
    mixed = [{"model": "a", **timed, "cpu": "X"}, {"model": "b", **timed}]
    assert zoo._timed_on(mixed) == ["Upscale timed on: a: X; b: a CPU not recorded.", ""]
    assert zoo._timed_on([{"model": "c", "upscale_640x400_seconds": None}]) == []
