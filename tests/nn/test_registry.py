"""Every registered aggregation inside a small IGNN; the docs example runs."""

import re
from pathlib import Path

import pytest
import torch

from ignn_pyg.models import IGNN
from ignn_pyg.nn import AGGREGATIONS, build_aggregation, register_aggregation

DOCS = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


@pytest.mark.parametrize("name", sorted(AGGREGATIONS))
def test_registered_layer_forward_backward(name):
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4, aggregation=name)
    lr = torch.rand(2, 3, 19, 16) * 255
    out = model(lr)
    assert out.shape == (2, 3, 38, 32)
    assert bool(torch.isfinite(out).all())
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), pname
        if not pname.endswith("weight_net.2.bias"):  # cancelled by a softmax (see test_ignn)
            assert bool(p.grad.abs().sum() > 0), pname


def test_unknown_and_duplicate_names():
    with pytest.raises(ValueError, match="unknown aggregation 'nope'"):
        IGNN(2, n_feats=8, n_resblocks=2, aggregation="nope")
    with pytest.raises(ValueError, match="already registered"):
        register_aggregation("ignn", lambda **_: None)
    kwargs = dict(
        channels=8,
        scale=2,
        num_neighbors=5,
        patch_size=3,
        edge_dim=64,
        res_scale=0.1,
        fusion="reference",
        reduced_channels=4,
    )
    assert type(build_aggregation("mean", **kwargs)).__name__ == "PatchGraphAggregation"


def test_docs_example_runs():
    code = re.search(r"```python\n(import torch.*?)```", DOCS.read_text(), re.S).group(1)
    try:
        exec(compile(code, str(DOCS), "exec"), {})
        assert "sharpness_softmax" in AGGREGATIONS
    finally:
        AGGREGATIONS.pop("sharpness_softmax", None)
