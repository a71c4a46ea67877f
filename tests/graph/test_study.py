"""The graph study: summary numbers and overlay pixels (the ``ignn-pyg graph`` command is
tested in ``tests/test_explorer.py``)."""

import json
import math
import statistics

import numpy as np
import pytest
import torch

from ignn_pyg.graph import CrossScaleGraph, PatchGrid, build_cross_scale_graph
from ignn_pyg.graph.study import (
    LEGEND_ROW,
    LEGEND_SWATCH,
    LEGEND_TEXT,
    QUERY_COLOUR,
    RANK_COLOURS,
    WINDOW_COLOUR,
    draw_overlay,
    graph_summary,
)


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


def outline(canvas, top, left, bottom, right, colour):
    """Draw the one-pixel outline of rows ``top..bottom``, columns ``left..right``."""
    canvas[[top, bottom], left : right + 1] = colour
    canvas[top : bottom + 1, [left, right]] = colour


@pytest.mark.parametrize(("min_side", "zoom"), [(1, 1), (100, 7), (512, 32)])
def test_overlay_one_edge_by_hand(min_side, zoom):
    # query patch at (2, 3), its one neighbour at (0, 4) in the x2 downsampled image; the
    # other source patch at (2, 0) widens the (global) search window
    g = hand_graph(
        target_pos=[[2, 3]],
        source_pos=[[0, 4], [2, 0]],
        sources=[[0]],
        distance=[0.0],
        scale=2,
        target_size=(3, 3),
        source_size=(3, 5),
    )
    image = np.zeros((12, 16, 3), np.uint8)
    out = draw_overlay(image, g, sample=5, min_side=min_side)

    # LR pixel (r, c) is the zoom x zoom block at (zoom r, zoom c); outlines are 1 px thick
    expected = np.zeros((12 * zoom, 16 * zoom, 3), np.uint8)

    def box(top, left, bottom, right, colour):  # LR pixels, inclusive
        outline(expected, zoom * top, zoom * left, zoom * (bottom + 1) - 1, zoom * (right + 1) - 1, colour)

    box(0, 0, 9, 13, WINDOW_COLOUR)  # regions at 2*(0,4) and 2*(2,0), 6x6 each: rows 0..9, cols 0..13
    red, middle = RANK_COLOURS[0], zoom // 2
    row = zoom * 3 + middle  # centre (3, 4) -> region centre (0+3, 8+3)
    expected[row, zoom * 4 + middle : zoom * 11 + middle + 1] = red
    box(0, 8, 5, 13, red)  # 6x6 region outline
    box(2, 3, 4, 5, QUERY_COLOUR)  # 3x3 query outline
    assert out.shape[0] == 12 * zoom + 4 * LEGEND_ROW and out.shape[1] >= 16 * zoom
    np.testing.assert_array_equal(out[: 12 * zoom, : 16 * zoom], expected)
    assert not image.any()  # the input is not modified


def test_overlay_window_of_the_first_query():
    """16x16 LR (8x8 query grid, stride 2), 8x8 downsampled (4x4 source grid), window 2:
    query (4, 4) searches source rows and columns clamp(4 // 2 - 2 // 2, 0, 2) = 1..2, at
    pixels 2..4, which stand for LR pixels 4..13."""
    torch.manual_seed(0)
    g = build_cross_scale_graph(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 8, 8), 2, num_neighbors=1, window=2)
    assert not g.global_search and g.num_target_nodes == 64
    seed = next(s for s in range(1000) if torch.randperm(64, generator=torch.Generator().manual_seed(s))[0] == 36)
    out = draw_overlay(np.zeros((16, 16, 3), np.uint8), g, sample=1, seed=seed)
    rows, cols = np.nonzero((out[:512, :512] == WINDOW_COLOUR).all(-1))  # zoom 32
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4 * 32, 14 * 32 - 1, 4 * 32, 14 * 32 - 1)


def test_overlay_legend():
    """The band below the photo shows each mark's colour in its own row: query, the k = 3
    rank colours (boxes, then lines), window; the text is grey, never a mark's colour."""
    torch.manual_seed(0)
    g = build_cross_scale_graph(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 10, 10), 2, num_neighbors=3, window=3)
    out = draw_overlay(np.zeros((20, 20, 3), np.uint8), g, sample=0)  # nothing drawn on the photo
    assert out.shape[:2] == (520 + 4 * LEGEND_ROW, 520)  # zoom 26
    assert not out[:520].any()
    band = out[520:]
    legend_rows = [band[i * LEGEND_ROW : (i + 1) * LEGEND_ROW] for i in range(4)]

    def has(pixels, colour):
        return bool((pixels == np.array(colour, np.uint8)).all(-1).any())

    assert has(legend_rows[0], QUERY_COLOUR) and has(legend_rows[3], WINDOW_COLOUR)
    for colour in RANK_COLOURS[:3]:
        assert has(legend_rows[1], colour) and has(legend_rows[2], colour)
    assert not any(has(band, colour) for colour in RANK_COLOURS[3:])  # only the k colours used
    text = band[:, 6 + 3 * (LEGEND_SWATCH + 3) :]  # right of the widest swatch row
    assert (text == text[..., :1]).all() and 0 < text.max() <= max(LEGEND_TEXT) and (text > 0).sum() > 500


def test_overlay_narrow_photo_is_widened_for_the_legend():
    torch.manual_seed(0)
    g = build_cross_scale_graph(torch.rand(1, 3, 64, 8), torch.rand(1, 3, 32, 4), 2, num_neighbors=1)
    out = draw_overlay(np.full((64, 8, 3), 255, np.uint8), g, sample=0)  # zoom 8: 512 x 64
    assert out.shape[0] == 512 + 4 * LEGEND_ROW and out.shape[1] > 200
    assert (out[:512, :64] == 255).all() and not out[:512, 64:].any()


def test_overlay_sample_and_clipping():
    torch.manual_seed(0)
    g = build_cross_scale_graph(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 10, 10), 2, num_neighbors=3, window=3)
    image = np.zeros((20, 20, 3), np.uint8)
    everything = draw_overlay(image, g, sample=10_000, min_side=1)[:20, :20]  # regions reach past the border
    assert (everything == np.array(QUERY_COLOUR, np.uint8)).all(-1).any()
    with pytest.raises(ValueError, match="uint8"):
        draw_overlay(image.astype(np.float32), g, sample=1)
