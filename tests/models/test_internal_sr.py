"""Graph super-resolution: the patch estimate by brute force, back-projection's
tolerance, the network's own graph, and recovery of planted cross-scale recurrence."""

import math

import pytest
import torch
import torch.nn.functional as F

from ignn_pyg.data import bicubic_upsample, downsample_for_graph, imresize
from ignn_pyg.graph import fold_patches
from ignn_pyg.models import IGNN
from ignn_pyg.models.internal_sr import (
    InternalSRConfig,
    back_project,
    bicubic_back_projected,
    build_graph,
    internal_sr,
    patch_estimate,
)


def _smooth_noise(generator, shape, blur=1):
    x = torch.rand(shape, generator=generator) * 255
    return F.avg_pool2d(F.pad(x, (blur,) * 4, mode="replicate"), 2 * blur + 1, stride=1)


@pytest.mark.parametrize(
    "transfer, match_std, prior",
    [
        ("patch", False, None),
        ("patch", True, None),
        ("patch", False, 0.05),
        ("detail", False, None),
        ("detail", False, 0.05),
    ],
)
def test_patch_estimate_brute_force(transfer, match_std, prior):
    gen = torch.Generator().manual_seed(0)
    lr = _smooth_noise(gen, (2, 3, 13, 12))
    config = InternalSRConfig(
        scale=2, num_neighbors=3, window=2, h=0.3, transfer=transfer, match_std=match_std, prior_distance=prior
    )
    graph = build_graph(lr, config)
    s, k, p, t = 2, 3, 3, 2
    tg, sg = graph.target_grid, graph.source_grid
    lr_pad = F.pad(lr, (tg.pad_left, tg.pad_right, tg.pad_top, tg.pad_bottom), mode="replicate")
    hr_src = lr[..., : sg.height * s, : sg.width * s]
    if transfer == "detail":  # the detail the graph's downsampling lost
        hr_src = hr_src - bicubic_upsample(downsample_for_graph(lr, s), s)
    src_pad = F.pad(hr_src, (sg.pad_left * s, sg.pad_right * s, sg.pad_top * s, sg.pad_bottom * s), mode="replicate")
    patches = torch.zeros(2, tg.num_patches, 3 * (p * s) ** 2)
    n = sg.num_patches
    for b in range(2):
        for m in range(tg.num_patches):
            r, c = divmod(m, tg.cols)
            query = lr_pad[b, :, r * t : r * t + p, c * t : c * t + p]
            edges = slice((b * tg.num_patches + m) * k, (b * tg.num_patches + m + 1) * k)
            score = torch.exp(-graph.distance[edges].double() / 0.3)
            weight = score / (score.sum() + (0.0 if prior is None else math.exp(-prior / 0.3)))
            if transfer == "detail":
                estimate = torch.zeros(3, p * s, p * s)
            else:
                estimate = query.mean((1, 2))[:, None, None].expand(3, p * s, p * s).clone()
            for w, j in zip(weight.float(), graph.edge_index[0, edges]):
                jr, jc = divmod(int(j) - b * n, sg.cols)
                example = src_pad[b, :, jr * t * s : (jr * t + p) * s, jc * t * s : (jc * t + p) * s]
                if transfer == "patch":
                    example = example - example.mean((1, 2), keepdim=True)
                if match_std:
                    example = (
                        example
                        * (query.var((1, 2), keepdim=True) + 1e-5).sqrt()
                        / (
                            src_pad[b, :, jr * t * s : (jr * t + p) * s, jc * t * s : (jc * t + p) * s].var(
                                (1, 2), keepdim=True
                            )
                            + 1e-5
                        ).sqrt()
                    )
                estimate += w * example
            patches[b, m] = estimate.reshape(-1)
    expected = fold_patches(patches, tg.scaled(s))
    if transfer == "detail":
        expected = expected + bicubic_upsample(lr, s)
    torch.testing.assert_close(patch_estimate(lr, graph, config), expected, rtol=1e-4, atol=1e-3)


def test_back_projection_reaches_tolerance():
    gen = torch.Generator().manual_seed(1)
    lr = _smooth_noise(gen, (1, 3, 24, 20)).round()
    config = InternalSRConfig(scale=2)
    for sr, info in (internal_sr(lr, config), bicubic_back_projected(lr, config)):
        residual = (imresize(sr.double(), 0.5) - lr).abs().max()
        assert info["initial_residual"] > config.tolerance and info["iterations"] > 0
        assert float(residual) <= config.tolerance + 1e-4  # float32 result, re-measured in float64


