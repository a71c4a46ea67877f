"""The explorer page's data: maps against brute force, the packed arrays read back as the
browser reads them, and the page's self-containment.  The page in a real browser is
tested in ``tests/test_explorer.py``."""

import math
import re

import numpy as np
import pytest
import torch

from ignn_pyg.graph import build_cross_scale_graph
from ignn_pyg.graph.explorer_page import (
    LayerWeights,
    explorer_data,
    explorer_maps,
    explorer_page,
    histogram,
    pixel_map,
    read_explorer_page,
    weight_entropy,
)
from ignn_pyg.graph.study import border_limited_queries, edge_displacement


def small_graph(height=19, width=22, k=3, window=4, seed=0):
    """A graph on random maps; 19 x 22 pads the LR grid at the bottom (not at the right)."""
    torch.manual_seed(seed)
    lr = torch.rand(1, 4, height, width)
    down = torch.rand(1, 4, height // 2, width // 2)
    return build_cross_scale_graph(lr, down, 2, num_neighbors=k, window=window, backend="dense")


def images(graph, seed=0):
    rng = np.random.default_rng(seed)
    tg, sg = graph.target_grid, graph.source_grid
    return (
        rng.integers(0, 256, (tg.height, tg.width, 3), dtype=np.uint8),
        rng.integers(0, 256, (sg.height, sg.width, 3), dtype=np.uint8),
    )


def unpack(*args, **kwargs):
    """The page's data and arrays, read back from the HTML."""
    return read_explorer_page(explorer_page(*args, **kwargs))


def brute_force_pixel_map(per_query, graph):
    """Mean over the patches covering each pixel, by looping over the patches."""
    tg = graph.target_grid
    total = np.zeros((tg.height, tg.width))
    count = np.zeros((tg.height, tg.width))
    for (top, left), value in zip(graph.target_pos.tolist(), per_query.tolist()):
        rows = slice(max(top, 0), max(min(top + tg.patch_size, tg.height), 0))
        cols = slice(max(left, 0), max(min(left + tg.patch_size, tg.width), 0))
        total[rows, cols] += value
        count[rows, cols] += 1
    return total / count


def test_pixel_map_is_the_mean_over_covering_patches():
    graph = small_graph()
    values = torch.randn(graph.num_target_nodes)
    np.testing.assert_allclose(
        pixel_map(values, graph).numpy(), brute_force_pixel_map(values, graph), rtol=1e-12, atol=1e-12
    )


def test_weight_entropy_by_hand():
    w = torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]).t()  # [k=3, 3 pixels]
    np.testing.assert_allclose(weight_entropy(w).numpy(), [0.0, math.log(3), math.log(2)], atol=1e-7)


def test_histogram_by_hand():
    values = torch.arange(100, dtype=torch.float64)  # 0 .. 99; 99 % quantile 98.01
    h = histogram(values, bins=7)
    assert h["hi"] == pytest.approx(98.01)
    assert h["overflow"] == 1 and h["max"] == 99.0  # only 99 lies above 98.01
    edges = np.linspace(0, 98.01, 8)
    expected = [int(((values.numpy() >= a) & (values.numpy() < b)).sum()) for a, b in zip(edges[:-1], edges[1:])]
    assert h["counts"] == expected and sum(h["counts"]) + h["overflow"] == 100


def test_maps_against_brute_force():
    graph = small_graph()
    k = graph.num_neighbors
    maps = {m.key: m for m in explorer_maps(graph)}
    distance = graph.distance.view(-1, k)
    displacement = edge_displacement(graph).view(-1, k)
    for key, per_query in (
        ("distance", distance[:, 0]),
        ("displacement", displacement.mean(1)),
        ("border", border_limited_queries(graph).double()),
    ):
        np.testing.assert_allclose(
            maps[key].values.numpy(), brute_force_pixel_map(per_query, graph), rtol=1e-6, atol=1e-9
        )
    assert maps["border"].values.min() >= 0 and maps["border"].values.max() <= 1
    # the nearest distance of every query is its smallest
    assert bool((distance[:, :1] <= distance).all())


def random_pixel_weights(graph, seed=1):
    torch.manual_seed(seed)
    tg = graph.target_grid
    return torch.randn(graph.num_neighbors, tg.height, tg.width).softmax(0)


