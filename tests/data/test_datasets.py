"""Paired and HR-only SR datasets on tiny image folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ignn_pyg.data.datasets import (
    HRFolderDataset,
    PairedFolderDataset,
    benchmark_dataset,
    div2k_dataset,
    find_benchmark_sets,
)
from ignn_pyg.data.image_io import tensor_to_image, write_image
from ignn_pyg.data.resize import bicubic_downsample

RNG = np.random.default_rng(0)


def _image(height: int, width: int) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _paired_folders(root, scale: int, lr_suffix: str):
    """HR images of odd sizes (modcrop needed) and LR images of matching sizes."""
    hr_dir, lr_dir = root / "hr", root / "lr"
    images = {}
    for name, (lr_h, lr_w) in {"a": (5, 4), "b": (3, 6)}.items():
        hr = _image(lr_h * scale + scale - 1, lr_w * scale + 1)
        lr = _image(lr_h, lr_w)
        write_image(hr_dir / f"{name}.png", hr)
        write_image(lr_dir / f"{name}{lr_suffix}.png", lr)
        images[name] = (hr, lr)
    return hr_dir, lr_dir, images


@pytest.mark.parametrize("lr_suffix", ["", "x3"])
def test_paired_folder_dataset_matches_stems_and_modcrops(tmp_path, lr_suffix):
    hr_dir, lr_dir, images = _paired_folders(tmp_path, 3, lr_suffix)
    dataset = PairedFolderDataset(hr_dir, lr_dir, 3)
    assert len(dataset) == 2
    for index, name in enumerate(["a", "b"]):
        sample = dataset[index]
        hr, lr = images[name]
        assert sample["name"] == name
        assert sample["lr"].dtype == sample["hr"].dtype == torch.float32
        assert sample["lr"].shape == (3, *lr.shape[:2])
        assert sample["hr"].shape == (3, lr.shape[0] * 3, lr.shape[1] * 3)
        np.testing.assert_array_equal(sample["lr"].permute(1, 2, 0).numpy(), lr)
        np.testing.assert_array_equal(sample["hr"].permute(1, 2, 0).numpy(), hr[: lr.shape[0] * 3, : lr.shape[1] * 3])


def test_hr_folder_dataset_makes_bicubic_lr(tmp_path):
    hr = _image(13, 10)
    write_image(tmp_path / "img.png", hr)
    sample = HRFolderDataset(tmp_path, 2)[0]
    assert sample["name"] == "img"
    assert sample["hr"].shape == (3, 12, 10) and sample["lr"].shape == (3, 6, 5)
    hr_tensor = torch.from_numpy(hr[:12, :10].astype(np.float32)).permute(2, 0, 1)
    torch.testing.assert_close(sample["hr"], hr_tensor)
    torch.testing.assert_close(sample["lr"], bicubic_downsample(hr_tensor, 2), rtol=0, atol=0)
    # The LR values are those of a saved 8-bit image.
    torch.testing.assert_close(sample["lr"], torch.round(sample["lr"]).clamp(0, 255), rtol=0, atol=0)


def test_saved_on_the_fly_lr_reads_back_as_the_same_pair(tmp_path):
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    for name in ("p", "q"):
        write_image(hr_dir / f"{name}.png", _image(17, 12))
    synthetic = HRFolderDataset(hr_dir, 4)
    for sample in synthetic:
        write_image(lr_dir / f"{sample['name']}x4.png", tensor_to_image(sample["lr"]))
    paired = PairedFolderDataset(hr_dir, lr_dir, 4)
    for made, read in zip(synthetic, paired, strict=True):
        assert made["name"] == read["name"]
        torch.testing.assert_close(made["lr"], read["lr"], rtol=0, atol=0)
        torch.testing.assert_close(made["hr"], read["hr"], rtol=0, atol=0)


def test_div2k_layout(tmp_path):
    hr_dir = tmp_path / "DIV2K_valid_HR"
    lr_dir = tmp_path / "DIV2K_valid_LR_bicubic" / "X2"
    write_image(hr_dir / "0801.png", _image(8, 6))
    write_image(lr_dir / "0801x2.png", _image(4, 3))
    dataset = div2k_dataset(tmp_path, "valid", 2)
    assert len(dataset) == 1 and dataset[0]["name"] == "0801"
    with pytest.raises(ValueError, match="'test'"):
        div2k_dataset(tmp_path, "test", 2)
    with pytest.raises(ValueError, match="DIV2K_train_HR"):
        div2k_dataset(tmp_path, "train", 2)


def test_benchmark_layout(tmp_path):
    write_image(tmp_path / "HR" / "baby.png", _image(9, 12))
    write_image(tmp_path / "LR_bicubic" / "X3" / "babyx3.png", _image(3, 4))
    dataset = benchmark_dataset(tmp_path, 3)
    sample = dataset[0]
    assert sample["name"] == "baby" and sample["hr"].shape == (3, 9, 12)
    assert "size=1" in repr(dataset)
    with pytest.raises(ValueError, match="X4"):
        benchmark_dataset(tmp_path, 4)


def test_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="nowhere"):
        HRFolderDataset(tmp_path / "nowhere", 2)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images.*empty"):
        HRFolderDataset(tmp_path / "empty", 2)
    with pytest.raises(ValueError, match="scale"):
        HRFolderDataset(tmp_path, 1.5)


def test_hr_without_lr_partner(tmp_path):
    hr_dir, lr_dir, _ = _paired_folders(tmp_path, 2, "x2")
    write_image(hr_dir / "c.png", _image(4, 4))
    with pytest.raises(ValueError, match=r"no LR partner.*: c\.png"):
        PairedFolderDataset(hr_dir, lr_dir, 2)


def test_size_mismatch_names_both_files(tmp_path):
    write_image(tmp_path / "hr" / "a.png", _image(10, 8))
    write_image(tmp_path / "lr" / "ax2.png", _image(5, 5))
    dataset = PairedFolderDataset(tmp_path / "hr", tmp_path / "lr", 2)
    with pytest.raises(ValueError, match=r"a\.png.*10x8.*ax2\.png.*5x5"):
        dataset[0]


def test_benchmark_sets_in_the_literature_order(tmp_path):
    """Sets with HR/, with DIV2K_valid_HR/ or with images of their own, the literature's
    first (whatever their case); hidden folders, folders without images and files are not sets."""
    for folder in ("Zoo/HR", "Urban100/HR", "set5/HR", "Alpha", "DIV2K/DIV2K_valid_HR", ".hidden"):
        write_image(tmp_path / folder / "x.png", _image(4, 4))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images")
    write_image(tmp_path / "loose.png", _image(4, 4))
    assert [folder.name for folder in find_benchmark_sets(tmp_path)] == ["set5", "Urban100", "Alpha", "DIV2K", "Zoo"]
    with pytest.raises(ValueError, match="no sets in .*notes: expected folders SET/HR/"):
        find_benchmark_sets(tmp_path / "notes")
    with pytest.raises(ValueError, match="must be a folder of sets, got the file"):
        find_benchmark_sets(tmp_path / "loose.png")
    with pytest.raises(FileNotFoundError, match="benchmark folder not found"):
        find_benchmark_sets(tmp_path / "missing")
