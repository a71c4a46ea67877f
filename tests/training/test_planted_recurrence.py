"""Planted cross-scale recurrence (ignn_pyg.training.planted_recurrence): block geometry
by invariants, the pasted block against the bicubic downscale, and the property that
matters: on a real photo the cross-scale graph links the planted corner's queries to
the planted source, and does not without the plant."""

import numpy as np
import pytest
import torch

from ignn_pyg.data import (
    bicubic_downsample,
    downsample_for_graph,
    image_to_tensor,
    photo_path,
    read_image,
    tensor_to_image,
)
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
    mask[dt : dt + small, dl : dl + small] = False
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
            hits += (sr, sc) == (r - top + pt // scale**2, c - left + pl // scale**2)
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


def test_plant_schedule_values_by_hand():
    from ignn_pyg.training.planted_recurrence import PlantSchedule

    constant = PlantSchedule(0.5, iterations=1200, batch_size=4)
    assert [constant.at(t) for t in (0, 899, 900, 1199)] == [0.5, 0.5, 0.5, 0.5]
    step = PlantSchedule(0.5, 1200, 4, "step", until=0.75, final=0.1)
    assert [step.at(t) for t in (0, 899, 900, 1199)] == [0.5, 0.5, 0.1, 0.1]
    linear = PlantSchedule(0.5, 1200, 4, "linear", until=0.75)  # 0.5 -> 0 over 900 iterations
    for t, share in [(0, 0.5), (450, 0.25), (720, 0.1), (900, 0.0), (1199, 0.0)]:
        assert linear.at(t) == pytest.approx(share, abs=1e-12)
    to_floor = PlantSchedule(0.4, 100, 4, "linear", until=1.0, final=0.2)
    assert to_floor.at(50) == pytest.approx(0.3) and to_floor.at(100) == pytest.approx(0.2)
    # sample i belongs to iteration i // batch_size
    assert step.for_sample(4 * 899 + 3) == 0.5 and step.for_sample(4 * 900) == 0.1
    for bad in [dict(decay="cosine"), dict(until=0.0), dict(until=1.5), dict(final=-0.1)]:
        with pytest.raises(ValueError):
            PlantSchedule(**{"share": 0.5, "iterations": 10, "batch_size": 2, **bad})


def test_training_stream_follows_the_plant_schedule():
    from ignn_pyg.training.planted_recurrence import PlantSchedule

    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)]
    kwargs = dict(seed=3, crop_size=64, scale=2)
    plain = TrainCropDataset(["a"], images, **kwargs)
    always = TrainCropDataset(["a"], images, plant_prob=1.0, **kwargs)
    half = TrainCropDataset(["a"], images, plant_prob=0.5, **kwargs)
    constant = TrainCropDataset(["a"], images, plant_schedule=PlantSchedule(0.5, 10, 2), **kwargs)
    # all crops planted for iterations 0..4, none from iteration 5 on (batch 2: samples 0..9, 10..19)
    step = TrainCropDataset(["a"], images, plant_schedule=PlantSchedule(1.0, 10, 2, "step", until=0.5), **kwargs)
    for i in range(20):
        assert torch.equal(constant[i]["hr"], half[i]["hr"])  # a constant schedule is plant_prob
        expected = always if i < 10 else plain
        assert torch.equal(step[i]["hr"], expected[i]["hr"]), i


def test_build_train_dataset_passes_the_schedule(monkeypatch):
    from ignn_pyg.training import data as data_module
    from ignn_pyg.training.config import DataConfig

    monkeypatch.setattr(data_module, "list_photos", lambda split: ["a"])
    monkeypatch.setattr(data_module, "load_training_photo", lambda *args: np.zeros((80, 80, 3), np.uint8))
    config = DataConfig(crop_size=64, batch_size=4, plant_recurrence=0.5)
    assert data_module.build_train_dataset(config, 0).plant_schedule is None  # today's path
    config.plant_decay, config.plant_until = "linear", 0.75
    with pytest.raises(ValueError, match="needs the run's iterations"):
        data_module.build_train_dataset(config, 0)
    schedule = data_module.build_train_dataset(config, 0, iterations=1200).plant_schedule
    assert schedule.at(450) == pytest.approx(0.25) and schedule.batch_size == 4