def test_data_round_trip_with_pixel_weights():
    graph = small_graph()
    lr_image, down_image = images(graph)
    hr, lr = random_pixel_weights(graph, 1), random_pixel_weights(graph, 2)
    data, a = unpack(lr_image, down_image, graph, LayerWeights("test", pixel_weights={"HR": hr, "LR": lr}))
    k = graph.num_neighbors
    np.testing.assert_array_equal(a["source"], graph.neighbors().numpy())
    np.testing.assert_array_equal(a["distance"].ravel(), graph.distance.numpy())  # float32, exact
    np.testing.assert_allclose(a["edge_norm"].ravel(), graph.edge_attr.norm(dim=1).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(a["target_pos"], graph.target_pos.numpy())
    np.testing.assert_array_equal(a["source_pos"], graph.source_pos.numpy())
    np.testing.assert_array_equal(a["border_limited"], border_limited_queries(graph).numpy())
    for name, w in (("HR", hr), ("LR", lr)):
        assert a[f"weights/{name}"].shape == (k, *hr.shape[1:])
        np.testing.assert_allclose(a[f"weights/{name}"] / 65535, w.numpy(), atol=0.5 / 65535 + 1e-7)
    assert data["weights"] == {"label": "test", "per_pixel": True, "nets": ["HR", "LR"]}
    for m in explorer_maps(graph, LayerWeights("test", pixel_weights={"HR": hr, "LR": lr})):
        levels = a[f"map/{m.key}"].astype(np.float64)
        scaled = np.clip((m.values.numpy() - m.lo) / (m.hi - m.lo), 0, 1) * 255
        assert np.abs(levels - scaled).max() <= 0.5 + 1e-9
    info = {m["key"]: m for m in data["maps"]}
    assert info["entropy/HR"]["hi"] == pytest.approx(math.log(k))
    assert data["window"] == {"rows": 4, "cols": 4} and a["window_rows"].shape == (graph.target_grid.rows,)


def test_data_with_edge_weights_and_entropy():
    graph = small_graph(k=4)
    torch.manual_seed(3)
    edge_weight = torch.randn(graph.num_target_nodes, 4).softmax(1).reshape(-1)
    lw = LayerWeights("edge", edge_weight=edge_weight)
    _, a = unpack(*images(graph), graph, lw)
    np.testing.assert_allclose(a["weights/edge"] / 65535, edge_weight.view(-1, 4).numpy(), atol=0.5 / 65535 + 1e-7)
    entropy = {m.key: m for m in explorer_maps(graph, lw)}["entropy/edge"].values
    by_query = [-sum(w * math.log(w) for w in row) for row in edge_weight.view(-1, 4).tolist()]
    np.testing.assert_allclose(
        entropy.numpy(), brute_force_pixel_map(torch.tensor(by_query, dtype=torch.float64), graph), rtol=1e-9
    )


def test_global_search_has_no_windows():
    graph = small_graph(window=100)
    data, _ = unpack(*images(graph), graph)
    assert data["window"] is None and "window_rows" not in data["arrays"] and data["weights"] is None


def test_bad_inputs():
    graph = small_graph()
    lr_image, down_image = images(graph)
    with pytest.raises(ValueError, match="down_image"):
        explorer_data(lr_image, down_image[:-1], graph)
    with pytest.raises(ValueError, match="pixel weights 'HR' have shape"):
        explorer_data(lr_image, down_image, graph, LayerWeights("x", pixel_weights={"HR": torch.ones(2, 3, 4)}))
    with pytest.raises(ValueError, match="not both or neither"):
        explorer_data(lr_image, down_image, graph, LayerWeights("x"))
    two = build_cross_scale_graph(torch.rand(2, 3, 12, 12), torch.rand(2, 3, 6, 6), 2, num_neighbors=2)
    with pytest.raises(ValueError, match="one image"):
        explorer_data(lr_image, down_image, two)


def test_page_is_self_contained_and_carries_its_data():
    graph = small_graph()
    lr_image, down_image = images(graph)
    html = explorer_page(lr_image, down_image, graph, title="a </script> title")
    # no external resource: nothing is fetched from a URL, and scripts and styles are inline
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html)
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert html.count("</script>") == 1 + 1  # the data element and the script
    data, arrays = read_explorer_page(html)
    assert data["title"] == "a </script> title"
    np.testing.assert_array_equal(arrays["source"], graph.neighbors().numpy())
    assert explorer_page(lr_image, down_image, graph, title="a </script> title") == html  # deterministic
