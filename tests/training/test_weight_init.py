from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ignn_pyg.inference.checkpoints import save_checkpoint
from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.nn.blocks import MeanShift
from ignn_pyg.training.weight_init import scaled_kaiming_init_, warm_start_


def test_scaled_kaiming_statistics_and_zero_biases():
    torch.manual_seed(0)
    model = EDSR(2, n_feats=32, n_resblocks=2)
    touched = scaled_kaiming_init_(model, scale=0.1)
    assert "head" in touched and "tail" in touched and "body.0.conv1" in touched
    conv = model.body[0].conv1  # 32 * 32 * 9 = 9216 weights
    expected = 0.1 * math.sqrt(2.0 / (32 * 9))
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.05)
    assert abs(conv.weight.mean().item()) < 3 * expected / math.sqrt(conv.weight.numel())
    assert all(
        torch.count_nonzero(m.bias) == 0 for n, m in model.named_modules() if n in touched and m.bias is not None
    )


def test_unscaled_modules_keep_plain_kaiming_and_the_rest_is_unchanged():
    model = IGNN(3, n_feats=8, n_resblocks=2)
    torch.manual_seed(0)
    scaled_kaiming_init_(model, scale=0.1)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)  # the same draws, so only the scaling can differ
    scaled_kaiming_init_(model, scale=0.1, unscaled=["fuse_hr"])
    for name, value in model.state_dict().items():
        if name.startswith("fuse_hr.") and name.endswith(".weight"):
            assert torch.equal(value * 0.1, reference[name]), name
        else:
            assert torch.equal(value, reference[name]), name
    with pytest.raises(ValueError, match=r"init_unscaled names \['fuse'\], which hold no layer.*fuse_hr"):
        scaled_kaiming_init_(model, unscaled=["fuse"])  # a prefix of a name is not a module


def test_frozen_mean_shifts_are_untouched_and_embedding_follows_the_flag():
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    touched = scaled_kaiming_init_(model, scale=0.1, include_embedding=False)
    after = model.state_dict()
    for name, module in model.named_modules():
        if isinstance(module, (MeanShift, nn.Conv2d)) and (isinstance(module, MeanShift) or "embedding" in name):
            assert name not in touched
            assert torch.equal(before[f"{name}.weight"], after[f"{name}.weight"])
            assert torch.equal(before[f"{name}.bias"], after[f"{name}.bias"])
    touched = scaled_kaiming_init_(model, scale=0.1, include_embedding=True)
    assert {"embedding.conv1", "embedding.conv2"} <= set(touched) and "embedding.normalize" not in touched
    assert model.embedding.conv1.bias.abs().sum() == 0
    assert not model.embedding.conv1.weight.requires_grad  # still frozen
    assert all(not isinstance(m, MeanShift) for n, m in model.named_modules() if n in touched)
    assert all(isinstance(m, (nn.Conv2d, nn.Linear)) for n, m in model.named_modules() if n in touched)


def test_warm_start_copies_every_weight_of_the_same_model(tmp_path):
    torch.manual_seed(0)
    source = IGNN(2, n_feats=8, n_resblocks=2, residual="bicubic")
    scaled_kaiming_init_(source, scale=0.5)
    save_checkpoint(tmp_path / "source.pt", source, iteration=7)
    torch.manual_seed(1)
    model = IGNN(2, n_feats=8, n_resblocks=2, residual="bicubic")
    scaled_kaiming_init_(model, scale=0.1)
    assert warm_start_(model, tmp_path / "source.pt") == 7
    theirs = source.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.state_dict().items())  # frozen VGG too


def test_warm_start_refuses_another_model_naming_what_differs(tmp_path):
    save_checkpoint(tmp_path / "wide.pt", IGNN(2, n_feats=16, n_resblocks=2))
    save_checkpoint(tmp_path / "edsr.pt", EDSR(2, n_feats=8, n_resblocks=2))
    model = IGNN(2, n_feats=8, n_resblocks=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="n_feats 16 there, 8 here"):
        warm_start_(model, tmp_path / "wide.pt")
    with pytest.raises(ValueError, match="holds EDSR weights, not IGNN"):
        warm_start_(model, tmp_path / "edsr.pt")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_an_authors_ignn_starts_an_ignn_detail(tmp_path):
    """Every weight of an IGNN with the authors' layer lands at its place in an otherwise
    equal IGNN-detail (the layer in its features); the detail transfer and its lift keep
    their initialisation; the other direction, or another difference beside, is refused."""
    torch.manual_seed(0)
    source = IGNN(2, n_feats=8, n_resblocks=2, residual="bicubic")
    scaled_kaiming_init_(source, scale=0.5)
    save_checkpoint(tmp_path / "ignn.pt", source, iteration=8000)
    torch.manual_seed(1)
    model = IGNN(2, n_feats=8, n_resblocks=2, residual="bicubic", aggregation="ignn_detail")
    own = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if k.startswith(("aggregation.detail.", "aggregation.lift."))
    }
    assert warm_start_(model, tmp_path / "ignn.pt") == 8000
    ours = model.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(ours[key.replace("aggregation.", "aggregation.features.", 1)], value), key
    assert own and all(torch.equal(ours[k], v) for k, v in own.items())
    assert len(ours) == len(source.state_dict()) + len(own)
    save_checkpoint(tmp_path / "detail.pt", model)
    with pytest.raises(ValueError, match="aggregation 'ignn_detail' there, 'ignn' here"):
        warm_start_(IGNN(2, n_feats=8, n_resblocks=2, residual="bicubic"), tmp_path / "detail.pt")
    with pytest.raises(ValueError, match="n_resblocks 2 there, 3 here"):
        warm_start_(
            IGNN(2, n_feats=8, n_resblocks=3, residual="bicubic", aggregation="ignn_detail"), tmp_path / "ignn.pt"
        )
