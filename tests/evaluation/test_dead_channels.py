"""Dead ReLU channels against the pre-activations computed by hand."""

import pytest
import torch
from torch import nn

from ignn_pyg.evaluation.dead_channels import DeadChannelCounter, dead_relu_channels


def test_counts_match_the_pre_activations():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1), nn.ReLU(inplace=True))
    with torch.no_grad():
        model[0].bias.copy_(torch.tensor([0.0, -1e3, 0.0, 1e3]))  # channel 1 can never fire
        model[2].weight.zero_()
        model[2].bias.copy_(torch.tensor([1.0, -1.0, 0.0]))  # constant: fires, never, never (0 is not > 0)
    inputs = [torch.randn(1, 2, 5, 6), torch.randn(2, 2, 4, 4)]
    counts = dead_relu_channels(model, inputs)

    with torch.no_grad():
        first = [model[0](x) for x in inputs]
    expected_first = sum(int(~torch.stack([(f[:, c] > 0).any() for f in first]).any()) for c in range(4))
    assert counts == {"1": (expected_first, 4), "3": (2, 3)}
    assert expected_first >= 1  # channel 1 at least
    # the hooks are gone once the count is done
    assert not model[1]._forward_hooks and not model[3]._forward_hooks


def test_a_reused_relu_pools_its_calls_and_rows_count_as_channels():
    relu = nn.ReLU()
    x = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])  # [N, C] rows
    y = torch.tensor([[-1.0, -1.0, 2.0]])
    model = nn.Module()
    model.relu = relu
    with DeadChannelCounter(model) as counter:
        relu(x)
        relu(y)
    assert counter.counts() == {"relu": (1, 3)}  # only channel 1 never fired
    with DeadChannelCounter(model), pytest.raises(ValueError, match="'relu' gave 2 channels after 3"):
        relu(x)
        relu(x[:, :2])
