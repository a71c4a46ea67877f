"""experiments/diagnose_oracle.py: its re-implementation of the reference fusion is the
layer's, so the variants it builds from it change only what they say."""

import torch

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.models import IGNN
from tests.experiment_scripts import load_experiment
from tests.models.test_ignn import randomize, textured_image


def test_aggregate_reproduces_the_layer_and_rank0_is_k1():
    diagnose = load_experiment("diagnose_oracle")
    model = randomize(IGNN(2, n_feats=8, n_resblocks=2, window=30)).eval()
    lr = textured_image(24, 20)
    x = torch.randn(1, 8, 24, 20)
    with torch.no_grad():
        graph = model.build_graph(lr)
        lr_ref, hr_ref = model.aggregation(x, graph)
        lr_own, hr_own = diagnose.aggregate(model.aggregation, x, graph, "own", adain=True)
        torch.testing.assert_close(hr_own, hr_ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(lr_own, lr_ref, atol=1e-4, rtol=1e-4)
        # all weight on rank 0 = the layer given only each query's nearest neighbour
        lr0, hr0 = diagnose.aggregate(model.aggregation, x, graph, "rank0", adain=True)
        k1 = IGNN(2, n_feats=8, n_resblocks=2, window=30, num_neighbors=1).eval()
        k1.load_state_dict(model.state_dict())
        lr_k1, hr_k1 = k1.aggregation(x, k1.build_graph(lr))
        torch.testing.assert_close(hr0, hr_k1, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(lr0, lr_k1, atol=1e-4, rtol=1e-4)


def test_patch_distance_is_zero_for_an_exact_match():
    diagnose = load_experiment("diagnose_oracle")
    model = IGNN(2, n_feats=8, n_resblocks=2, window=30, embedding="pixel", num_neighbors=2).eval()
    lr = textured_image(24, 20)
    down = downsample_for_graph(lr, 2)
    lr[..., :12, 10:20] = down[..., :, :10]  # the downsampled image's top rows, planted
    down = downsample_for_graph(lr, 2)
    graph = model.build_graph(lr, down)
    distance = diagnose.patch_distance(lr, down, graph)
    assert distance.shape == (graph.num_target_nodes, 2)
    assert float(distance.min()) < 1e-3 and bool((distance >= 0).all())
