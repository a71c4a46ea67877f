"""The same-scale graph against brute force: k nearest *other* patches in the centred
window; its messages are the LR patches repeated s x s."""

import pytest
import torch

from ignn_pyg.graph import build_cross_scale_graph, extract_patches
from ignn_pyg.graph.same_scale_graph import build_same_scale_graph
from ignn_pyg.graph.windows import search_windows, window_candidates
from ignn_pyg.models import IGNN
from ignn_pyg.nn.cross_scale_aggregation import hr_source_windows, repeat_pixels


@pytest.mark.parametrize("window", [5, 100])
def test_neighbours_are_the_k_nearest_other_patches_in_the_centred_window(window):
    torch.manual_seed(0)
    embed = torch.randn(2, 3, 21, 18)
    k = 4
    graph = build_same_scale_graph(embed, 2, num_neighbors=k, window=window)
    assert graph.same_scale and graph.scale == 2 and graph.num_neighbors == k
    patches, grid = extract_patches(embed, 3, 2)  # [B, M, C p^2]
    m = grid.num_patches
    windows = search_windows((grid.rows, grid.cols), (grid.rows, grid.cols), window, 1, "centered")
    cands = torch.arange(m).expand(m, -1) if windows is None else window_candidates(windows, (grid.rows, grid.cols))
    d = ((patches.double()[:, :, None, :] - patches.double()[:, cands]) ** 2).sum(-1)  # [B, M, O]
    d[:, cands == torch.arange(m)[:, None]] = float("inf")  # the query itself is excluded
    expected = d.sort(-1).values[..., :k]
    nb = graph.neighbors().view(2, m, k) - torch.arange(2)[:, None, None] * m
    assert bool((nb != torch.arange(m)[None, :, None]).all())
    in_window = (nb[..., None] == cands[None, :, None, :]).any(-1)
    assert bool(in_window.all())
    torch.testing.assert_close(graph.distance.view(2, m, k).double(), expected, rtol=1e-5, atol=1e-4)


def test_cross_scale_graph_is_not_same_scale():
    torch.manual_seed(0)
    graph = build_cross_scale_graph(torch.randn(1, 3, 20, 20), torch.randn(1, 3, 10, 10), 2)
    assert not graph.same_scale


@pytest.mark.parametrize("scale", [2, 3])
def test_same_scale_messages_are_lr_patches_repeated(scale):
    """The HR source patch of LR patch j is that p x p patch with every pixel repeated s x s."""
    torch.manual_seed(0)
    x = torch.randn(1, 4, 13, 11)
    graph = build_same_scale_graph(x, scale, num_neighbors=2, window=4)
    windows = hr_source_windows(repeat_pixels(x, scale), graph.source_grid, scale)  # [1, r, c, ps, ps, C]
    lr_patches, grid = extract_patches(x, 3, 2)  # [1, M, C*9], (c, row, col)
    lr_patches = lr_patches.view(1, grid.rows, grid.cols, 4, 3, 3).permute(0, 1, 2, 4, 5, 3)
    repeated = lr_patches.repeat_interleave(scale, 3).repeat_interleave(scale, 4)
    assert torch.equal(windows, repeated)


def test_ignn_trains_on_the_same_scale_graph():
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4, graph="same_scale")
    lr = torch.rand(2, 3, 19, 16) * 255
    assert model.build_graph(lr).same_scale and not model.uses_cross_scale_graph
    out = model(lr)
    assert out.shape == (2, 3, 38, 32)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.aggregation.parameters())
    with pytest.raises(ValueError, match="needs aggregation 'ignn'"):
        IGNN(2, n_feats=8, n_resblocks=2, graph="same_scale", aggregation="gatv2")
    with pytest.raises(ValueError, match="a same-scale graph needs source_map"):
        model.aggregation(torch.rand(2, 8, 19, 16), model.build_graph(lr))
