"""CrossScaleAggregation on a tiny hand-made graph, against a hand computation.

Geometry: LR map 8x8, scale 2, patch 2, stride 2.  Queries are the 16 disjoint 2x2
blocks of the LR map; the 4 sources are the 2x2 patches of the 4x4 downsampled grid,
whose HR counterparts are the disjoint 4x4 blocks of the LR map.  HR patches (4x4,
stride 4) do not overlap, so folding is plain placement.
"""

import dataclasses

import pytest
import torch

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph, build_cross_scale_graph
from ignn_pyg.graph.patches import PatchGrid, fold_patch_constants
from ignn_pyg.nn import CrossScaleAggregation
from ignn_pyg.nn.cross_scale_aggregation import EdgeWeightNet, score_folded_patch_constants, score_rows_jointly

C, K, S, EDGE_DIM = 2, 2, 2, 3


def hand_graph() -> CrossScaleGraph:
    gen = torch.Generator().manual_seed(3)
    targets = torch.arange(16).repeat_interleave(K)
    sources = torch.stack([torch.randperm(4, generator=gen)[:K] for _ in range(16)]).reshape(-1)
    tgrid = PatchGrid.of(8, 8, 2, 2)
    sgrid = PatchGrid.of(4, 4, 2, 2)
    return CrossScaleGraph(
        edge_index=torch.stack([sources, targets]),
        edge_attr=torch.rand(16 * K, EDGE_DIM, generator=gen) * 3,
        distance=torch.zeros(16 * K),
        rank=torch.arange(K).repeat(16),
        source_pos=sgrid.positions(),
        target_pos=tgrid.positions(),
        source_batch=torch.zeros(4, dtype=torch.long),
        target_batch=torch.zeros(16, dtype=torch.long),
        source_grid=sgrid,
        target_grid=tgrid,
        scale=S,
        num_neighbors=K,
        window=2,
        window_indexing="reference",
        backend="dense",
        global_search=True,
    )


