"""Paired training data (``data.train_lr_dir``): crops that stay aligned through every
augmentation, and bad pairs named before any training."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ignn_pyg.data import write_image
from ignn_pyg.training import load_config, train
from ignn_pyg.training.augment import augment_pair
from ignn_pyg.training.config import config_from_dict
from ignn_pyg.training.data import build_train_dataset

SCALE = 2


def nearest_up(lr: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Each LR pixel repeated ``scale x scale`` times: an HR image whose every crop on the
    LR grid is known exactly from the LR crop."""
    return np.repeat(np.repeat(lr, scale, 0), scale, 1)


@pytest.mark.parametrize("seed", range(12))
def test_the_pair_stays_aligned_through_crop_flips_rotations_and_channel_order(seed):
    rng = np.random.default_rng(100 + seed)
    lr = rng.integers(0, 256, (23, 19, 3), dtype=np.uint8)
    hr, lr_patch = augment_pair(nearest_up(lr), lr, np.random.default_rng(seed), 16, SCALE, True, True, 1.0)
    assert hr.shape == (16, 16, 3) and lr_patch.shape == (8, 8, 3)
    np.testing.assert_array_equal(hr, nearest_up(lr_patch))


@pytest.mark.parametrize("seed", range(6))
def test_without_augmentation_the_crops_sit_at_matching_places(seed):
    rng = np.random.default_rng(200 + seed)
    lr = rng.integers(0, 256, (15, 21, 3), dtype=np.uint8)
    hr = rng.integers(0, 256, (30, 42, 3), dtype=np.uint8)  # unrelated pixels: only the places tie them
    hr_patch, lr_patch = augment_pair(hr, lr, np.random.default_rng(seed), 8, SCALE, False, False, 0.0)
    places = [
        (y, x) for y in range(15 - 3) for x in range(21 - 3) if np.array_equal(lr[y : y + 4, x : x + 4], lr_patch)
    ]
    assert len(places) == 1
    ((top, left),) = places
    np.testing.assert_array_equal(hr_patch, hr[2 * top : 2 * top + 8, 2 * left : 2 * left + 8])


@pytest.fixture
def paired_folders(tmp_path):
    """``hr/`` with three images and ``lr/`` with their partners: ``a.png`` and ``b.png``
    by the same name, ``c.png`` as ``cx2.png`` (the LR_bicubic layout)."""
    rng = np.random.default_rng(0)
    for name, lr_name in (("a", "a"), ("b", "b"), ("c", f"cx{SCALE}")):
        lr = rng.integers(0, 256, (20, 22, 3), dtype=np.uint8)
        write_image(tmp_path / "lr" / f"{lr_name}.png", lr)
        write_image(tmp_path / "hr" / f"{name}.png", nearest_up(lr))
    return tmp_path


def paired_config(root: Path, **data) -> dict:
    return {
        "model": {"arch": "edsr", "n_feats": 8, "n_resblocks": 1},
        "data": {
            "scale": SCALE,
            "train": "folder",
            "train_root": str(root / "hr"),
            "train_lr_dir": str(root / "lr"),
            "val": "folder",
            "val_root": str(root / "hr"),
            "crop_size": 16,
            "batch_size": 2,
            "workers": 0,
            **data,
        },
        "optim": {"iterations": 2},
        "run": {"out_dir": str(root / "run"), "val_every": 2, "threads": 1, "device": "cpu"},
    }


@pytest.mark.parametrize("cache", [False, True])
def test_training_samples_are_crops_of_the_partners(paired_folders, cache):
    dataset = build_train_dataset(config_from_dict(paired_config(paired_folders, cache=cache)).data, seed=3)
    assert dataset.names == ["a", "b", "c"] and "paired" in repr(dataset)
    for i in range(9):
        sample = dataset[i]
        hr, lr = (sample[k].permute(1, 2, 0).numpy().astype(np.uint8) for k in ("hr", "lr"))
        np.testing.assert_array_equal(hr, nearest_up(lr))  # bicubic LR would not be this


def test_a_tiny_paired_run_trains(paired_folders, restore_torch_globals):
    summary = train(config_from_dict(paired_config(paired_folders)))
    assert summary["iteration"] == 2 and np.isfinite(summary["loss"])


def test_every_bad_pair_is_named_before_training(paired_folders, restore_torch_globals):
    root = paired_folders
    (root / "lr" / "a.png").unlink()
    write_image(root / "hr" / "d.png", np.zeros((40, 44, 3), np.uint8))
    with pytest.raises(ValueError, match=r"2 HR image\(s\) .* no LR partner .*: a\.png, d\.png$"):
        train(config_from_dict(paired_config(root)))
    write_image(root / "lr" / "a.png", np.zeros((20, 21, 3), np.uint8))  # HR 40x44 needs 20x22
    (root / "lr" / "d.png").write_bytes(b"not an image")
    with pytest.raises(ValueError) as caught:
        train(config_from_dict(paired_config(root)))
    message = str(caught.value)
    assert message.startswith("2 of 4 training pair(s) unusable") and "\n" not in message
    assert "a.png is 40x44 but its LR partner a.png is 20x21 (x2 needs 20x22)" in message
    assert "d.png" in message
    assert not (root / "run" / "last.pt").exists() and not (root / "run" / "log.csv").exists()


def test_paired_data_needs_hr_images_and_no_planting(paired_folders):
    with pytest.raises(ValueError, match="train_lr_dir needs data.train 'folder' or 'div2k'"):
        config_from_dict(paired_config(paired_folders, train="photos"))
    with pytest.raises(ValueError, match="cannot be used with data.train_lr_dir"):
        config_from_dict(paired_config(paired_folders, plant_recurrence=0.5))


def test_loaded_from_yaml(paired_folders, tmp_path):
    path = tmp_path / "paired.yaml"
    path.write_text(yaml.safe_dump(paired_config(paired_folders)))
    assert load_config(path).data.train_lr_dir == str(paired_folders / "lr")
    assert torch.is_tensor(build_train_dataset(load_config(path).data, 0)[0]["lr"])
