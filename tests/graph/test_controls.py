"""random_neighbors against brute force: windows, distinctness, features, determinism."""

import pytest
import torch

from ignn_pyg.graph import build_cross_scale_graph, extract_patches
from ignn_pyg.graph.controls import random_neighbors
from ignn_pyg.graph.windows import search_windows, window_candidates


@pytest.fixture
def embeds():
    torch.manual_seed(0)
    return torch.randn(2, 3, 22, 19), torch.randn(2, 3, 11, 9)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("indexing", ["reference", "centered"])
def test_sources_inside_window_and_distinct(embeds, indexing):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=4, window=3, window_indexing=indexing)
    r = random_neighbors(g, _gen(1), lr, down)
    tg, sg = g.target_grid, g.source_grid
    win = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 3, 2, indexing)
    allowed = window_candidates(win, (sg.rows, sg.cols))  # [M, 9]
    m, n = tg.num_patches, sg.num_patches
    src, dst = r.edge_index
    assert torch.equal(dst, g.edge_index[1])
    for e in range(r.num_edges):
        image, query = divmod(int(dst[e]), m)
        assert int(src[e]) // n == image
        assert int(src[e]) % n in allowed[query].tolist()
    per_query = r.neighbors()
    for row in per_query:
        assert len(set(row.tolist())) == 4


def test_features_recomputed_and_sorted(embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=5, window=4)
    r = random_neighbors(g, _gen(3), lr, down)
    q, _ = extract_patches(lr, 3, 2)
    s, _ = extract_patches(down, 3, 2)
    q, s = q.reshape(-1, q.shape[-1]), s.reshape(-1, s.shape[-1])
    src, dst = r.edge_index
    diff = (q[dst] - s[src]).view(-1, 3, 9)
    torch.testing.assert_close(r.edge_attr, diff.abs().sum(-1))
    torch.testing.assert_close(r.distance, (diff**2).sum((1, 2)))
    d = r.distance.view(-1, 5)
    assert bool((d[:, 1:] >= d[:, :-1]).all())
    # a random draw is never closer than the k nearest
    assert bool((r.distance.view(-1, 5).sum(1) >= g.distance.view(-1, 5).sum(1) - 1e-4).all())
    assert torch.equal(r.rank, g.rank) and r.edge_attr.shape == g.edge_attr.shape


def test_deterministic_per_seed(embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=3, window=3)
    a = random_neighbors(g, _gen(7))
    b = random_neighbors(g, _gen(7))
    c = random_neighbors(g, _gen(8))
    assert torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(a.edge_index, c.edge_index)
    # without embeddings nothing stale is kept
    assert bool(a.distance.isnan().all()) and bool(a.edge_attr.isnan().all())


def test_global_search_draws_uniformly_from_all_sources():
    torch.manual_seed(0)
    lr, down = torch.randn(1, 1, 10, 10), torch.randn(1, 1, 5, 5)
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=2, window=30)
    assert g.global_search
    n = g.source_grid.num_patches  # 2x2 = 4
    counts = torch.zeros(n)
    gen = _gen(0)
    trials = 2000
    for _ in range(trials):
        r = random_neighbors(g, gen)
        rows = r.neighbors()
        assert bool((rows[:, 0] != rows[:, 1]).all())
        counts += torch.bincount(rows.reshape(-1), minlength=n)
    draws = trials * g.num_target_nodes * 2
    expected = draws / n
    # binomial spread of each count, p = 1/4: sd = sqrt(draws * 3/16)
    assert float((counts - expected).abs().max()) < 5 * (draws * 3 / 16) ** 0.5


def test_mismatched_embeddings_rejected(embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=2, window=3)
    with pytest.raises(ValueError, match="both"):
        random_neighbors(g, _gen(0), lr, None)
    with pytest.raises(ValueError, match="do not match"):
        random_neighbors(g, _gen(0), lr[:, :, :20], down[:, :, :10])


def test_permuted_moves_whole_lists_within_each_image(embeds):
    from ignn_pyg.graph.controls import permuted_neighbors

    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=4, window=3)
    p = permuted_neighbors(g, _gen(2))
    m, k = g.target_grid.num_patches, 4
    assert torch.equal(p.edge_index[1], g.edge_index[1]) and torch.equal(p.rank, g.rank)
    gen = _gen(2)  # the documented draw: one torch.randperm(M) per image, in image order
    donors = torch.cat([torch.randperm(m, generator=gen) + b * m for b in range(2)])
    assert not torch.equal(donors, torch.arange(2 * m))
    assert torch.equal(p.neighbors(), g.neighbors()[donors])
    assert torch.equal(p.edge_attr.view(-1, k, 3), g.edge_attr.view(-1, k, 3)[donors])
    assert torch.equal(p.distance.view(-1, k), g.distance.view(-1, k)[donors])
    # sources stay in their image, and the multiset of lists is unchanged
    assert bool((p.edge_index[0] // g.source_grid.num_patches == p.edge_index[1] // m).all())
    assert sorted(map(tuple, p.neighbors().tolist())) == sorted(map(tuple, g.neighbors().tolist()))
