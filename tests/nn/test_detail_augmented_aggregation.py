"""DetailAugmentedAggregation: the authors' layer untouched, the detail path beside it."""

import torch

from ignn_pyg.nn import CrossScaleAggregation, DetailAugmentedAggregation, GatedDetailTransfer
from tests.nn.test_gated_detail_transfer import random_graph

C, S, K, P, EDGE_DIM = 4, 2, 3, 2, 3


def layer() -> DetailAugmentedAggregation:
    torch.manual_seed(0)
    agg = DetailAugmentedAggregation(C, S, K, edge_dim=EDGE_DIM, patch_size=P)
    with torch.no_grad():
        for p in agg.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return agg


def test_outputs_are_the_authors_layer_plus_the_lifted_detail():
    agg = layer().eval()
    x = torch.randn(1, C, 12, 16)
    image = torch.rand(1, 3, 12, 16) * 255
    graph = random_graph(12, 16, K)
    authors = CrossScaleAggregation(C, S, K, edge_dim=EDGE_DIM)
    authors.load_state_dict(agg.features.state_dict())
    detail_only = GatedDetailTransfer(S, EDGE_DIM, P)
    detail_only.load_state_dict(agg.detail.state_dict())
    with torch.no_grad():
        lr, hr, detail = agg(x, graph, image)
        lr_ref, hr_ref = authors(x, graph)
        detail_ref = detail_only(image, graph)
        torch.testing.assert_close(lr, lr_ref)
        torch.testing.assert_close(detail, detail_ref)
        torch.testing.assert_close(hr, hr_ref + agg.lift(detail_ref))
    assert lr.shape == (1, C, 12, 16) and hr.shape == (1, C, 24, 32) and detail.shape == (1, 3, 24, 32)


def test_gradients_reach_every_parameter():
    agg = layer()
    x = torch.randn(1, C, 12, 16, requires_grad=True)
    lr, hr, detail = agg(x, random_graph(12, 16, K), torch.rand(1, 3, 12, 16) * 255)
    (lr.square().sum() + hr.square().sum() + detail.square().sum()).backward()
    for name, p in agg.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
        if not name.endswith("weight_net.2.bias"):  # score biases cancel in a softmax
            assert bool(p.grad.abs().sum() > 0), name
