"""IGNN: exactness against the dense oracle of the authors' forward pass, shapes,
gradients, modes, parameter counts."""

import pytest
import torch
from torch import nn

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.inference.checkpoints import to_reference_state_dict
from ignn_pyg.models import EDSR, IGNN, graph_scale_for
from tests.models.reference_ignn import reference_forward


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Kaiming-normal convs (gain sqrt(2), not the 0.1-scaled training init) and small
    random biases, leaving the frozen mean shifts and VGG normalisation alone, so the
    output depends strongly on every layer."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv2d) and not name.endswith(("shift", "normalize")):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.05)
    return model


def textured_image(h: int, w: int, seed: int = 1) -> torch.Tensor:
    """Smooth structure plus noise, in [0, 255]: no exact ties between patches."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 4 + 1, w // 4 + 1, generator=gen)
    base = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    return ((0.7 * base + 0.3 * torch.rand(1, 3, h, w, generator=gen)) * 255).clamp(0, 255)


@pytest.mark.parametrize(
    "scale,size,window",
    [
        (2, (41, 37), 6),  # windowed, odd and non-square
        (2, (24, 20), 30),  # window covers the grid: global search
        (3, (45, 52), 6),  # x3: the off-centre reference window
        (4, (33, 26), 5),  # x4: graph at 2, second upsampler in the tail
    ],
)
def test_matches_reference_forward(scale, size, window):
    blocks = 4
    model = randomize(IGNN(scale, n_feats=16, n_resblocks=blocks, window=window)).eval()
    lr = textured_image(*size)
    lr_down = downsample_for_graph(lr, graph_scale_for(scale))
    with torch.no_grad():
        ours = model(lr, lr_down)
        graph = model.build_graph(lr, lr_down)
        theirs, idx = reference_forward(to_reference_state_dict(model), lr, lr_down, scale, blocks, window=window)
    assert ours.shape == theirs.shape == (1, 3, size[0] * scale, size[1] * scale)
    assert float(theirs.std()) > 10.0  # far from the near-constant output of a tiny init
    same_sets = (graph.neighbors().view_as(idx).sort(-1).values == idx.sort(-1).values).all(-1)
    assert bool(same_sets.all())
    tol = 1e-3 + 1e-5 * float(theirs.abs().max())
    assert float((ours - theirs).abs().max()) <= tol


@pytest.mark.parametrize("scale", [2, 4])
def test_channels_last_model_and_input_give_the_same_output(scale):
    """The whole model in channels-last memory (a CPU speed-up for the backbone) computes
    the same function; the output comes back in the default layout."""
    model = randomize(IGNN(scale, n_feats=16, n_resblocks=2, window=5)).eval()
    lr = textured_image(21, 18)
    with torch.no_grad():
        graph = model.build_graph(lr)
        expected = model(lr, graph=graph)
        model = model.to(memory_format=torch.channels_last)
        out = model(lr.contiguous(memory_format=torch.channels_last), graph=graph)
    assert out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("fusion", ["reference", "edge"])
@pytest.mark.parametrize("scale,size", [(2, (19, 14)), (3, (17, 22)), (4, (15, 13))])
def test_output_shape(scale, size, fusion):
    model = IGNN(scale, n_feats=8, n_resblocks=2, window=4, fusion=fusion)
    out = model(torch.rand(2, 3, *size) * 255)
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)


@pytest.mark.parametrize("fusion", ["reference", "edge"])
def test_every_trainable_parameter_gets_a_gradient(fusion):
    model = randomize(IGNN(2, n_feats=8, n_resblocks=2, window=4, fusion=fusion))
    model(textured_image(18, 16)).square().mean().backward()
    # a weight net's last bias adds the same logit to every rank: softmax over ranks
    # cancels it, so its gradient is exactly zero (in the authors' model as well)
    shift_invariant = {f"aggregation.{net}_weight_net.2.bias" for net in ("hr", "lr")}
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
            if name not in shift_invariant:
                assert bool(p.grad.abs().sum() > 0), name
        else:
            assert p.grad is None, name
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        "input_shift.weight",
        "input_shift.bias",
        "output_shift.weight",
        "output_shift.bias",
        "embedding.normalize.weight",
        "embedding.normalize.bias",
        "embedding.conv1.weight",
        "embedding.conv1.bias",
        "embedding.conv2.weight",
        "embedding.conv2.bias",
    }


def test_train_and_eval_modes_agree():
    model = randomize(IGNN(2, n_feats=8, n_resblocks=2, window=4))
    lr = textured_image(20, 18)
    with torch.no_grad():
        a = model.train()(lr)
        b = model.eval()(lr)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("scale,expected", [(2, 47_152_233), (3, 50_102_633), (4, 49_512_553)])
def test_full_size_parameter_count_matches_authors(scale, expected):
    model = IGNN(scale)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_shape_and_gradients(scale):
    model = EDSR(scale, n_feats=8, n_resblocks=2)
    out = model(torch.rand(1, 3, 11, 9) * 255)
    assert out.shape == (1, 3, 11 * scale, 9 * scale)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_bad_input():
    model = IGNN(2, n_feats=8, n_resblocks=2)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        model(torch.rand(3, 20, 20))
    with pytest.raises(ValueError, match="5x5 pixels .* too small for this IGNN at x2: .* at least 12x12"):
        model(torch.rand(1, 3, 5, 5) * 255)
    with pytest.raises(ValueError, match="scales 2, 3 and 4"):
        IGNN(5)


def test_pixel_embedding_variant():
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4, embedding="pixel")
    graph = model.build_graph(textured_image(18, 16))
    assert graph.edge_attr.shape[1] == 3
    assert sum(p.numel() for p in model.embedding.parameters()) == 0
    assert model(textured_image(18, 16)).shape == (1, 3, 36, 32)
    with pytest.raises(ValueError, match="embedding must be one of"):
        IGNN(2, n_feats=8, n_resblocks=2, embedding="resnet")


@pytest.mark.parametrize(
    "model",
    [IGNN(2, n_feats=8, n_resblocks=2, residual="bicubic"), EDSR(3, n_feats=8, n_resblocks=1, residual="bicubic")],
)
def test_bicubic_residual_adds_the_bicubic_upsampling(model):
    from ignn_pyg.data import imresize

    lr = textured_image(20, 18)
    with torch.no_grad():
        for p in model.tail.parameters():
            p.zero_()
        torch.testing.assert_close(model(lr), imresize(lr / 255, model.scale) * 255)
    with pytest.raises(ValueError, match="residual must be one of"):
        EDSR(2, residual="lanczos")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_min_input_side_by_brute_force(scale):
    """At the authors' graph settings (window 30, k = 5) the model takes L x L and L x 400
    images (L = min_input_side; 400 is past the window, so the search is windowed) and
    refuses, in one line naming L, one pixel less in either dimension and the images of
    the issue report (1 x 1, 7 x 7, 5 x 400)."""
    model = IGNN(scale, n_feats=4, n_resblocks=2).eval()
    side = model.min_input_side
    assert side == 6 * graph_scale_for(scale)  # a 3 x 3 source patch grid at stride 2
    with torch.no_grad():
        for h, w in [(side, side), (side, 400), (400, side)]:
            assert model(textured_image(h, w)).shape == (1, 3, scale * h, scale * w)
        for h, w in [(side - 1, side - 1), (side - 1, 400), (400, side - 1), (1, 1), (7, 7), (5, 400)]:
            with pytest.raises(ValueError) as refused:
                model(textured_image(h, w))
            message = str(refused.value)
            assert "\n" not in message
            assert f"{h}x{w} pixels (height x width) is too small for this IGNN at x{scale}" in message
            assert f"at least {side}x{side}" in message


def test_edsr_takes_a_single_pixel():
    for residual in ("none", "bicubic"):
        model = EDSR(2, n_feats=4, n_resblocks=1, residual=residual).eval()
        with torch.no_grad():
            assert model(torch.full((1, 3, 1, 1), 128.0)).shape == (1, 3, 2, 2)
