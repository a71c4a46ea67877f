"""The graph study: summary numbers and overlay pixels (the ``ignn-pyg graph`` command is
tested in ``tests/test_explorer.py``)."""

import json
import math
import statistics

import numpy as np
import pytest
import torch

from ignn_pyg.graph import CrossScaleGraph, PatchGrid, build_cross_scale_graph
from ignn_pyg.graph.study import QUERY_COLOUR, RANK_COLOURS, draw_overlay, graph_summary


def hand_graph(target_pos, source_pos, sources, distance, scale, target_size, source_size):
    """A one-image graph with the given top-left positions, ``sources [M, k]`` neighbour
    lists and distances.  ``target_size`` / ``source_size`` give map sizes whose 3x3
    stride-2 grids have ``M`` and ``N`` patches; a window of 30 covers them (global)."""
    m, k = len(sources), len(sources[0])
    src = torch.tensor(sources).reshape(-1)
    dst = torch.arange(m).repeat_interleave(k)
    return CrossScaleGraph(
        edge_index=torch.stack([src, dst]),
        edge_attr=torch.zeros(m * k, 1),
        distance=torch.tensor(distance, dtype=torch.float32),
        rank=torch.arange(k).repeat(m),
        source_pos=torch.tensor(source_pos),
        target_pos=torch.tensor(target_pos),
        source_batch=torch.zeros(len(source_pos), dtype=torch.long),
        target_batch=torch.zeros(m, dtype=torch.long),
        source_grid=PatchGrid.of(*source_size, 3, 2),
        target_grid=PatchGrid.of(*target_size, 3, 2),
        scale=scale,
        num_neighbors=k,
        window=30,
        window_indexing="reference",
        backend="dense",
        global_search=True,
    )


def test_summary_statistics_by_hand():
    # 2 queries x k=2 (grids 1x2 and 1x3; the positions are arbitrary data)
    g = hand_graph(
        target_pos=[[0, 0], [2, 4]],
        source_pos=[[0, 0], [1, 2], [2, 0]],
        sources=[[1, 2], [0, 1]],
        distance=[1.0, 4.0, 2.0, 10.0],
        scale=2,
        target_size=(3, 5),
        source_size=(3, 7),
    )
    s = graph_summary(g)
    assert s["lr_size"] == [3, 5] and s["down_size"] == [3, 7]
    assert (s["lr_patches"], s["down_patches"], s["edges"], s["images"]) == (2, 3, 4, 1)
    assert s["distance"] == pytest.approx({"min": 1.0, "mean": 4.25, "median": 3.0, "max": 10.0})
    # query (0,0): regions 2*(1,2)=(2,4) and 2*(2,0)=(4,0); query (2,4): (0,0) and (2,4)
    disp = [math.hypot(2, 4), 4.0, math.hypot(2, 4), 0.0]
    assert s["displacement_lr_px"] == pytest.approx({"mean": sum(disp) / 4, "median": statistics.median(disp)})
    assert s["border_limited_fraction"] == 1.0  # global search
    json.dumps(s)


def test_summary_on_repeated_motif():
    """Both maps tile one random 6x6 motif, so in every window of 3 stride-2 source
    patches exactly one copies the query: query row i at pixel 2i matches the source row
    j in its window with j = i (mod 3)."""
    torch.manual_seed(0)
    motif = torch.rand(1, 2, 6, 6)
    lr = motif.repeat(1, 1, 6, 6)[..., :31, :31]  # 15 x 15 patches, no padding
    down = lr[..., :15, :15]  # 7 x 7 patches, same phase
    g = build_cross_scale_graph(lr, down, 2, num_neighbors=1, window=3, backend="dense")
    s = graph_summary(g)

    # reference windows by hand: origin clamp(i // 2 - 3 // 2, 0, 7 - 3)
    origin = [min(max(i // 2 - 1, 0), 4) for i in range(15)]
    match = [next(j for j in range(o, o + 3) if j % 3 == i % 3) for i, o in enumerate(origin)]
    disp = [math.hypot(2 * 2 * match[i] - 2 * i, 2 * 2 * match[j] - 2 * j) for i in range(15) for j in range(15)]
    assert s["distance"]["max"] == pytest.approx(0.0, abs=1e-10)
    assert s["displacement_lr_px"] == pytest.approx({"mean": sum(disp) / len(disp), "median": statistics.median(disp)})
    # a row is border-limited when its block starts at 0 or ends at 7: 9 of 15 rows
    free = sum(0 < o < 4 for o in origin) / 15
    assert free == 6 / 15
    assert s["border_limited_fraction"] == pytest.approx(1 - free**2)


def test_overlay_one_edge_by_hand():
    # query patch at (2, 3), its one neighbour at (0, 4) in the x2 downsampled image
    g = hand_graph(
        target_pos=[[2, 3]],
        source_pos=[[0, 4]],
        sources=[[0]],
        distance=[0.0],
        scale=2,
        target_size=(3, 3),
        source_size=(3, 3),
    )
    image = np.zeros((12, 16, 3), np.uint8)
    out = draw_overlay(image, g, sample=5)

    expected = np.zeros_like(image)
    red = RANK_COLOURS[0]
    expected[3, 4:12] = red  # centre (3, 4) -> region centre (0+3, 8+3)
    expected[[0, 5], 8:14] = red  # 6x6 region outline, rows 0..5, cols 8..13
    expected[0:6, [8, 13]] = red
    expected[[2, 4], 3:6] = QUERY_COLOUR  # 3x3 query outline, rows 2..4, cols 3..5
    expected[2:5, [3, 5]] = QUERY_COLOUR
    np.testing.assert_array_equal(out, expected)
    assert not image.any()  # the input is not modified


def test_overlay_sample_and_clipping():
    torch.manual_seed(0)
    g = build_cross_scale_graph(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 10, 10), 2, num_neighbors=3, window=3)
    image = np.zeros((20, 20, 3), np.uint8)
    assert not draw_overlay(image, g, sample=0).any()
    everything = draw_overlay(image, g, sample=10_000)  # regions reach past the border
    assert (everything == np.array(QUERY_COLOUR, np.uint8)).all(-1).any()
    with pytest.raises(ValueError, match="uint8"):
        draw_overlay(image.astype(np.float32), g, sample=1)
