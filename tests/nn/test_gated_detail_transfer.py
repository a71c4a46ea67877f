"""GatedDetailTransfer on tiny hand-made graphs, against a brute-force computation.

Geometry: scale 2, patch 2, stride 2, so queries are disjoint 2x2 blocks of the LR image,
sources disjoint 2x2 blocks of the downsampled image, and the queries' HR patches (4x4,
stride 4) do not overlap: folding is plain placement.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ignn_pyg.data.resize import bicubic_upsample, downsample_for_graph
from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.patches import PatchGrid
from ignn_pyg.nn import GatedDetailTransfer
from ignn_pyg.nn.gated_detail_transfer import BICUBIC_SUPPORT, image_detail, support_patches

S, P, EDGE_DIM = 2, 2, 3


def hand_graph(height: int, width: int, neighbors: list[list[int]], seed: int = 0) -> CrossScaleGraph:
    """Queries of an ``height x width`` LR image linked to the given source ids (one list
    of ``k`` per query, row-major), random edge features."""
    gen = torch.Generator().manual_seed(seed)
    tgrid, sgrid = PatchGrid.of(height, width, P, 2), PatchGrid.of(height // S, width // S, P, 2)
    k = len(neighbors[0])
    assert len(neighbors) == tgrid.num_patches
    return CrossScaleGraph(
        edge_index=torch.stack(
            [torch.tensor(neighbors).reshape(-1), torch.arange(len(neighbors)).repeat_interleave(k)]
        ),
        edge_attr=torch.rand(len(neighbors) * k, EDGE_DIM, generator=gen) * 20,
        distance=torch.zeros(len(neighbors) * k),
        rank=torch.arange(k).repeat(len(neighbors)),
        source_pos=sgrid.positions(),
        target_pos=tgrid.positions(),
        source_batch=torch.zeros(sgrid.num_patches, dtype=torch.long),
        target_batch=torch.zeros(tgrid.num_patches, dtype=torch.long),
        source_grid=sgrid,
        target_grid=tgrid,
        scale=S,
        num_neighbors=k,
        window=30,
        window_indexing="reference",
        backend="dense",
        global_search=True,
    )


def random_graph(height: int, width: int, k: int, seed: int = 0) -> CrossScaleGraph:
    gen = torch.Generator().manual_seed(seed)
    n = PatchGrid.of(height // S, width // S, P, 2).num_patches
    m = PatchGrid.of(height, width, P, 2).num_patches
    return hand_graph(height, width, [torch.randperm(n, generator=gen)[:k].tolist() for _ in range(m)], seed)


def perturbed_layer(seed: int = 0) -> GatedDetailTransfer:
    """A layer whose MLP matters as much as its prior (the default starts it near 0)."""
    torch.manual_seed(seed)
    layer = GatedDetailTransfer(S, EDGE_DIM, P, hidden=6)
    with torch.no_grad():
        for p in layer.weight_net.parameters():
            p.add_(torch.randn_like(p) * 0.5)
        layer.log_threshold.fill_(math.log(0.3))  # gates neither open nor shut
    return layer


def brute_force(layer: GatedDetailTransfer, image: torch.Tensor, graph: CrossScaleGraph) -> torch.Tensor:
    """The layer's formula edge by edge, in float64, without PyG or the patch helpers."""
    image = image.double()
    down = downsample_for_graph(image, S)
    detail = image[..., : down.shape[-2] * S, : down.shape[-1] * S] - bicubic_upsample(down, S)
    m = BICUBIC_SUPPORT
    lr_pad = F.pad(image, (m, m, m, m), mode="replicate")[0]
    down_pad = F.pad(down, (m, m, m, m), mode="replicate")[0]
    w = P + 2 * m
    tgrid, sgrid = graph.target_grid, graph.source_grid
    k = graph.num_neighbors
    out = torch.zeros(3, S * image.shape[-2], S * image.shape[-1], dtype=torch.float64)
    eps, beta_s, beta_g, log_tau = (
        layer.eps,
        float(layer.choice_slope),
        float(layer.gate_slope),
        float(layer.log_threshold),
    )
    net = layer.weight_net.double()
    for q in range(tgrid.num_patches):
        qr, qc = divmod(q, tgrid.cols)
        query_window = lr_pad[:, 2 * qr : 2 * qr + w, 2 * qc : 2 * qc + w]
        scores, gates, details = [], [], []
        for e in range(q * k, q * k + k):
            j = int(graph.edge_index[0, e])
            sr, sc = divmod(j, sgrid.cols)
            source_window = down_pad[:, 2 * sr : 2 * sr + w, 2 * sc : 2 * sc + w]
            delta = (query_window - source_window).abs().mean((1, 2)) / 255.0
            u = math.log(float(delta.mean()) + eps)
            features = torch.cat([torch.log(delta + eps), torch.log1p(graph.edge_attr[e].double() / P**2)])
            residual_score, residual_gate = net(features).tolist()
            scores.append(-beta_s * u + residual_score)
            gates.append(1 / (1 + math.exp(-(beta_g * (log_tau - u) + residual_gate))))
            details.append(detail[0, :, 4 * sr : 4 * sr + 4, 4 * sc : 4 * sc + 4])
        choice = torch.tensor(scores, dtype=torch.float64).softmax(0)
        out[:, 4 * qr : 4 * qr + 4, 4 * qc : 4 * qc + 4] = sum(c * g * d for c, g, d in zip(choice, gates, details))
    layer.weight_net.float()
    return out[None].float()