def adain(block: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Per channel: normalise ``block`` [C, 4, 4] to the mean/std of ``query`` [C, 2, 2]."""
    out = torch.empty_like(block)
    for c in range(block.shape[0]):
        b, q = block[c].flatten().double(), query[c].flatten().double()
        b_std = (((b - b.mean()) ** 2).sum() / (b.numel() - 1) + 1e-5).sqrt()
        q_std = (((q - q.mean()) ** 2).sum() / (q.numel() - 1) + 1e-5).sqrt()
        out[c] = ((block[c].double() - b.mean()) / b_std * q_std + q.mean()).float()
    return out


def messages(x: torch.Tensor, graph: CrossScaleGraph) -> list[list[torch.Tensor]]:
    """msgs[query][rank] = AdaIN-normalised 4x4 HR block [C, 4, 4]."""
    out = []
    for q in range(16):
        qr, qc = divmod(q, 4)
        query = x[0, :, 2 * qr : 2 * qr + 2, 2 * qc : 2 * qc + 2]
        row = []
        for r in range(K):
            src = int(graph.edge_index[0, q * K + r])
            sr, sc = divmod(src, 2)
            row.append(adain(x[0, :, 4 * sr : 4 * sr + 4, 4 * sc : 4 * sc + 4], query))
        out.append(row)
    return out


def place(blocks: list[torch.Tensor]) -> torch.Tensor:
    """16 blocks [D, 4, 4] (query order) -> map [1, D, 16, 16]."""
    out = torch.zeros(1, blocks[0].shape[0], 16, 16)
    for q, block in enumerate(blocks):
        qr, qc = divmod(q, 4)
        out[0, :, 4 * qr : 4 * qr + 4, 4 * qc : 4 * qc + 4] = block
    return out


def perturbed_layer(
    fusion: str, fused: bool = True, channels: int = C, scale: int = S, num_neighbors: int = K, edge_dim: int = EDGE_DIM
) -> CrossScaleAggregation:
    torch.manual_seed(0)
    layer = CrossScaleAggregation(
        channels, scale, num_neighbors, edge_dim=edge_dim, hidden=4, res_scale=0.5, fusion=fusion, fused=fused
    )
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return layer


@pytest.mark.parametrize("fused", [True, False])
def test_edge_fusion_equals_hand_computation(fused):
    torch.manual_seed(1)
    x, graph = torch.randn(1, C, 8, 8), hand_graph()
    layer = perturbed_layer("edge", fused)
    lr, hr = layer(x, graph)
    msgs = messages(x, graph)
    with torch.no_grad():
        scores = layer.hr_weight_net(graph.edge_attr[:, :, None, None]).view(16, K)
    blocks = []
    for q in range(16):
        w = torch.exp(scores[q] - scores[q].max())
        w = w / w.sum()
        blocks.append(sum(w[r] * msgs[q][r] for r in range(K)))
    expected_hr = place(blocks)
    torch.testing.assert_close(hr, expected_hr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lr, layer.downsample(expected_hr), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_reference_fusion_equals_hand_computation(fused):
    torch.manual_seed(2)
    x, graph = torch.randn(1, C, 8, 8), hand_graph()
    layer = perturbed_layer("reference", fused)
    lr, hr = layer(x, graph)
    msgs = messages(x, graph)
    attr = graph.edge_attr.view(16, K, EDGE_DIM)
    rank_maps = [place([msgs[q][r] for q in range(16)]) for r in range(K)]
    attr_maps = [place([attr[q, r][:, None, None].expand(EDGE_DIM, 4, 4) for q in range(16)]) for r in range(K)]
    with torch.no_grad():
        w_hr = torch.stack([layer.hr_weight_net(a) for a in attr_maps]).softmax(0)
        w_lr = torch.stack([layer.lr_weight_net(torch.nn.functional.avg_pool2d(a, S)) for a in attr_maps]).softmax(0)
        expected_hr = sum(w_hr[r] * rank_maps[r] for r in range(K))
        expected_lr = sum(w_lr[r] * layer.downsample(rank_maps[r]) for r in range(K))
    torch.testing.assert_close(hr, expected_hr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lr, expected_lr, rtol=1e-5, atol=1e-5)


def test_shapes_and_repr():
    layer = CrossScaleAggregation(C, S, K, edge_dim=EDGE_DIM, fusion="edge")
    lr, hr = layer(torch.randn(1, C, 8, 8), hand_graph())
    assert lr.shape == (1, C, 8, 8) and hr.shape == (1, C, 16, 16)
    assert "fusion='edge'" in repr(layer) and "num_neighbors=2" in repr(layer)


def test_rejects_mismatched_graph():
    layer = CrossScaleAggregation(C, S, K, edge_dim=EDGE_DIM)
    with pytest.raises(ValueError, match="graph was built for"):
        layer(torch.randn(1, C, 10, 8), hand_graph())
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, C + 1, 8, 8), hand_graph())
    with pytest.raises(ValueError, match="fusion"):
        CrossScaleAggregation(C, S, K, fusion="max")


@pytest.mark.parametrize("fusion", ["reference", "edge"])
@pytest.mark.parametrize("scale", [2, 3])
def test_fused_equals_propagate_with_overlapping_patches(fusion, scale):
    """On a built graph (3x3 patches, stride 2, so HR patches overlap; batch 2, odd size),
    the fused pass and PyG's propagate give the same outputs and the same gradients."""
    torch.manual_seed(4)
    channels, k = 3, 3
    x = torch.randn(2, channels, 17, 14)
    embedding = torch.randn(2, 4, 17, 14)
    down = torch.nn.functional.avg_pool2d(embedding, scale)
    graph = build_cross_scale_graph(embedding, down, scale, k, 3, 2, window=6)
    graph = dataclasses.replace(graph, edge_attr=graph.edge_attr.double())  # float64: rounding-free comparison
    results = []
    for fused in (True, False):
        layer = perturbed_layer(fusion, fused, channels, scale, k, edge_dim=4).double()
        xg = x.double().requires_grad_()
        lr, hr = layer(xg, graph)
        (lr.square().sum() + (hr * torch.linspace(-1, 1, hr.shape[-1])).sum()).backward()
        results.append((lr, hr, xg.grad, [p.grad for p in layer.parameters()]))
    (lr_f, hr_f, gx_f, gp_f), (lr_p, hr_p, gx_p, gp_p) = results
    torch.testing.assert_close(lr_f, lr_p, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(hr_f, hr_p, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gx_f, gx_p, rtol=1e-10, atol=1e-10)
    for a, b in zip(gp_f, gp_p):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_unfused_layer_runs_message_hooks():
    """fused=False goes through PyG's message(): a message hook sees every edge, k per
    query, each message an HR patch."""
    x, graph = torch.randn(1, C, 8, 8), hand_graph()
    seen = []
    layer = perturbed_layer("reference", fused=False)
    layer.register_message_forward_hook(lambda module, inputs, out: seen.append(out.shape))
    layer(x, graph)
    assert seen == [(16, C * (2 * S) ** 2)] * K


def brute_force_attr_maps(graph, k: int, batch: int, height: int, width: int) -> torch.Tensor:
    """Per LR pixel, the edge features of each rank averaged over the query patches
    covering it (3x3 patches, stride 2), pixel by pixel: ``[B, k, C_e, H, W]``."""
    attr = graph.edge_attr.view(batch, -1, k, EDGE_DIM)
    total = torch.zeros(batch, k, EDGE_DIM, height, width)
    count = torch.zeros(height, width)
    for query, (top, left) in enumerate(graph.target_pos[graph.target_batch == 0].tolist()):  # same in every map
        for y in range(max(top, 0), min(top + 3, height)):
            for x in range(max(left, 0), min(left + 3, width)):
                total[:, :, :, y, x] += attr[:, query]
                count[y, x] += 1
    return total / count


def rank_weights_case(k: int, batch: int):
    """A layer and the graph of random embeddings on an 11x10 LR grid (the grid pads one
    column on the right), with the brute-force attribute maps."""
    torch.manual_seed(5)
    height, width = 11, 10
    graph = build_cross_scale_graph(
        torch.rand(batch, EDGE_DIM, height, width), torch.rand(batch, EDGE_DIM, 5, 5), 2, k, window=3
    )
    layer = perturbed_layer("reference", num_neighbors=k)
    return layer, graph, brute_force_attr_maps(graph, k, batch, height, width)


def expected_rank_weights(layer, attr_maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each weight net's 1x1 convolutions on each rank's attribute map, softmax over ranks."""
    b, k = attr_maps.shape[:2]
    return tuple(
        net(attr_maps.flatten(0, 1)).view(b, k, *attr_maps.shape[-2:]).softmax(1)
        for net in (layer.hr_weight_net, layer.lr_weight_net)
    )


@pytest.mark.parametrize("k, batch", [(3, 1), (1, 2), (2, 2)])
def test_rank_weights_on_overlapping_patches_against_brute_force(k, batch):
    """rank_weights: per LR pixel, the edge features of each rank averaged over the query
    patches covering the pixel, scored by each weight net, softmax over ranks -- computed
    here pixel by pixel; the gradients in the nets' weights too."""
    layer, graph, attr_maps = rank_weights_case(k, batch)
    hr_weight, lr_weight = layer.rank_weights(graph)
    assert hr_weight.shape == lr_weight.shape == (batch, k, 11, 10)
    expected = expected_rank_weights(layer, attr_maps)
    for ours, theirs in zip((hr_weight, lr_weight), expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    probe = torch.randn(2, batch, k, 11, 10)  # a loss that weighs every weight differently
    params = list(layer.hr_weight_net.parameters()) + list(layer.lr_weight_net.parameters())
    grads = torch.autograd.grad(sum((w * c).sum() for w, c in zip((hr_weight, lr_weight), probe)), params)
    reference = torch.autograd.grad(
        sum((w * c).sum() for w, c in zip(expected, probe)), params, allow_unused=k == 1
    )  # one rank: weights are 1, without gradient
    for ours, theirs in zip(grads, reference):
        torch.testing.assert_close(ours, torch.zeros_like(ours) if theirs is None else theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k, batch", [(3, 1), (1, 2)])
def test_rank_weights_in_bf16_within_its_rounding(k, batch):
    """Under bf16 autocast the weights stay within bf16 rounding of the float32 brute
    force (the nets run in float32 there), and come back float32."""
    layer, graph, attr_maps = rank_weights_case(k, batch)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            weights = layer.rank_weights(graph)
        expected = expected_rank_weights(layer, attr_maps)
    for ours, theirs in zip(weights, expected):
        assert ours.dtype == torch.float32
        torch.testing.assert_close(ours, theirs, rtol=0, atol=2**-5)


def test_edge_weights_are_a_softmax_per_query():
    graph = hand_graph()
    layer = perturbed_layer("edge")
    weights = layer.edge_weights(graph)
    assert weights.shape == (graph.num_edges,)
    with torch.no_grad():
        scores = layer.hr_weight_net(graph.edge_attr[:, :, None, None]).view(16, K)
    for q in range(16):
        expected = torch.exp(scores[q] - scores[q].max())
        torch.testing.assert_close(weights[q * K : (q + 1) * K], expected / expected.sum())
    with pytest.raises(ValueError, match="fusion='edge'"):
        perturbed_layer("reference").edge_weights(graph)
    with pytest.raises(ValueError, match="fusion='reference'"):
        layer.rank_weights(graph)


@pytest.mark.parametrize("chunk", [1, 8, 4096])
def test_weight_net_on_rows_equals_its_convolutions(chunk):
    """score_rows / score_map (matrix products a chunk of rows at a time) compute the
    1x1-convolution net's numbers and gradients, whatever the chunking (37 rows: the last
    chunk is short) and the input layout."""
    torch.manual_seed(6)
    net = perturbed_layer("reference").hr_weight_net
    x = torch.randn(1, EDGE_DIM, 37, 1, requires_grad=True)
    expected = net(x)
    rows = x[0, :, :, 0].t()
    torch.testing.assert_close(net.score_rows(rows, chunk=chunk), expected.view(-1), rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(expected.square().sum(), (x, *net.parameters()))
    ours = torch.autograd.grad(net.score_rows(rows, chunk=chunk).square().sum(), (x, *net.parameters()))
    for a, b in zip(ours, grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    maps = torch.randn(2, EDGE_DIM, 5, 7)
    for layout in (torch.contiguous_format, torch.channels_last):
        torch.testing.assert_close(
            net.score_map(maps.contiguous(memory_format=layout)), net(maps), rtol=1e-5, atol=1e-6
        )


def perturbed_nets(count: int) -> list[EdgeWeightNet]:
    torch.manual_seed(7)
    nets = [EdgeWeightNet(EDGE_DIM, 4, res_scale=0.5) for _ in range(count)]
    with torch.no_grad():
        for p in (p for net in nets for p in net.parameters()):
            p.add_(torch.randn_like(p) * 0.3)
    return nets


def test_one_hidden_layer_is_the_net():
    """v . relu(A a + c) + g . a + d with the class docstring's A, c, g, v, d, in double."""
    net = perturbed_nets(1)[0].double()
    a = torch.randn(5, EDGE_DIM, dtype=torch.float64)
    inner, bias, skip, out, constant = net.one_hidden_layer()
    assert inner.shape == (4, EDGE_DIM) and bias.shape == out.shape == (4,) and skip.shape == (EDGE_DIM,)
    ours = torch.relu(a @ inner.t() + bias) @ out + a @ skip + constant
    torch.testing.assert_close(ours, net(a.t()[None, :, :, None]).view(-1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("count, chunk", [(1, 8), (2, 1), (2, 8), (3, 16384)])
def test_nets_scored_jointly_equal_their_convolutions(count, chunk):
    """score_rows_jointly: column i is net i's 1x1 convolutions on each row (37 rows: the
    last chunk is short), and so are the gradients in the rows and in every weight."""
    nets = perturbed_nets(count)
    x = (torch.rand(1, EDGE_DIM, 37, 1) * 3).requires_grad_()
    rows = x[0, :, :, 0].t()
    expected = torch.cat([net(x).view(-1, 1) for net in nets], 1)
    scores = score_rows_jointly(nets, rows, chunk)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)
    probe = torch.randn(37, count)
    inputs = [x, *(p for net in nets for p in net.parameters())]
    for ours, theirs in zip(
        torch.autograd.grad((scores * probe).sum(), inputs), torch.autograd.grad((expected * probe).sum(), inputs)
    ):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    assert score_rows_jointly(nets, rows[:0]).shape == (0, count)


def test_nets_scored_jointly_in_bf16_within_its_rounding():
    """Under bf16 autocast the products run in bf16 (the weights' products are taken in
    float32 first): within bf16 rounding of the float32 convolutions, forward and backward."""
    nets = perturbed_nets(2)
    x = (torch.rand(1, EDGE_DIM, 37, 1) * 3).requires_grad_()
    rows = x[0, :, :, 0].t()
    expected = torch.cat([net(x).view(-1, 1) for net in nets], 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = score_rows_jointly(nets, rows, 8)
    assert scores.dtype == torch.bfloat16
    scale = float(expected.detach().abs().max())
    torch.testing.assert_close(scores.float(), expected, rtol=2**-6, atol=2**-6 * max(1.0, scale))
    probe = torch.randn(37, 2)
    params = [p for net in nets for p in net.parameters()]
    for ours, theirs in zip(
        torch.autograd.grad((scores.float() * probe).sum(), [x, *params]),
        torch.autograd.grad((expected * probe).sum(), [x, *params]),
    ):
        torch.testing.assert_close(ours, theirs, rtol=2**-5, atol=2**-5 * max(1.0, float(theirs.abs().max())))


@pytest.mark.parametrize(
    "height, width, patch_size, stride, band_bytes",
    [
        (11, 10, 3, 2, 1 << 22),
        (11, 10, 3, 2, 1),
        (9, 13, 5, 2, 300),
        (10, 7, 4, 3, 1 << 22),
        (6, 8, 2, 2, 1),
        (5, 5, 3, 1, 1),
    ],
)
def test_nets_on_folded_patch_constants_equal_the_fold_then_the_nets(height, width, patch_size, stride, band_bytes):
    """score_folded_patch_constants (first layer per patch, averaged per pixel, by bands of
    cell rows) equals folding the vectors (fold_patch_constants) and scoring every pixel
    (score_rows_jointly), for patches that overlap by 1 to 4 pixels, do not overlap, or
    pad the map; a batch of 2; bands of one cell row and of the whole map; forward and the
    gradients in the vectors and every weight."""
    nets = perturbed_nets(2)
    grid = PatchGrid.of(height, width, patch_size, stride)
    values = (torch.rand(2, grid.num_patches, EDGE_DIM) * 3).requires_grad_()
    ours = score_folded_patch_constants(nets, values, grid, band_bytes)
    folded = fold_patch_constants(values, grid).permute(0, 2, 3, 1).reshape(-1, EDGE_DIM)
    expected = score_rows_jointly(nets, folded).view(2, height, width, 2)
    assert ours.shape == (2, height, width, 2) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    probe = torch.randn(2, height, width, 2)
    inputs = [values, *(p for net in nets for p in net.parameters())]
    for mine, theirs in zip(
        torch.autograd.grad((ours * probe).sum(), inputs), torch.autograd.grad((expected * probe).sum(), inputs)
    ):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)


def test_nets_on_folded_patch_constants_stay_float32_under_autocast():
    """Under bf16 autocast the products stay float32: the same numbers as without it."""
    nets = perturbed_nets(2)
    grid = PatchGrid.of(11, 10, 3, 2)
    values = torch.rand(1, grid.num_patches, EDGE_DIM) * 3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = score_folded_patch_constants(nets, values, grid)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, score_folded_patch_constants(nets, values, grid), rtol=0, atol=0)
