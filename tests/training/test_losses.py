"""The reconstruction losses against their formulas on hand-made values."""

import math

import pytest
import torch
import torch.nn.functional as F

from ignn_pyg.training.config import load_config
from ignn_pyg.training.losses import LOSSES, charbonnier_loss, reconstruction_loss

SR = torch.tensor([[10.0, 13.0], [6.0, 250.0]])
HR = torch.tensor([[10.0, 10.0], [10.0, 250.5]])  # d = 0, 3, -4, -0.5


def test_each_loss_against_its_formula():
    assert reconstruction_loss("l1")(SR, HR).item() == pytest.approx((0 + 3 + 4 + 0.5) / 4)
    assert reconstruction_loss("mse")(SR, HR).item() == pytest.approx((0 + 9 + 16 + 0.25) / 4)
    expected = (math.sqrt(0 + 1) + math.sqrt(9 + 1) + math.sqrt(16 + 1) + math.sqrt(0.25 + 1)) / 4
    assert reconstruction_loss("charbonnier", eps=1.0)(SR, HR).item() == pytest.approx(expected)


def test_the_default_is_the_authors_l1_itself():
    """``l1`` is ``F.l1_loss``, the function training called before the option existed,
    so default runs are the same bit for bit."""
    assert reconstruction_loss("l1") is F.l1_loss
    assert load_config(None).loss.name == "l1"


def test_charbonnier_is_smooth_at_zero_and_l1_like_far_from_it():
    d = torch.tensor([0.0, 1000.0], requires_grad=True)
    charbonnier_loss(d, torch.zeros(2), eps=1e-3).backward()
    assert d.grad[0].item() == 0.0 and d.grad[1].item() == pytest.approx(0.5, rel=1e-6)  # mean of 2: 1/2 each


def test_the_config_checks_the_loss():
    assert load_config(None, ["loss.name=charbonnier", "loss.eps=0.01"]).loss.eps == 0.01
    with pytest.raises(ValueError, match=f"loss.name must be one of {', '.join(LOSSES)}, got 'huber'"):
        load_config(None, ["loss.name=huber"])
    with pytest.raises(ValueError, match="loss.eps must be positive"):
        load_config(None, ["loss.eps=0"])
    with pytest.raises(ValueError, match="loss.name must be one of"):
        reconstruction_loss("huber")
