"""experiments/dead_hr_probe.py on a tiny run: one row per step, the HR fusion's channel
count, the same rows from the same seed, and a one-line refusal for EDSR."""

import pytest
import yaml

from tests.experiment_scripts import load_experiment


def test_probe_rows_are_per_step_and_reproducible(tiny_config, tmp_path):
    probe = load_experiment("dead_hr_probe")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config()))
    rows = probe.probe(str(path), [], steps=3)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["channels"] == 8 and 0 <= r["alive"] <= 8 and r["loss"] > 0 for r in rows)
    assert probe.probe(str(path), [], steps=3) == rows

    path.write_text(yaml.safe_dump(tiny_config(model={"arch": "edsr", "n_feats": 8, "n_resblocks": 2})))
    with pytest.raises(SystemExit, match="trains EDSR; the probe needs an IGNN"):
        probe.probe(str(path), [], steps=1)
