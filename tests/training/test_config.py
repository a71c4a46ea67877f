from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from ignn_pyg.inference.checkpoints import build_model
from ignn_pyg.training.config import TrainConfig, config_from_dict, config_to_yaml, load_config, parse_override

CONFIGS = sorted((Path(__file__).parents[2] / "experiments" / "configs").glob("*.yaml"))


def test_defaults_and_yaml_round_trip(tmp_path):
    config = config_from_dict({})
    assert config == TrainConfig()
    path = tmp_path / "c.yaml"
    path.write_text(config_to_yaml(config))
    assert load_config(path) == config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load_and_build(path):
    config = load_config(path)
    kwargs = config.model_kwargs()
    assert kwargs["scale"] == config.data.scale
    if config.model.n_feats <= 64:  # the DIV2K recipes are 256 x 32: only checked, not built
        assert build_model(kwargs).config_dict()["arch"] == config.model.arch


def test_authors_recipe_values():
    for scale, crop in ((2, 160), (3, 198), (4, 160)):
        config = load_config(Path(CONFIGS[0]).with_name(f"ignn_x{scale}_div2k.yaml"))
        assert (config.data.scale, config.data.crop_size) == (scale, crop)
        assert (config.model.n_feats, config.model.n_resblocks, config.model.init_embedding) == (256, 32, True)
        assert (config.optim.lr, config.optim.betas, config.optim.gamma) == (1e-4, [0.9, 0.999], 0.5)


def test_overrides_are_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"optim": {"lr": "1e-4"}}))  # YAML 1.1 reads 1e-4 as text
    config = load_config(
        path,
        ["optim.lr=2e-4", "optim.milestones=[10, 20]", "model.arch=edsr", "data.cache=true", "run.out_dir=somewhere"],
    )
    assert config.optim.lr == 2e-4 and config.optim.milestones == [10, 20]
    assert config.model.arch == "edsr" and config.data.cache is True and config.run.out_dir == "somewhere"
    assert parse_override("a.b=") == (["a", "b"], "")
    with pytest.raises(ValueError, match="section.key=value"):
        parse_override("no-equals-sign")


def test_unknown_key_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown config key 'optim\.lrr'.*lr, betas, milestones"):
        config_from_dict({"optim": {"lrr": 1.0}})
    valid = "model, data, optim, loss, ema, validation, run"
    with pytest.raises(ValueError, match=rf"unknown config key 'training'; valid keys: {valid}"):
        load_config(None, ["training.seed=1"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.batch_size=2.5", "'data.batch_size' must be int, got float 2.5"),
        ("data.cache=yes please", "'data.cache' must be bool"),
        ("optim.betas=0.9", "'optim.betas' must be a list of float"),
        ("optim.milestones=[1, two]", r"'optim.milestones\[1\]' must be int"),
        ("data=3", "section 'data.' must be a mapping"),
    ],
)
def test_wrong_types_are_user_errors(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize(
    "values, message",
    [
        ({"data": {"crop_size": 33, "scale": 2}}, "multiple of data.scale"),
        ({"model": {"arch": "edsr", "window": 10}}, "model.window apply to arch 'ignn' only"),
        ({"model": {"arch": "rcan"}}, "model.arch must be 'ignn' or 'edsr'"),
        ({"data": {"train": "folder"}}, "needs data.train_root"),
        ({"optim": {"milestones": [5, 3]}}, "increasing"),
        ({"data": {"channel_shuffle_prob": 1.5}}, r"\[0, 1\]"),
        ({"data": {"plant_recurrence": 0.5, "plant_decay": "cosine"}}, "data.plant_decay must be one of"),
        (
            {"data": {"plant_recurrence": 0.5, "plant_decay": "step", "plant_until": 0.0}},
            r"plant_until must be in \(0, 1\]",
        ),
        ({"data": {"plant_recurrence": 0.2, "plant_decay": "linear", "plant_final": 0.5}}, "plant_final must be in"),
        ({"run": {"device": "gpu"}}, "run.device must be one of auto, cuda, cpu, got 'gpu'"),
    ],
)
def test_inconsistent_values_are_rejected(values, message):
    with pytest.raises(ValueError, match=message):
        config_from_dict(values)


def test_model_kwargs_leave_unset_graph_arguments_to_the_model():
    config = config_from_dict({"model": {"window": 12}, "data": {"scale": 3}})
    assert config.model_kwargs() == {
        "arch": "ignn",
        "scale": 3,
        "n_feats": 256,
        "n_resblocks": 32,
        "res_scale": 0.1,
        "residual": "none",
        "window": 12,
    }
    assert asdict(config)["model"]["num_neighbors"] is None


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config("/nonexistent/config.yaml")
