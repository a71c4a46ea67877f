from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ignn_pyg.data import bicubic_downsample
from ignn_pyg.training.config import config_from_dict
from ignn_pyg.training.data import (
    StreamSampler,
    TrainCropDataset,
    build_train_dataset,
    build_val_samples,
    epoch_permutation,
    seed_worker,
)


def _dataset(seed: int = 3, n: int = 5) -> TrainCropDataset:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20 + k, 24, 3), dtype=np.uint8) for k in range(n)]
    return TrainCropDataset([f"im{k}" for k in range(n)], images, seed, crop_size=12, scale=3)


def test_epoch_permutation_depends_only_on_seed_and_epoch():
    a = epoch_permutation(5, 2, 10)
    assert sorted(a) == list(range(10))
    assert np.array_equal(a, epoch_permutation(5, 2, 10))
    assert len({tuple(epoch_permutation(5, e, 10)) for e in range(4)}) == 4
    assert len({tuple(epoch_permutation(s, 2, 10)) for s in range(4)}) == 4


def test_each_epoch_visits_every_image_once():
    dataset = _dataset()
    for epoch in range(3):
        visited = [dataset.image_index(i) for i in range(5 * epoch, 5 * epoch + 5)]
        assert sorted(visited) == list(range(5))


def test_samples_are_pure_functions_of_the_index_and_lr_is_the_bicubic_of_hr():
    dataset = _dataset()
    a, b = dataset[7], _dataset()[7]
    assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])
    assert a["hr"].shape == (3, 12, 12) and a["lr"].shape == (3, 4, 4)
    assert torch.equal(a["lr"], bicubic_downsample(a["hr"], 3))
    assert not torch.equal(dataset[8]["hr"], a["hr"])
    assert not torch.equal(_dataset(seed=4)[7]["hr"], a["hr"])


def test_sharded_streams_make_up_the_single_process_stream():
    single = list(StreamSampler(6, 2, 5))
    assert single == list(range(12, 30))
    ranks = [list(StreamSampler(6, 2, 5, rank=r, world_size=3)) for r in range(3)]
    for t in range(3):  # per iteration, the ranks' blocks concatenate to the global batch
        assert sum((r[2 * t : 2 * t + 2] for r in ranks), []) == single[6 * t : 6 * t + 6]
    assert list(StreamSampler(6, 0, 5))[12:] == single  # resuming at 2 continues the stream
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        StreamSampler(5, 0, 1, world_size=2)


def test_worker_processes_give_the_same_batches():
    dataset = _dataset()
    batches = []
    for workers in (0, 1):
        loader = DataLoader(
            dataset, batch_size=2, sampler=StreamSampler(2, 1, 4), num_workers=workers, worker_init_fn=seed_worker
        )
        batches.append([b["hr"] for b in loader])
    assert len(batches[0]) == 3
    assert all(torch.equal(x, y) for x, y in zip(*batches))


def test_build_from_folders(image_folders):
    data = config_from_dict(
        {
            "data": {
                "train": "folder",
                "train_root": str(image_folders["train"]),
                "val": "folder",
                "val_root": str(image_folders["val"]),
                "crop_size": 32,
                "cache": True,
                "val_images": 1,
                "val_max_side": 32,
            }
        }
    ).data
    train = build_train_dataset(data, seed=0)
    assert train.names == ["train0", "train1", "train2"] and all(isinstance(i, np.ndarray) for i in train.images)
    (sample,) = build_val_samples(data)
    assert sample["name"] == "val0" and sample["hr"].shape == (3, 32, 32) and sample["lr"].shape == (3, 16, 16)
    whole = build_val_samples(config_from_dict({"data": {**vars(data), "val_max_side": 0, "val_images": 0}}).data)
    assert len(whole) == 2 and whole[0]["hr"].shape == (3, 40, 40)
    assert torch.equal(whole[0]["hr"][:, 4:36, 4:36], sample["hr"])  # the centre
    assert torch.equal(whole[0]["lr"][:, 2:18, 2:18], sample["lr"])


def test_bad_folders_and_small_images_are_caught_before_training(image_folders):
    def data(**values):
        base = {"train": "folder", "train_root": str(image_folders["train"])}
        return config_from_dict({"data": {**base, **values}}).data

    with pytest.raises(ValueError, match="no images"):
        build_train_dataset(data(train_root=str(image_folders["empty"])), seed=0)
    with pytest.raises(ValueError, match="not found"):
        build_train_dataset(data(train_root=str(image_folders["empty"] / "missing")), seed=0)
    with pytest.raises(ValueError, match="smaller than data.crop_size=42"):
        build_train_dataset(data(crop_size=42, cache=True), seed=0)
