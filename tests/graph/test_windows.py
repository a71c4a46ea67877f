"""Search windows against the hand-written formulas of the authors' index_neighbours."""

import torch

from ignn_pyg.graph.windows import search_windows, window_candidates


def test_reference_origins_hand_computed():
    # w = 3, s = 2: origin = clamp(i // 2 - 1, 0, n - 3)
    win = search_windows((6, 6), (4, 5), window=3, scale=2, indexing="reference")
    assert win.rows == win.cols == 3
    assert win.row_origin.tolist() == [0, 0, 0, 0, 1, 1]
    assert win.col_origin.tolist() == [0, 0, 0, 0, 1, 1]


def test_reference_is_off_centre_at_scale_3():
    # the authors use i // 2 at every scale: the block spans i//2 - 10 .. i//2 + 19
    win = search_windows((300, 300), (100, 100), window=30, scale=3, indexing="reference")
    i = torch.arange(300)
    assert torch.equal(win.row_origin, (i // 2 - 10).clamp(0, 70))
    true_location = i // 3
    inside = (true_location >= win.row_origin) & (true_location < win.row_origin + 30)
    assert not bool(inside.all())  # the quirk: some true locations fall outside the window


def test_reference_window_is_square_of_smallest_side():
    win = search_windows((20, 60), (10, 30), window=15, scale=2, indexing="reference")
    assert win.rows == win.cols == 10
    assert int(win.row_origin.max()) == 0 and int(win.col_origin.max()) == 20


def test_centered_window_contains_true_location():
    for s in (2, 3, 4):
        m, n = 40 * s, 40
        win = search_windows((m, m), (n, n), window=7, scale=s, indexing="centered")
        centre = torch.arange(m).double() / s
        mid = win.row_origin.double() + (win.rows - 1) / 2
        clipped = (win.row_origin == 0) | (win.row_origin == n - win.rows)
        assert bool(((mid - centre).abs() <= 0.5 + 1e-9)[~clipped].all())


def test_global_when_window_covers_grid():
    assert search_windows((8, 8), (4, 5), window=5, scale=2) is None
    assert search_windows((8, 8), (4, 5), window=4, scale=2) is not None


def test_window_candidates_lists_block():
    win = search_windows((4, 4), (3, 3), window=2, scale=2, indexing="reference")
    cand = window_candidates(win, (3, 3))
    # query (0, 0): origin (0, 0) -> source patches 0, 1, 3, 4
    assert cand[0].tolist() == [0, 1, 3, 4]
    # query (3, 3): origin clamp(1 - 1, 0, 1) = 0 -> same block
    assert cand[15].tolist() == [0, 1, 3, 4]
