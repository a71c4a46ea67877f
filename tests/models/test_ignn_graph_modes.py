"""IGNN's graph controls: ``graph="none"`` carries no information, ``graph="random"``
draws fresh neighbours inside the windows, ``build_graph(neighbors=...)``."""

from __future__ import annotations

import pytest
import torch

from ignn_pyg.graph.windows import search_windows, window_candidates
from ignn_pyg.models import IGNN
from tests.models.test_ignn import randomize, textured_image


def test_none_ignores_the_graph_and_the_aggregation():
    model = randomize(IGNN(2, n_feats=8, n_resblocks=2, window=4, graph="none")).eval()
    lr = textured_image(24, 20)
    with torch.no_grad():
        before = model(lr)
        for p in model.aggregation.parameters():
            p.add_(1.0)
        after = model(lr)
    assert torch.equal(before, after)
    # the same weights with the graph: the aggregation's output does reach the image
    full = IGNN(2, n_feats=8, n_resblocks=2, window=4).eval()
    full.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(full(lr), after)


def test_random_draws_new_neighbours_inside_the_windows_at_every_forward():
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4, graph="random").eval()
    lr = textured_image(30, 26)
    torch.manual_seed(3)
    first = model.build_graph(lr)
    torch.manual_seed(3)
    again = model.build_graph(lr)
    second = model.build_graph(lr)
    assert torch.equal(first.edge_index, again.edge_index)
    assert not torch.equal(first.edge_index, second.edge_index)
    own = model.build_graph(lr, neighbors="cross_scale")
    assert torch.equal(first.edge_index[1], own.edge_index[1])
    tg, sg = own.target_grid, own.source_grid
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 4, 2, "reference")
    allowed = window_candidates(windows, (sg.rows, sg.cols))
    picked = first.neighbors()
    assert bool((picked[:, :, None] == allowed[:, None, :]).any(-1).all())
    torch.manual_seed(3)
    out_a = model(lr)
    torch.manual_seed(3)
    assert torch.equal(out_a, model(lr))


def test_neighbors_argument_and_errors():
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4)
    lr = textured_image(24, 20)
    gen = torch.Generator().manual_seed(0)
    permuted = model.build_graph(lr, neighbors="permuted", generator=gen)
    own = model.build_graph(lr)
    # every query's list is some query's own list, and the lists are a permutation of them
    lists = {tuple(row.tolist()) for row in own.neighbors()}
    assert all(tuple(row.tolist()) in lists for row in permuted.neighbors())
    assert sorted(map(tuple, permuted.neighbors().tolist())) == sorted(map(tuple, own.neighbors().tolist()))
    with pytest.raises(ValueError, match="neighbors must be one of"):
        model.build_graph(lr, neighbors="shuffled")
    with pytest.raises(ValueError, match="graph must be one of"):
        IGNN(2, n_feats=8, n_resblocks=2, graph="same")
