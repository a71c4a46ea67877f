"""Tiny image folders and configs for the training tests (n_feats 8, 2 blocks, 32 px crops)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from ignn_pyg.data import write_image


def _smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colourful ``[H, W, 3]`` uint8 image with structure at several scales."""
    y, x = np.mgrid[:height, :width] / max(height, width)
    phase = rng.uniform(0, 6, size=3)
    img = np.stack([np.sin(7 * x + phase[0]), np.cos(5 * x * y + phase[1]), np.sin(9 * y + phase[2])], -1)
    img = 120 + 90 * img + rng.uniform(-20, 20, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def image_folders(tmp_path_factory) -> dict[str, Path]:
    """``train/`` with 3 images (two 40x48, one 48x40) and ``val/`` with 2 images 40x40."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, sizes in (("train", [(40, 48), (48, 40), (40, 48)]), ("val", [(40, 40), (40, 40)])):
        (root / split).mkdir()
        for k, (h, w) in enumerate(sizes):
            write_image(root / split / f"{split}{k}.png", _smooth_image(rng, h, w))
    return {"train": root / "train", "val": root / "val", "empty": root}


TINY = {
    "model": {"arch": "ignn", "n_feats": 8, "n_resblocks": 2},
    "data": {"scale": 2, "train": "folder", "val": "folder", "crop_size": 32, "batch_size": 4, "workers": 0},
    "optim": {"lr": 1.0e-3, "milestones": [4], "iterations": 6},
    "loss": {},
    # the CPU also on a machine with GPUs: bitwise resumes and Gloo are CPU properties
    "run": {"val_every": 2, "log_every": 1, "threads": 1, "deterministic": True, "device": "cpu"},
}


@pytest.fixture
def tiny_config(image_folders, tmp_path):
    """``make(out_dir_name, **section_updates)`` -> a nested config dict for a tiny run."""

    def make(name: str = "run", **updates: dict) -> dict:
        config = copy.deepcopy(TINY)
        config["data"].update(train_root=str(image_folders["train"]), val_root=str(image_folders["val"]))
        config["run"]["out_dir"] = str(tmp_path / name)
        for section, values in updates.items():
            config.setdefault(section, {}).update(values)
        return config

    return make


@pytest.fixture
def restore_torch_globals():
    """Undo the thread count and determinism flags a training run sets in this process."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
