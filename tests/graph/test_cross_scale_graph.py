"""CrossScaleGraph structure, attributes, conversions and bad input."""

import pytest
import torch

from ignn_pyg.graph import CrossScaleGraph, build_cross_scale_graph, candidates_per_query, extract_patches, min_map_side


@pytest.fixture
def embeds():
    torch.manual_seed(0)
    return torch.randn(2, 3, 14, 11), torch.randn(2, 3, 7, 5)


def test_edge_index_layout(embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=3, window=2)
    b, m, n, k = 2, g.target_grid.num_patches, g.source_grid.num_patches, 3
    assert g.num_edges == b * m * k
    assert g.edge_index.shape == (2, b * m * k) and g.edge_index.dtype == torch.long
    # grouped by target, k per target, rank 0..k-1
    assert torch.equal(g.edge_index[1], torch.arange(b * m).repeat_interleave(k))
    assert torch.equal(g.rank, torch.arange(k).repeat(b * m))
    # sources come from the target's own image
    assert torch.equal(g.source_batch[g.edge_index[0]], g.target_batch[g.edge_index[1]])
    assert g.size == (b * n, b * m)
    # nearest first
    d = g.distance.view(-1, k)
    assert bool((d[:, 1:] >= d[:, :-1]).all())


def test_edge_attr_and_distance_brute_force(embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=4, window=3)
    q, _ = extract_patches(lr, 3, 2)
    s, _ = extract_patches(down, 3, 2)
    q, s = q.reshape(-1, q.shape[-1]), s.reshape(-1, s.shape[-1])
    src, dst = g.edge_index
    diff = (q[dst] - s[src]).view(-1, 3, 9)
    torch.testing.assert_close(g.edge_attr, diff.abs().sum(-1))
    torch.testing.assert_close(g.distance, (diff**2).sum((1, 2)))


def test_positions(embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, window=30)
    assert g.global_search
    # 14 rows: pad bottom 1 -> 7 patch rows at 0, 2, ..., 12; 11 cols: no pad -> 5 cols
    assert g.target_pos[:5, 1].tolist() == [0, 2, 4, 6, 8]
    assert g.target_pos[::5, 0][:7].tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert g.source_pos.shape == (g.num_source_nodes, 2)


def test_save_load_and_to(tmp_path, embeds):
    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=2, window=2)
    path = tmp_path / "graph.pt"
    g.save(path)
    h = CrossScaleGraph.load(path)
    for name in CrossScaleGraph._TENSORS:
        assert torch.equal(getattr(g, name), getattr(h, name))
    assert h.source_grid == g.source_grid and h.window_indexing == g.window_indexing
    assert repr(h) == repr(g)
    assert h.to("cpu").edge_index.device.type == "cpu"


def test_load_rejects_corrupt_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="bad.pt"):
        CrossScaleGraph.load(bad)


def test_hetero_data_feeds_a_pyg_layer(embeds):
    from torch_geometric.data import HeteroData
    from torch_geometric.nn import GATv2Conv

    lr, down = embeds
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=3, window=3)
    q, _ = extract_patches(lr, 3, 2)
    s, _ = extract_patches(down, 3, 2)
    data = g.to_hetero_data(q.reshape(-1, 27), s.reshape(-1, 27))
    assert isinstance(data, HeteroData)
    edges = data["down_patch", "matches", "lr_patch"]
    conv = GATv2Conv((27, 27), 8, edge_dim=3, add_self_loops=False)
    out = conv((data["down_patch"].x, data["lr_patch"].x), edges.edge_index, edges.edge_attr)
    assert out.shape == (g.num_target_nodes, 8)
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize(
    "lr,down,scale,kwargs,match",
    [
        (torch.zeros(3, 10, 10), torch.zeros(1, 3, 5, 5), 2, {}, r"\[B, C, H, W\]"),
        (torch.zeros(1, 3, 10, 10), torch.zeros(1, 4, 5, 5), 2, {}, "channels"),
        (torch.zeros(1, 3, 10, 10), torch.zeros(1, 3, 4, 5), 2, {}, "downsampled by 2"),
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2), 2, {}, "smaller than a 3x3 patch"),
        (torch.zeros(1, 3, 10, 10), torch.zeros(1, 3, 5, 5), 2, {"num_neighbors": 5, "window": 2}, "num_neighbors=5"),
        (torch.full((1, 3, 10, 10), float("nan")), torch.zeros(1, 3, 5, 5), 2, {}, "NaN"),
        (torch.zeros(1, 3, 10, 10), torch.zeros(1, 3, 5, 5), 1, {}, "scale"),
        (torch.zeros(1, 3, 10, 10), torch.zeros(1, 3, 5, 5), 2, {"num_neighbors": 2, "backend": "faiss"}, "backend"),
        (
            torch.zeros(1, 3, 10, 10),
            torch.zeros(1, 3, 5, 5),
            2,
            {"window": 2, "window_indexing": "middle"},
            "window_indexing",
        ),
    ],
)
def test_bad_input(lr, down, scale, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_cross_scale_graph(lr, down, scale, **kwargs)


def _builds(height: int, width: int, scale: int, settings: dict) -> bool:
    """Whether the builder itself accepts random embeddings of an ``[H, W]`` LR map."""
    if min(height // scale, width // scale) < 1:
        return False
    lr = torch.rand(1, 1, height, width)
    try:
        build_cross_scale_graph(
            lr, lr[..., ::scale, ::scale][..., : height // scale, : width // scale], scale, backend="dense", **settings
        )
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    "scale,settings",
    [
        (2, {"num_neighbors": 5, "window": 3}),
        (2, {"num_neighbors": 5, "window": 4, "window_indexing": "centered"}),
        (3, {"num_neighbors": 4, "window": 2}),
        (2, {"num_neighbors": 1, "window": 1, "patch_size": 5, "stride": 3}),
        (3, {"num_neighbors": 9, "window": 5, "patch_size": 3, "stride": 1, "window_indexing": "centered"}),
    ],
)
def test_min_map_side_and_candidates_by_brute_force(scale, settings):
    """Every map with both sides >= L builds (through the switch from global to windowed
    search), the (L-1)-square map does not, and candidates_per_query >= k predicts the
    builder on every size, thin strips included."""
    geometry = {key: settings[key] for key in ("patch_size", "stride", "window") if key in settings}
    side = min_map_side(scale, settings["num_neighbors"], **geometry)
    # past the size where the source grid outgrows the window on both sides
    top = scale * (settings.get("stride", 2) * settings["window"] + settings.get("patch_size", 3)) + scale + 2
    indexing = settings.get("window_indexing", "reference")
    for height in range(1, top):
        for width in range(1, top):
            built = _builds(height, width, scale, settings)
            predicted = (
                candidates_per_query(height, width, scale, window_indexing=indexing, **geometry)
                >= settings["num_neighbors"]
            )
            assert built == predicted, (height, width)
            if height >= side and width >= side:
                assert built, (height, width)
    assert not _builds(side - 1, side - 1, scale, settings)


def test_min_map_side_defaults_and_impossible_window():
    # k = 5 needs a 3 x 3 source grid: downsampled side 6 (3 rows of stride 2 with padding)
    assert min_map_side(2) == 12 and min_map_side(3) == 18
    assert candidates_per_query(6, 20, 2) == 5  # one row of five, searched globally
    with pytest.raises(ValueError, match="at most 4 patches, fewer than num_neighbors=5"):
        min_map_side(2, num_neighbors=5, window=2)
