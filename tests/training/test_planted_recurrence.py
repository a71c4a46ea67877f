"""Planted cross-scale recurrence (ignn_pyg.training.planted_recurrence): block geometry
by invariants, the pasted block against the bicubic downscale, and the property that
matters: on a real photo the cross-scale graph links the planted corner's queries to
the planted source, and does not without the plant."""

import numpy as np
import pytest
import torch

from ignn_pyg.data import bicubic_downsample, downsample_for_graph, image_to_tensor, photo_path, read_image
from ignn_pyg.data import tensor_to_image
from ignn_pyg.graph import build_cross_scale_graph
from ignn_pyg.training.data import TrainCropDataset
from ignn_pyg.training.planted_recurrence import plant_at, plant_recurrence, planted_blocks


@pytest.mark.parametrize("size,scale", [(64, 2), (96, 3), (96, 4), (128, 2), (48, 3), (16, 2)])
def test_blocks_fit_do_not_overlap_and_sit_on_the_grids(size, scale):
    for corner in range(4):
        (pt, pl, side), (dt, dl, small) = planted_blocks(size, scale, corner)
        assert side % (scale * scale) == 0 and small * scale == side and side <= 5 * size // 8
        assert pt % (scale * scale) == 0 and pl % (scale * scale) == 0 and dt % scale == 0 and dl % scale == 0
        assert 0 <= min(pt, pl, dt, dl) and max(pt, pl) + side <= size and max(dt, dl) + small <= size
        rows_apart = pt + side <= dt or dt + small <= pt
        cols_apart = pl + side <= dl or dl + small <= pl
        assert rows_apart and cols_apart  # opposite corners
    with pytest.raises(ValueError, match="too small"):
        planted_blocks(6, 2, 0)


def test_the_pasted_block_is_the_bicubic_downscale_and_the_rest_is_untouched():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = plant_at(img, 2, 0)
    (_, _, side), (dt, dl, small) = planted_blocks(64, 2, 0)
    expected = tensor_to_image(bicubic_downsample(image_to_tensor(img[:side, :side]), 2))
    assert np.array_equal(out[dt:, dl:], expected)
    mask = np.ones((64, 64), bool)
    mask[dt:dt + small, dl:dl + small] = False
    assert np.array_equal(out[mask], img[mask])
    assert np.array_equal(img, np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    corners = {planted_blocks(64, 2, c)[0][:2] for c in range(4)}
    drawn = {planted_blocks(64, 2, int(np.random.default_rng(s).integers(4)))[0][:2] for s in range(40)}
    assert drawn == corners  # every corner can be drawn
    assert plant_recurrence(img, 2, np.random.default_rng(5)).shape == img.shape


def _planted_source_share(hr: np.ndarray, scale: int, corner: int) -> float:
    """Share of LR queries well inside the corner where D lands whose nearest
    downsampled patch (pixel embedding, global search) is the one at P's place."""
    (pt, pl, _), (dt, dl, small) = planted_blocks(hr.shape[0], scale, corner)
    lr = bicubic_downsample(image_to_tensor(hr), scale) / 255
    graph = build_cross_scale_graph(lr, downsample_for_graph(lr, scale), scale, num_neighbors=1, window=10_000)
    top, left, side = dt // scale, dl // scale, small // scale  # D's LR block
    source = graph.source_pos[graph.edge_index[0]]
    hits = total = 0
    for (r, c), (sr, sc) in zip(graph.target_pos.tolist(), source.tolist()):
        if top + 2 <= r <= top + side - 5 and left + 2 <= c <= left + side - 5:
            total += 1
            hits += (sr, sc) == (r - top + pt // scale ** 2, c - left + pl // scale ** 2)
    assert total >= 16
    return hits / total


def test_the_graph_finds_the_planted_source_on_a_real_photo():
    photo = read_image(photo_path("astronaut"))[100:228, 150:278]  # 128 px: helmet, face
    planted = plant_at(photo, 2, 0)
    assert _planted_source_share(planted, 2, 0) >= 0.9
    assert _planted_source_share(photo, 2, 0) <= 0.1  # without the plant: no such match


def test_training_stream_plants_only_when_asked():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)]
    plain = TrainCropDataset(["a"], images, seed=3, crop_size=64, scale=2)
    never = TrainCropDataset(["a"], images, seed=3, crop_size=64, scale=2, plant_prob=0.0)
    always = TrainCropDataset(["a"], images, seed=3, crop_size=64, scale=2, plant_prob=1.0)
    for i in range(4):
        assert torch.equal(plain[i]["hr"], never[i]["hr"])
        changed = (always[i]["hr"] != plain[i]["hr"]).any(0)
        small = planted_blocks(64, 2, 0)[1][2]
        assert 0 < int(changed.sum()) <= small * small  # only D's block differs