def smooth_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 2 + 1, width // 2 + 1, generator=gen)
    return (F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=True) * 255).clamp(0, 255)


def test_equals_brute_force():
    image = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0)) * 255
    graph = random_graph(12, 16, k=3)
    layer = perturbed_layer()
    with torch.no_grad():
        out = layer(image, graph)
        expected = brute_force(layer, image, graph)
    assert out.shape == (1, 3, 24, 32)
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=1e-4)
    assert float(expected.abs().max()) > 1.0  # the test sees detail, not zeros


def exact_match_image() -> tuple[torch.Tensor, int, int]:
    """A 16 x 24 LR image whose top-right 8 x 8 block is ``down(A)`` for its left 16 x 16
    block ``A``: query (1, 9) (LR rows 2-3, columns 18-19) and source (1, 1) of the
    downsampled image agree on the whole 6 x 6 window the bicubic support needs.
    Returns ``(image, query id, source id)``."""
    a = smooth_image(16, 16, seed=1)
    image = torch.cat([a, torch.cat([downsample_for_graph(a, S), smooth_image(8, 8, seed=2)], 2)], 3)
    return image, 1 * 12 + 9, 1 * 6 + 1


def copying_layer() -> GatedDetailTransfer:
    """Weights set to copy: the nearest match takes all the weight, every gate is open."""
    layer = GatedDetailTransfer(S, EDGE_DIM, P)
    with torch.no_grad():
        layer.weight_net[-1].weight.zero_()
        layer.choice_slope.fill_(50.0)
        layer.log_threshold.fill_(100.0)
    return layer


def test_copy_weights_deliver_an_exact_matchs_hr_patch_unchanged():
    image, query, source = exact_match_image()
    gen = torch.Generator().manual_seed(0)
    neighbors = [torch.randperm(24, generator=gen)[:3].tolist() for _ in range(96)]
    neighbors[query] = [17, source, 22]  # the exact match is not first
    graph = hand_graph(16, 24, neighbors)
    layer = copying_layer()
    with torch.no_grad():
        out = bicubic_upsample(image, S) + layer(image, graph)
        choice, gate = layer.match_weights(image, graph)
    qr, qc = divmod(query, 12)
    sr, sc = divmod(source, 6)
    arrived = out[0, :, 4 * qr : 4 * qr + 4, 4 * qc : 4 * qc + 4]
    hr_example = image[0, :, 4 * sr : 4 * sr + 4, 4 * sc : 4 * sc + 4]  # the LR image at twice the source's place
    torch.testing.assert_close(arrived, hr_example, atol=2e-3, rtol=0)
    assert float((arrived - bicubic_upsample(image, S)[0, :, 4 * qr : 4 * qr + 4, 4 * qc : 4 * qc + 4]).abs().max()) > 1
    torch.testing.assert_close(choice.view(-1, 3)[query], torch.tensor([0.0, 1.0, 0.0]))
    assert float(gate.view(-1, 3)[query, 1]) > 0.999


def test_default_prior_opens_the_gate_for_an_exact_match_only():
    image, query, source = exact_match_image()
    gen = torch.Generator().manual_seed(0)
    neighbors = [torch.randperm(24, generator=gen)[:3].tolist() for _ in range(96)]
    neighbors[query] = [17, source, 22]
    layer = GatedDetailTransfer(S, EDGE_DIM, P)
    with torch.no_grad():
        choice, gate = layer.match_weights(image, hand_graph(16, 24, neighbors))
    assert float(gate.view(-1, 3)[query, 1]) > 0.999 and float(choice.view(-1, 3)[query, 1]) > 0.999
    assert float(gate.view(-1, 3)[query, [0, 2]].max()) < 0.05


