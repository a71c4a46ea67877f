"""Models under torch.autocast (CPU bf16): the graph stays exactly the float32 graph,
outputs stay close to float32, every registered aggregation and EDSR run, and a bf16
training step keeps float32 master weights."""

from __future__ import annotations

import pytest
import torch

from ignn_pyg.data import downsample_for_graph, image_to_tensor, photo_path, read_image
from ignn_pyg.graph.cross_scale_graph import build_cross_scale_graph
from ignn_pyg.graph.patches import extract_patches
from ignn_pyg.graph.windows import search_windows
from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.nn import AGGREGATIONS
from tests.graph.test_knn import assert_same_neighbours
from tests.models.test_ignn import randomize, textured_image

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def astronaut_crop() -> torch.Tensor:
    """A real photograph: scikit-image's astronaut, 64 x 56 LR pixels of face and suit."""
    return image_to_tensor(read_image(photo_path("astronaut")))[:, :, 100:164, 180:236]


def test_graph_under_autocast_is_the_float32_graph_and_brute_force():
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=6).eval()
    lr = astronaut_crop()
    with torch.autocast(**BF16):
        graph = model.build_graph(lr)
    exact = model.build_graph(lr)
    assert torch.equal(graph.edge_index, exact.edge_index)
    assert graph.edge_attr.dtype == graph.distance.dtype == torch.float32
    assert torch.equal(graph.edge_attr, exact.edge_attr) and torch.equal(graph.distance, exact.distance)

    with torch.no_grad():  # brute force over every window on the float32 embeddings
        query, tg = extract_patches(model.embedding(lr), 3, 2)
        source, sg = extract_patches(model.embedding(downsample_for_graph(lr, 2)), 3, 2)
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 6, 2, "reference")
    assert_same_neighbours(graph.neighbors().view(1, -1, 5), query, source, windows, (sg.rows, sg.cols), 5)

    # what the model guards against: the same search on bf16 embeddings picks other sets
    with torch.no_grad(), torch.autocast(**BF16):
        naive = build_cross_scale_graph(
            model.embedding(lr), model.embedding(downsample_for_graph(lr, 2)), 2, 5, 3, 2, 6
        )
    same = (naive.neighbors().sort(1).values == exact.neighbors().sort(1).values).all(1)
    assert not bool(same.all())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bf16_output_within_the_rounding_of_its_depth(scale):
    """bf16 keeps 8 significant bits (relative step 2^-8); each of the L convolutions
    rounds its input and output once, and independent roundings add like a random walk,
    so the learned part of the output (here the whole output less the mean shift) may
    drift by about sqrt(L) * 2^-8 of its own magnitude."""
    model = randomize(IGNN(scale, n_feats=16, n_resblocks=4, window=6)).eval()
    lr = textured_image(40, 36)
    with torch.no_grad():
        exact = model(lr)
        with torch.autocast(**BF16):
            fast = model(lr)
    assert fast.dtype == torch.float32  # the output mean shift runs in float32
    depth = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) - 3  # minus shifts, VGG normalisation
    learned = (exact - model.output_shift(torch.zeros_like(exact))).abs().max()
    assert float((fast - exact).abs().max()) <= depth**0.5 * 2**-8 * float(learned)
    assert float((fast - exact).abs().max()) > 0  # bf16 really ran


@pytest.mark.parametrize("name", sorted(AGGREGATIONS))
def test_every_aggregation_runs_forward_and_backward_under_autocast(name):
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4, aggregation=name, residual="bicubic")
    lr = torch.rand(2, 3, 19, 16) * 255
    with torch.autocast(**BF16):
        out = model(lr)
    assert out.shape == (2, 3, 38, 32) and out.dtype == torch.float32
    assert bool(torch.isfinite(out).all())
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.float32 and bool(torch.isfinite(g).all()) for g in grads)


def test_edsr_under_autocast_matches_float32_closely():
    model = randomize(EDSR(2, n_feats=16, n_resblocks=4)).eval()
    lr = textured_image(24, 20)
    with torch.no_grad():
        exact = model(lr)
        with torch.autocast(**BF16):
            fast = model(lr)
    depth = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) - 2
    learned = (exact - model.output_shift(torch.zeros_like(exact))).abs().max()
    assert 0 < float((fast - exact).abs().max()) <= depth**0.5 * 2**-8 * float(learned)


def test_bf16_training_steps_lower_the_loss_and_keep_float32_master_weights():
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4, residual="bicubic").to(memory_format=torch.channels_last)
    hr = textured_image(32, 32)
    lr = downsample_for_graph(hr, 2).round()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(8):
        with torch.autocast(**BF16):
            out = model(lr.contiguous(memory_format=torch.channels_last))
        loss = torch.nn.functional.l1_loss(out.float(), hr)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(
        v.dtype == torch.float32
        for state in optimizer.state.values()
        for v in state.values()
        if torch.is_tensor(v) and v.is_floating_point()
    )
