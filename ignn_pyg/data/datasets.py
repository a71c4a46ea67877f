"""Super-resolution datasets: pairs of HR images and their bicubic LR versions.

Every dataset here yields ``{"name": str, "lr": [3, h, w], "hr": [3, h * scale, w * scale]}``
with float32 tensors in [0, 255].  The HR image is modcropped to a multiple of ``scale``.

* :class:`PairedFolderDataset` reads LR images from disk (the benchmark protocol);
  :func:`div2k_dataset` and :func:`benchmark_dataset` point it at the usual layouts.
* :class:`HRFolderDataset` makes the LR image on the fly with
  :func:`~ignn_pyg.data.resize.bicubic_downsample`, which reproduces MATLAB's LR files.
* :func:`find_benchmark_sets` lists the sets of a benchmark folder (``Set5/``, ``Set14/``, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from .image_io import image_size, image_to_tensor, read_image
from .output_checks import listed
from .resize import _check_integer_scale, bicubic_downsample, modcrop

__all__ = [
    "IMAGE_SUFFIXES",
    "PairedFolderDataset",
    "HRFolderDataset",
    "div2k_dataset",
    "benchmark_dataset",
    "find_benchmark_sets",
    "make_sr_pair",
    "BENCHMARK_SETS",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp"})
#: the test sets of the SR literature, in the order its tables list them
BENCHMARK_SETS = ("Set5", "Set14", "B100", "BSD100", "Urban100", "Manga109")


def _is_image(path: Path) -> bool:
    """A file whose suffix is one of :data:`IMAGE_SUFFIXES`."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if _is_image(p))
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


def make_sr_pair(name: str, hr: np.ndarray, scale: int) -> dict[str, str | Tensor]:
    """Build one synthetic sample from an HR image.

    Args:
        name: the sample's name.
        hr: ``[H, W, 3]`` HR image (``uint8``, or float in [0, 255]).
        scale: the integer SR factor.

    Returns:
        ``{"name", "lr": [3, H // scale, W // scale], "hr": [3, H', W']}`` float32 in
        [0, 255], where ``H' = H - H % scale`` (modcrop) and ``lr`` is
        :func:`~ignn_pyg.data.resize.bicubic_downsample` of it (uint8-rounded values).
    """
    hr_tensor = image_to_tensor(modcrop(hr, scale))[0]
    return {"name": name, "lr": bicubic_downsample(hr_tensor, scale), "hr": hr_tensor}