def test_closed_gate_sends_nothing():
    image, query, source = exact_match_image()
    graph = random_graph(16, 24, k=3)
    layer = copying_layer()
    with torch.no_grad():
        layer.log_threshold.fill_(-100.0)
        assert float(layer(image, graph).abs().max()) == 0.0


def test_invariant_to_the_order_of_a_querys_neighbours():
    image = smooth_image(12, 16)
    graph = random_graph(12, 16, k=4, seed=5)
    k, e = 4, graph.num_edges
    order = torch.cat([q * k + torch.randperm(k, generator=torch.Generator().manual_seed(q)) for q in range(e // k)])
    shuffled = hand_graph(12, 16, graph.edge_index[0][order].view(-1, k).tolist())
    shuffled.edge_attr = graph.edge_attr[order]
    layer = perturbed_layer()
    with torch.no_grad():
        torch.testing.assert_close(layer(image, shuffled), layer(image, graph), atol=1e-4, rtol=1e-5)


def test_gradients_reach_every_parameter_and_the_image():
    image = smooth_image(12, 16).requires_grad_()
    layer = perturbed_layer()
    layer(image, random_graph(12, 16, k=3)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
        if name != "weight_net.2.bias":  # its score half cancels in the softmax
            assert bool(p.grad.abs().sum() > 0), name
    assert float(layer.weight_net[2].bias.grad[1].abs()) > 0  # the gate half does not
    assert bool(image.grad.abs().sum() > 0)


def test_float32_under_bf16_autocast():
    image = smooth_image(12, 16)
    graph = random_graph(12, 16, k=3)
    layer = perturbed_layer()
    with torch.no_grad():
        reference = layer(image, graph)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(image, graph)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, reference)
    out.square().sum().backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in layer.parameters())


def test_state_dict_round_trip(tmp_path):
    image = smooth_image(12, 16)
    graph = random_graph(12, 16, k=3)
    layer = perturbed_layer()
    torch.save(layer.state_dict(), tmp_path / "layer.pt")
    loaded = GatedDetailTransfer(S, EDGE_DIM, P, hidden=6)
    loaded.load_state_dict(torch.load(tmp_path / "layer.pt"))
    assert {"log_threshold", "gate_slope", "choice_slope"} <= set(loaded.state_dict())
    with torch.no_grad():
        assert torch.equal(loaded(image, graph), layer(image, graph))


def test_support_patches_against_slicing():
    x = torch.rand(2, 3, 9, 7)
    grid = PatchGrid.of(9, 7, 3, 2)  # one zero row and column of grid padding
    out = support_patches(x, grid, 2)
    assert out.shape == (2, grid.num_patches, 3 * 49)
    padded = F.pad(x, (2 + grid.pad_left, 2 + grid.pad_right, 2 + grid.pad_top, 2 + grid.pad_bottom), mode="replicate")
    for m, (r, c) in enumerate(grid.positions().tolist()):  # top-left (r, c), window from (r - 2, c - 2)
        top, left = r + grid.pad_top, c + grid.pad_left
        window = padded[:, :, top : top + 7, left : left + 7]
        torch.testing.assert_close(out[:, m], window.reshape(2, -1))


def test_image_detail_restores_the_image():
    image = smooth_image(13, 10)
    down, detail = image_detail(image, 2)
    assert down.shape == (1, 3, 6, 5) and detail.shape == (1, 3, 12, 10)
    torch.testing.assert_close(bicubic_upsample(down, 2) + detail, image[..., :12, :10])


def test_rejects_wrong_inputs():
    layer = GatedDetailTransfer(S, EDGE_DIM, P)
    graph = random_graph(12, 16, k=3)
    with pytest.raises(ValueError, match="RGB image"):
        layer(torch.rand(1, 4, 12, 16), graph)
    with pytest.raises(ValueError, match="graph was built for"):
        layer(torch.rand(1, 3, 14, 16), graph)
    with pytest.raises(ValueError, match="graph was built for"):
        GatedDetailTransfer(S, EDGE_DIM, patch_size=3)(torch.rand(1, 3, 12, 16), graph)
    with pytest.raises(ValueError, match="positive"):
        GatedDetailTransfer(S, EDGE_DIM, P, threshold=0.0)
    assert "window=6" in repr(layer)
