"""The memory estimate of an upscale against its formula, and the size parser."""

import pytest

from ignn_pyg.inference.memory_estimate import (
    FORWARD_FIXED_BYTES,
    FORWARD_MEMORY,
    format_bytes,
    forward_bytes,
    parse_bytes,
    tiling_for_budget,
    upscale_peak_bytes,
)
from ignn_pyg.models import EDSR, IGNN


@pytest.mark.parametrize("model", [IGNN(2, n_feats=8, n_resblocks=1, window=4), EDSR(3, n_feats=16, n_resblocks=1)])
def test_forward_bytes_follows_its_formula(model):
    maps = FORWARD_MEMORY[type(model)]
    c, s = model.config.n_feats, model.scale
    assert forward_bytes(model, 1000) == int(4 * c * 1000 * (maps.lr_maps + maps.hr_maps * s * s)) + FORWARD_FIXED_BYTES


def test_a_whole_image_and_a_tiled_one():
    model = EDSR(2, n_feats=8, n_resblocks=1)
    # whole: the forward runs on all 30 x 40 pixels
    whole = upscale_peak_bytes(model, 30, 40, max_pixels=1200, tile=16)
    assert whole == forward_bytes(model, 1200) + 15 * 1200 + 18 * 4 * 1200
    # one pixel over max_pixels: tiles of 16 x 16, the buffers still of the whole image
    tiled = upscale_peak_bytes(model, 30, 40, max_pixels=1199, tile=16, alpha=True)
    assert tiled == forward_bytes(model, 256) + 15 * 1200 + 18 * 4 * 1200 + 9 * 4 * 1200
    # a tile longer than a side runs on that side
    assert (
        upscale_peak_bytes(model, 10, 500, max_pixels=100, tile=64)
        == forward_bytes(model, 640) + 15 * 5000 + 18 * 4 * 5000
    )


def test_sizes_parse_in_binary_units():
    assert parse_bytes("4096") == 4096
    assert parse_bytes("800M") == parse_bytes("800MB") == parse_bytes("800 mib") == 800 * 2**20
    assert parse_bytes("1.5G") == 3 * 2**29
    for bad in ("0", "-1G", "lots", "1.5X", ""):
        with pytest.raises(ValueError, match="expected a positive size"):
            parse_bytes(bad)
    assert format_bytes(3 * 2**29) == "1.5 GB" and format_bytes(512) == "512 B"


def test_the_tiling_for_a_budget_is_the_fastest_that_fits():
    """Whole when the whole image fits; else the largest tile (a multiple of 16 above twice
    the overlap) within the budget, brute force over every side; None below the smallest."""
    model = IGNN(2, n_feats=8, n_resblocks=1, window=4)
    h, w = 300, 200
    whole = upscale_peak_bytes(model, h, w, h * w, 0)
    assert tiling_for_budget(model, h, w, whole, overlap=16) == (h * w, 0)
    smallest = upscale_peak_bytes(model, h, w, 0, 48)
    for budget in (whole - 1, *(smallest + int(f * (whole - smallest)) for f in (0.7, 0.4, 0.1))):
        fits = [t for t in range(48, 300 + 1, 16) if upscale_peak_bytes(model, h, w, 0, t) <= budget]
        assert tiling_for_budget(model, h, w, budget, overlap=16) == (0, max(fits))
    assert tiling_for_budget(model, h, w, smallest, overlap=16) == (0, 48)
    assert tiling_for_budget(model, h, w, smallest - 1, overlap=16) is None
    assert tiling_for_budget(model, h, w, smallest, overlap=24) is None  # 48 does not exceed 2 x 24
