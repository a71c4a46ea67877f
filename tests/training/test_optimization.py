"""The optimiser options, the schedules and clipping against hand-computed values."""

import math

import pytest
import torch

from ignn_pyg.training.config import load_config
from ignn_pyg.training.optimization import build_optimizer, build_scheduler, clip_gradients


def learning_rates(schedule: str, steps: int, **kwargs) -> list[float]:
    """The learning rate at iterations 0 .. steps - 1."""
    optimizer = build_optimizer([torch.zeros(1, requires_grad=True)], "adam", 1e-3, (0.9, 0.999), 0.0)
    scheduler = build_scheduler(optimizer, schedule, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_cosine_with_warmup_at_chosen_iterations():
    lr0, warmup, total, floor = 1e-3, 4, 20, 1e-5
    rates = learning_rates("cosine", total, iterations=total, milestones=[], gamma=0.5, warmup=warmup, min_lr=floor)
    for t in (0, 1, 3):  # linear warm-up from lr0 / W
        assert rates[t] == pytest.approx(lr0 * (1 / warmup + (1 - 1 / warmup) * t / warmup))
    for t in (4, 5, 12, 19):  # cosine from lr0 down to the floor
        expected = floor + (lr0 - floor) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2
        assert rates[t] == pytest.approx(expected)
    assert rates[0] == pytest.approx(2.5e-4) and rates[12] == pytest.approx(5.05e-4)  # by hand


def test_cosine_without_warmup_and_the_default_multistep():
    rates = learning_rates("cosine", 10, iterations=10, milestones=[], gamma=0.5, warmup=0, min_lr=0.0)
    assert rates[0] == pytest.approx(1e-3) and rates[5] == pytest.approx(5e-4)
    rates = learning_rates("multistep", 8, iterations=8, milestones=[3, 6], gamma=0.5, warmup=0, min_lr=0.0)
    assert rates == pytest.approx([1e-3] * 3 + [5e-4] * 3 + [2.5e-4] * 2)


def test_adamw_decays_the_weights_apart_from_the_gradient():
    """With a zero gradient Adam's update is 0, so one AdamW step is p (1 - lr wd)."""
    weight = torch.full((3,), 2.0, requires_grad=True)
    optimizer = build_optimizer([weight], "adamw", 0.1, (0.9, 0.999), 0.5)
    weight.grad = torch.zeros(3)
    optimizer.step()
    assert weight.detach().tolist() == pytest.approx([2.0 * (1 - 0.1 * 0.5)] * 3)
    assert type(build_optimizer([weight], "adam", 0.1, (0.9, 0.999), 0.0)) is torch.optim.Adam


def test_clipping_scales_the_global_norm_down_only():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    a.grad, b.grad = torch.tensor([6.0, 0.0]), torch.tensor([8.0])  # global norm 10
    assert clip_gradients([a, b], 2.5).item() == pytest.approx(10.0)
    assert a.grad.tolist() == pytest.approx([1.5, 0.0]) and b.grad.tolist() == pytest.approx([2.0])
    assert clip_gradients([a, b], 100.0).item() == pytest.approx(2.5)  # under the bound: unchanged
    assert b.grad.tolist() == pytest.approx([2.0])


def test_the_config_checks_the_recipe():
    config = load_config(None, ["optim.name=adamw", "optim.schedule=cosine", "optim.warmup=10"])
    assert (config.optim.name, config.optim.schedule, config.optim.warmup) == ("adamw", "cosine", 10)
    for override, message in (
        ("optim.name=sgd", "optim.name must be one of adam, adamw"),
        ("optim.schedule=step", "optim.schedule must be one of multistep, cosine"),
        ("optim.warmup=10", "optim.warmup needs optim.schedule: cosine"),
        ("optim.clip_grad_norm=-1", "optim.clip_grad_norm must be >= 0"),
        ("optim.min_lr=1", "optim.min_lr must be in"),
    ):
        with pytest.raises(ValueError, match=message):
            load_config(None, [override])