def test_no_back_projection_is_the_estimate():
    gen = torch.Generator().manual_seed(2)
    lr = _smooth_noise(gen, (1, 3, 16, 16))
    config = InternalSRConfig(back_projection_iterations=0)
    sr, info = internal_sr(lr, config)
    torch.testing.assert_close(sr, patch_estimate(lr, build_graph(lr, config), config))
    assert info["iterations"] == 0


@pytest.mark.parametrize("scale", [2, 3])
def test_same_graph_as_the_network(scale):
    gen = torch.Generator().manual_seed(3)
    lr = _smooth_noise(gen, (1, 3, 70, 66))
    model = IGNN(scale, n_feats=8, n_resblocks=2, window=10, embedding="pixel")
    config = InternalSRConfig(scale=scale, window=10)
    ours, theirs = build_graph(lr, config), model.build_graph(lr)
    assert not ours.global_search
    assert torch.equal(ours.edge_index, theirs.edge_index)
    torch.testing.assert_close(ours.distance, theirs.distance)
    # and the same random-neighbour control for the same seed
    ours = build_graph(lr, config, torch.Generator().manual_seed(9))
    theirs = model.build_graph(lr, neighbors="random", generator=torch.Generator().manual_seed(9))
    assert torch.equal(ours.edge_index, theirs.edge_index)


def _planted_recurrence():
    """A grey LR image holding a textured 32x32 pattern ``big`` and, beside it, its own
    MATLAB-bicubic 2x reduction: every interior patch of the small copy has an exact
    partner in the downsampled image, whose 2x larger original is ``big``."""
    gen = torch.Generator().manual_seed(4)
    big = _smooth_noise(gen, (1, 3, 32, 32), blur=0) * 0.6 + 50  # fine detail, no blur
    small = imresize(big, 0.5)
    lr = torch.full((1, 3, 48, 96), 128.0)
    lr[..., 8:40, 52:84] = big  # at multiples of 4: its reduction lies on the source patch grid
    lr[..., 16:32, 8:24] = small  # at even offsets: on the query patch grid
    return lr, big


@pytest.mark.parametrize("transfer, prior", [("detail", 0.01), ("patch", None)])
def test_recovers_planted_recurrence(transfer, prior):
    lr, big = _planted_recurrence()
    # a low temperature: the exact partner (distance ~0) takes the weight
    config = InternalSRConfig(scale=2, h=0.001, transfer=transfer, prior_distance=prior)
    region = (..., slice(32 + 6, 64 - 6), slice(16 + 6, 48 - 6))  # the small copy at 2x, minus a border
    truth = big[..., 6:-6, 6:-6]

    def error(sr):
        return float((sr[region] - truth).square().mean().sqrt())

    graph_sr, _ = internal_sr(lr, config)
    random_sr, _ = internal_sr(lr, config, neighbors="random")
    bicubic_bp, _ = bicubic_back_projected(lr, config)
    assert graph_sr.shape == (1, 3, 96, 192)
    assert error(graph_sr) < 0.1 * error(bicubic_bp)
    assert error(random_sr) > 0.9 * error(bicubic_bp)


def test_bad_parameters():
    with pytest.raises(ValueError, match="embedding"):
        InternalSRConfig(embedding="sift")
    with pytest.raises(ValueError, match="transfer"):
        InternalSRConfig(transfer="copy")
    with pytest.raises(ValueError, match="match_std"):
        InternalSRConfig(transfer="detail", match_std=True)
    with pytest.raises(ValueError, match="h must"):
        InternalSRConfig(h=0)
    with pytest.raises(ValueError, match="neighbors"):
        internal_sr(torch.zeros(1, 3, 16, 16), neighbors="nearest")


def test_back_projection_is_the_limit_of_irani_peleg():
    # plain x <- x + U (y - D x), iterated to convergence, has the same fixed point
    gen = torch.Generator().manual_seed(5)
    lr = _smooth_noise(gen, (1, 3, 10, 9)).double()
    estimate = _smooth_noise(gen, (1, 3, 20, 18)).double()
    plain = estimate
    for _ in range(300):
        plain = plain + imresize(lr - imresize(plain, 0.5), 2)
    ours, info = back_project(estimate, lr, 2, iterations=3, tolerance=1e-9)
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-6)
    assert info["iterations"] <= 2
