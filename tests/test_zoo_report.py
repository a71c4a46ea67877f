"""experiments/zoo_report.py keeps the row of a bundled model it does not measure again
only while that row describes the file now bundled (same SHA-256)."""

import hashlib

from tests.experiment_scripts import load_experiment


def test_kept_row_only_for_the_unchanged_file(tmp_path, monkeypatch, capsys):
    zoo = load_experiment("zoo_report")
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(zoo, "BUNDLED", {("edsr", 2): "edsr_x2.pt", ("ignn", 2): "ignn_x2.pt"})
    (tmp_path / "edsr_x2.pt").write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    stored = [{"model": "edsr_x2", "sha256": sha, "mean": {"psnr": 30.0}},
              {"model": "ignn_x2", "sha256": sha, "mean": {"psnr": 31.0}}]
    assert zoo.kept_row(stored, "edsr", 2) is stored[0]

    (tmp_path / "ignn_x2.pt").write_bytes(b"retrained weights")  # its stored row is of the old file
    assert zoo.kept_row(stored, "ignn", 2) is None
    assert "ignn_x2: left out, its file changed" in capsys.readouterr().out
    assert zoo.kept_row([], "edsr", 2) is None  # never measured
