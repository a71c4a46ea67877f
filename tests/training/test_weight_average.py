"""The EMA of the weights (``ema.decay``) against its formula, its checkpoint entries, and
that eval/upscale pick the average unless ``--weights-raw``."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from ignn_pyg.commands.main import main
from ignn_pyg.data import image_to_tensor, read_image, tensor_to_image, write_image
from ignn_pyg.inference import forward_whole
from ignn_pyg.inference.checkpoints import load_checkpoint, load_weights, save_checkpoint
from ignn_pyg.models import EDSR
from ignn_pyg.training.config import config_from_dict
from ignn_pyg.training.weight_average import (
    build_weight_average,
    load_weight_average_state,
    weight_average_state,
)


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        model.weight.fill_(value)
        model.bias.fill_(-value)


def test_each_step_follows_the_formula():
    """First update: the weights themselves; then 0.9 * average + 0.1 * weights, by hand."""
    model = nn.Linear(2, 1)
    model.requires_grad_(True)
    average = build_weight_average(model, 0.9)
    expected = None
    for value, by_hand in ((1.0, 1.0), (2.0, 1.1), (-3.0, 0.69)):
        _set(model, value)
        average.update_parameters(model)
        expected = by_hand
        assert average.module.weight.detach() == pytest.approx(torch.full((1, 2), expected), abs=1e-6)
        assert average.module.bias.detach() == pytest.approx(torch.full((1,), -expected), abs=1e-6)
    assert int(average.n_averaged) == 3


def test_a_frozen_parameter_stays_bit_equal():
    model = nn.Linear(3, 3)
    model.bias.requires_grad_(False)
    frozen = model.bias.detach().clone()
    average = build_weight_average(model, 0.999)
    for _ in range(4):
        with torch.no_grad():
            model.weight.add_(0.37)
        average.update_parameters(model)
    assert torch.equal(average.module.bias, frozen)


def test_decay_zero_is_off_and_bad_decays_are_refused():
    assert build_weight_average(nn.Linear(1, 1), 0.0) is None
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        build_weight_average(nn.Linear(1, 1), 1.0)
    for decay in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="ema.decay must be in"):
            config_from_dict({"ema": {"decay": decay}})
    assert config_from_dict({}).ema.decay == 0.0


def test_the_checkpoint_entries_restore_the_average_exactly():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    average = build_weight_average(model, 0.5)
    for _ in range(3):
        with torch.no_grad():
            model.weight.mul_(1.3)
        average.update_parameters(model)
    state = weight_average_state(average)
    assert set(state["ema_state_dict"]) == set(model.state_dict()) and state["ema_updates"] == 3
    restored = build_weight_average(nn.Linear(4, 2), 0.5)
    load_weight_average_state(restored, state)
    assert all(torch.equal(state["ema_state_dict"][k], v) for k, v in restored.module.state_dict().items())
    assert int(restored.n_averaged) == 3
    with pytest.raises(ValueError, match="holds no EMA"):
        load_weight_average_state(restored, {"state_dict": model.state_dict()})


@pytest.fixture
def ema_checkpoint(tmp_path):
    """An EDSR checkpoint whose ``ema_state_dict`` is another EDSR's weights."""
    torch.manual_seed(0)
    raw, other = EDSR(2, n_feats=8, n_resblocks=1), EDSR(2, n_feats=8, n_resblocks=1)
    path = tmp_path / "ema.pt"
    save_checkpoint(path, raw, ema_state_dict=other.state_dict(), ema_updates=7)
    return path, raw.eval(), other.eval()


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_loading_picks_the_average_unless_raw(ema_checkpoint):
    path, raw, other = ema_checkpoint
    assert _same_weights(load_weights(path), other) and _same_weights(load_checkpoint(path)[0], other)
    assert _same_weights(load_weights(path, raw=True), raw) and _same_weights(load_checkpoint(path, raw=True)[0], raw)


@pytest.mark.parametrize("flag", [[], ["--weights-raw"]])
def test_upscale_uses_the_average_unless_weights_raw(tmp_path, ema_checkpoint, flag):
    path, raw, other = ema_checkpoint
    src = tmp_path / "in.png"
    write_image(src, np.random.default_rng(0).integers(0, 256, (20, 18, 3), dtype=np.uint8))
    out = tmp_path / "out.png"
    args = ["upscale", str(src), "-o", str(out), "--weights", str(path), "--device", "cpu", "--precision", "fp32"]
    assert main(args + flag) == 0
    model = raw if flag else other
    expected = tensor_to_image(forward_whole(model, image_to_tensor(read_image(src))))
    np.testing.assert_array_equal(read_image(out), expected)


def test_eval_scores_the_average_unless_weights_raw(tmp_path, ema_checkpoint):
    """Each choice scores exactly as a checkpoint holding only those weights."""
    path, raw, other = ema_checkpoint
    folder = tmp_path / "hr"
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        write_image(folder / f"{name}.png", rng.integers(0, 256, (32, 36, 3), dtype=np.uint8))

    def mean_psnr(weights, *flag):
        out = tmp_path / f"eval_{weights.stem}{'_raw' if flag else ''}"
        args = ["eval", "--weights", weights, "--dataset", folder, "--scale", 2, "--out", out, "--device", "cpu"]
        assert main([*map(str, args), "--precision", "fp32", *flag]) == 0
        return json.loads((out / "results.json").read_text())["mean"]["psnr"]

    save_checkpoint(tmp_path / "only_ema.pt", other)
    save_checkpoint(tmp_path / "only_raw.pt", raw)
    default, with_raw = mean_psnr(path), mean_psnr(path, "--weights-raw")
    assert default == mean_psnr(tmp_path / "only_ema.pt") and with_raw == mean_psnr(tmp_path / "only_raw.pt")
    assert default != with_raw
