"""experiments/bundle_weights.py: which run of a model it bundles, and the training
history it writes into the bundled file, followed through ``model.init_from``."""

from ignn_pyg.inference.checkpoints import load_checkpoint, save_checkpoint
from ignn_pyg.models import EDSR
from tests.experiment_scripts import load_experiment


def train_config(iterations: int, init_from: str = "") -> dict:
    return {
        "model": {"arch": "edsr", "init_from": init_from},
        "data": {"scale": 2},
        "optim": {"iterations": iterations},
    }


def test_latest_run_is_the_highest_finished_stage(tmp_path):
    bundle = load_experiment("bundle_weights")
    model = EDSR(2, n_feats=4, n_resblocks=1)
    assert bundle.latest_run(tmp_path, "edsr_x2") == tmp_path / "edsr_x2"
    for folder, iteration in (
        ("edsr_x2", 20),
        ("edsr_x2_stage2", 20),
        ("edsr_x2_stage10", 20),
        ("edsr_x2_stage11", None),
        ("edsr_x20_stage12", 20),
    ):
        (tmp_path / folder).mkdir()
        if iteration is not None:
            save_checkpoint(tmp_path / folder / "last.pt", model, iteration=iteration, train_config=train_config(20))
    # numeric order (10 > 2), a stage without last.pt skipped, another model's stage ignored
    assert bundle.latest_run(tmp_path, "edsr_x2") == tmp_path / "edsr_x2_stage10"
    # a later stage still under way is passed over until it reaches its last iteration
    save_checkpoint(tmp_path / "edsr_x2_stage11" / "last.pt", model, iteration=7, train_config=train_config(20))
    assert bundle.latest_run(tmp_path, "edsr_x2") == tmp_path / "edsr_x2_stage10"
    save_checkpoint(tmp_path / "edsr_x2_stage11" / "last.pt", model, iteration=20, train_config=train_config(20))
    assert bundle.latest_run(tmp_path, "edsr_x2") == tmp_path / "edsr_x2_stage11"


def test_stages_follow_init_from_back_to_the_first_run(tmp_path):
    bundle = load_experiment("bundle_weights")
    model = EDSR(2, n_feats=4, n_resblocks=1)
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    save_checkpoint(first, model, iteration=20, seconds=7.0, train_config=train_config(20))
    save_checkpoint(second, model, iteration=30, seconds=5.0, train_config=train_config(30, str(first)))
    stages = bundle.training_stages(load_checkpoint(second)[1])
    assert [(s["iteration"], s["training_seconds"]) for s in stages] == [(20, 7.0), (30, 5.0)]
    assert stages[1]["train_config"]["model"]["init_from"] == str(first)

    # a bundled file (stages recorded, run-time keys gone) as a later stage's init_from
    bundled, third = tmp_path / "bundled.pt", tmp_path / "third.pt"
    save_checkpoint(
        bundled, model, iteration=30, training_seconds=5.0, train_config=train_config(30, str(first)), stages=stages
    )
    first.unlink()  # the history travels in the bundled file
    save_checkpoint(third, model, iteration=40, seconds=3.0, train_config=train_config(40, str(bundled)))
    assert [s["iteration"] for s in bundle.training_stages(load_checkpoint(third)[1])] == [20, 30, 40]