class PairedFolderDataset(Dataset):
    """HR images and their LR partners from two folders, matched by file stem.

    An LR file matches an HR file ``{stem}.*`` when its stem is ``{stem}`` or
    ``{stem}x{scale}`` (DIV2K and benchmark naming: ``0001.png`` <-> ``0001x2.png``).
    LR files without an HR partner are ignored.

    Args:
        hr_dir: folder of HR images.
        lr_dir: folder of LR images for ``scale``.
        scale: integer SR factor; each HR image, modcropped to a multiple of ``scale``,
            must be exactly ``scale`` times its LR image.

    Raises:
        ValueError: a folder is missing or holds no images, or HR images have no LR
            partner (at construction, naming each); HR and LR sizes disagree (when the
            item is read; :meth:`problems` checks every pair first).

    Items:
        ``{"name": stem, "lr": [3, h, w], "hr": [3, h * scale, w * scale]}``, float32 in [0, 255].
    """

    def __init__(self, hr_dir: str | Path, lr_dir: str | Path, scale: int) -> None:
        self.scale = _check_integer_scale(scale)
        self.hr_dir, self.lr_dir = Path(hr_dir), Path(lr_dir)
        hr_paths = _list_images(self.hr_dir)
        lr_by_stem = {p.stem: p for p in _list_images(self.lr_dir)}
        self.pairs: list[tuple[str, Path, Path]] = []
        alone = []
        for hr_path in hr_paths:
            stem = hr_path.stem
            lr_path = lr_by_stem.get(stem) or lr_by_stem.get(f"{stem}x{scale}")
            if lr_path is None:
                alone.append(hr_path.name)
            else:
                self.pairs.append((stem, hr_path, lr_path))
        if alone:
            raise ValueError(
                f"{len(alone)} HR image(s) of {self.hr_dir} have no LR partner STEM.* or STEMx{scale}.* in "
                f"{self.lr_dir}: {listed(alone, shown=5)}"
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def problems(self) -> list[str]:
        """What would stop reading the pairs, one line per pair, from the files' headers
        (no pixels decoded): an unreadable file, or an HR image that is not ``scale``
        times its LR partner after modcrop.  Empty when every pair is sound."""
        found = []
        for _, hr_path, lr_path in self.pairs:
            try:
                (hr_h, hr_w), (lr_h, lr_w) = image_size(hr_path), image_size(lr_path)
            except ValueError as err:
                found.append(str(err))
                continue
            if (hr_h // self.scale, hr_w // self.scale) != (lr_h, lr_w):
                found.append(
                    f"{hr_path.name} is {hr_h}x{hr_w} but its LR partner {lr_path.name} is {lr_h}x{lr_w} "
                    f"(x{self.scale} needs {hr_h // self.scale}x{hr_w // self.scale})"
                )
        return found

    @property
    def names(self) -> list[str]:
        """Each item's name, without reading an image."""
        return [name for name, _, _ in self.pairs]

    @property
    def files(self) -> list[Path]:
        """Each item's HR file."""
        return [hr_path for _, hr_path, _ in self.pairs]

    def __getitem__(self, index: int) -> dict[str, str | Tensor]:
        name, hr_path, lr_path = self.pairs[index]
        hr = modcrop(read_image(hr_path), self.scale)
        lr = read_image(lr_path)
        expected = (lr.shape[0] * self.scale, lr.shape[1] * self.scale)
        if hr.shape[:2] != expected:
            raise ValueError(
                f"size mismatch for scale {self.scale}: "
                f"HR {hr_path} is {hr.shape[0]}x{hr.shape[1]} "
                f"after modcrop, LR {lr_path} is {lr.shape[0]}x{lr.shape[1]} "
                f"(expected HR {expected[0]}x{expected[1]})"
            )
        return {"name": name, "lr": image_to_tensor(lr)[0], "hr": image_to_tensor(hr)[0]}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(hr_dir='{self.hr_dir}', lr_dir='{self.lr_dir}', "
            f"scale={self.scale}, size={len(self)})"
        )


class HRFolderDataset(Dataset):
    """HR images from one folder, with LR images made on the fly.

    The LR image is MATLAB's ``imresize(hr, 1/scale, 'bicubic')`` of the modcropped HR,
    computed on [0, 1], multiplied by 255 and rounded to uint8 values, i.e. the pixels a
    saved LR PNG would hold (see :func:`make_sr_pair`).

    Args:
        hr_dir: folder of HR images.
        scale: integer SR factor.

    Raises:
        ValueError: the folder is missing or holds no images.

    Items:
        ``{"name": stem, "lr": [3, h, w], "hr": [3, h * scale, w * scale]}``, float32 in [0, 255].
    """

    def __init__(self, hr_dir: str | Path, scale: int) -> None:
        self.scale = _check_integer_scale(scale)
        self.hr_dir = Path(hr_dir)
        self.hr_paths = _list_images(self.hr_dir)

    def __len__(self) -> int:
        return len(self.hr_paths)

    @property
    def names(self) -> list[str]:
        """Each item's name, without reading an image."""
        return [path.stem for path in self.hr_paths]

    @property
    def files(self) -> list[Path]:
        """Each item's HR file."""
        return list(self.hr_paths)

    def __getitem__(self, index: int) -> dict[str, str | Tensor]:
        hr_path = self.hr_paths[index]
        return make_sr_pair(hr_path.stem, read_image(hr_path), self.scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(hr_dir='{self.hr_dir}', scale={self.scale}, size={len(self)})"


def div2k_dataset(root: str | Path, split: str, scale: int) -> PairedFolderDataset:
    """DIV2K with MATLAB-bicubic LR images.

    Layout: ``root/DIV2K_{split}_HR/0001.png`` and
    ``root/DIV2K_{split}_LR_bicubic/X{scale}/0001x{scale}.png``.

    Args:
        root: the folder holding the DIV2K folders.
        split: ``"train"`` (images 0001-0800) or ``"valid"`` (0801-0900).
        scale: 2, 3 or 4 in the official release.
    """
    if split not in ("train", "valid"):
        raise ValueError(f"DIV2K split must be 'train' or 'valid', got {split!r}")
    root = Path(root)
    return PairedFolderDataset(root / f"DIV2K_{split}_HR", root / f"DIV2K_{split}_LR_bicubic" / f"X{scale}", scale)


def benchmark_dataset(root: str | Path, scale: int) -> PairedFolderDataset:
    """A benchmark set (Set5, Set14, B100, Urban100, Manga109) in the common layout
    ``root/HR/baby.png`` and ``root/LR_bicubic/X{scale}/babyx{scale}.png``.

    Args:
        root: the set's folder, e.g. ``benchmark/Set5``.
        scale: integer SR factor.
    """
    root = Path(root)
    return PairedFolderDataset(root / "HR", root / "LR_bicubic" / f"X{scale}", scale)


def find_benchmark_sets(root: str | Path) -> list[Path]:
    """The test sets under ``root``: each subfolder that holds ``HR/`` (with or without
    ``LR_bicubic/X{scale}/`` beside it), ``DIV2K_valid_HR/``, or image files itself.

    Ordered as the literature's tables, :data:`BENCHMARK_SETS` first (names compared
    without case), then the others by name.  Hidden folders are left out.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: ``root`` is not a folder, or holds no set.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"benchmark folder not found: {root}")
    if not root.is_dir():
        raise ValueError(f"the benchmark root must be a folder of sets, got the file {root}")
    sets = [
        folder
        for folder in sorted(root.iterdir())
        if folder.is_dir()
        and not folder.name.startswith(".")
        and (
            (folder / "HR").is_dir()
            or (folder / "DIV2K_valid_HR").is_dir()
            or any(_is_image(p) for p in folder.iterdir())
        )
    ]
    if not sets:
        raise ValueError(
            f"no sets in {root}: expected folders SET/HR/ (with or without SET/LR_bicubic/X{{scale}}/) "
            "or SET/ holding images"
        )
    classic = [name.lower() for name in BENCHMARK_SETS]

    def literature_order(folder: Path) -> tuple[int, str]:
        name = folder.name.lower()
        return (classic.index(name), "") if name in classic else (len(classic), folder.name)

    return sorted(sets, key=literature_order)
