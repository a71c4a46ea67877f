"""Training and validation data: a resumable, shardable stream of random crops.

The training data is one endless stream of samples ``i = 0, 1, 2, ...``.  Over ``N``
HR images, sample ``i`` belongs to epoch ``e = i // N`` and shows image
``perm(seed, e)[i mod N]``, a permutation that depends only on ``(seed, e)``; its crop
and augmentation are drawn from a generator seeded with ``(seed, i)``.  Iteration
``t`` with global batch ``B`` uses samples ``t B, ..., t B + B - 1``; on ``W`` ranks,
rank ``r`` takes the contiguous block ``t B + r B / W, ...`` of ``B / W`` of them.
So the data of every iteration is a pure function of ``(seed, t)``: a run resumes at
iteration ``t`` by starting the stream there, and ``W`` ranks together see exactly the
batches one process would.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from ignn_pyg.data import (
    HRFolderDataset,
    PairedFolderDataset,
    PhotoDataset,
    benchmark_dataset,
    bicubic_downsample,
    div2k_dataset,
    image_to_tensor,
    list_photos,
    load_training_photo,
    read_image,
)

from .augment import augment, augment_pair
from .config import DataConfig
from .planted_recurrence import PlantSchedule, plant_recurrence

__all__ = [
    "epoch_permutation",
    "TrainCropDataset",
    "StreamSampler",
    "seed_worker",
    "build_train_dataset",
    "build_val_samples",
]


def epoch_permutation(seed: int, epoch: int, num_images: int) -> np.ndarray:
    """The image order of ``epoch``: a permutation of ``range(num_images)`` that depends
    only on ``(seed, epoch)``.  Shape ``[num_images]``."""
    return np.random.default_rng([seed, epoch]).permutation(num_images)


class TrainCropDataset(Dataset):
    """Sample ``i`` of the training stream (see the module docstring): an augmented HR
    crop of image ``perm(seed, i // N)[i mod N]`` and its bicubic LR image, or with
    ``lr_images`` (paired data) the matching crop of the image's LR partner.

    Args:
        names: the images' names, ``N`` of them.
        images: per name, the image in memory (``[H, W, 3]`` uint8) or its file, read
            for every sample.
        seed: the run's seed.
        crop_size: HR crop side, a multiple of ``scale``.
        scale: SR factor.
        flips, rotations, channel_shuffle_prob: see :func:`~ignn_pyg.training.augment.augment`.
        plant_prob: probability that an augmented crop gets a planted cross-scale
            recurrence (:func:`~ignn_pyg.training.planted_recurrence.plant_recurrence`),
            drawn after the augmentation, so 0 leaves every sample as it was.
        plant_schedule: if given, the share changes over training: sample ``i`` is
            planted with probability ``plant_schedule.for_sample(i)`` (its ``share`` is
            then ``plant_prob``).  The uniform number it is compared with is drawn
            whenever the initial share is positive, so a crop planted at a lower share
            is planted at every higher one.
        lr_images: per name, the LR partner (in memory or its file), ``scale`` times
            smaller than the modcropped HR image; the crops come from both with
            :func:`~ignn_pyg.training.augment.augment_pair` (no planting then).

    Items (for any index ``i >= 0``):
        ``{"lr": [3, c / s, c / s], "hr": [3, c, c]}`` float32 in [0, 255], ``c = crop_size``;
        ``lr`` is :func:`~ignn_pyg.data.bicubic_downsample` of ``hr`` (uint8 values), or
        the LR partner's crop.
    """

    def __init__(
        self,
        names: list[str],
        images: list[np.ndarray | Path],
        seed: int,
        crop_size: int,
        scale: int,
        flips: bool = True,
        rotations: bool = True,
        channel_shuffle_prob: float = 0.8,
        plant_prob: float = 0.0,
        plant_schedule: PlantSchedule | None = None,
        lr_images: list[np.ndarray | Path] | None = None,
    ) -> None:
        if not names or len(names) != len(images):
            raise ValueError(f"need one image per name, got {len(names)} names and {len(images)} images")
        if lr_images is not None and (len(lr_images) != len(images) or plant_prob > 0):
            raise ValueError("paired data needs one LR image per HR image, and no planted recurrences")
        self.names, self.images, self.lr_images = names, images, lr_images
        self.seed, self.crop_size, self.scale = seed, crop_size, scale
        self.flips, self.rotations, self.channel_shuffle_prob = flips, rotations, channel_shuffle_prob
        self.plant_prob = plant_prob if plant_schedule is None else plant_schedule.share
        self.plant_schedule = plant_schedule
        for index, img in enumerate(images):
            if isinstance(img, np.ndarray):
                self._check_size(index, img)

    def _check_size(self, index: int, img: np.ndarray) -> None:
        if min(img.shape[:2]) < self.crop_size:
            raise ValueError(
                f"training image {self.names[index]!r} is {img.shape[0]}x{img.shape[1]}, "
                f"smaller than data.crop_size={self.crop_size}"
            )

    @staticmethod
    def _read(img: np.ndarray | Path) -> np.ndarray:
        return img if isinstance(img, np.ndarray) else read_image(img)

    def __len__(self) -> int:
        """One epoch; the stream itself is endless (any ``i >= 0`` is a valid index)."""
        return len(self.names)

    def image_index(self, i: int) -> int:
        """The image that stream sample ``i`` crops."""
        epoch, position = divmod(i, len(self.names))
        return int(epoch_permutation(self.seed, epoch, len(self.names))[position])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        index = self.image_index(i)
        img = self._read(self.images[index])
        self._check_size(index, img)
        rng = np.random.default_rng([self.seed, i])
        if self.lr_images is not None:
            lr = self._read(self.lr_images[index])
            hr_patch, lr_patch = augment_pair(
                img, lr, rng, self.crop_size, self.scale, self.flips, self.rotations, self.channel_shuffle_prob
            )
            return {"lr": image_to_tensor(lr_patch)[0], "hr": image_to_tensor(hr_patch)[0]}
        patch = augment(img, rng, self.crop_size, self.flips, self.rotations, self.channel_shuffle_prob)
        share = self.plant_prob if self.plant_schedule is None else self.plant_schedule.for_sample(i)
        if self.plant_prob > 0 and rng.random() < share:
            patch = plant_recurrence(patch, self.scale, rng)
        hr = image_to_tensor(patch)[0]
        return {"lr": bicubic_downsample(hr, self.scale), "hr": hr}

    def __repr__(self) -> str:
        in_memory = sum(isinstance(img, np.ndarray) for img in self.images)
        return (
            f"{type(self).__name__}(images={len(self.names)}{', paired' if self.lr_images else ''}, "
            f"in_memory={in_memory}, "
            f"crop_size={self.crop_size}, scale={self.scale}, seed={self.seed})"
        )


class StreamSampler(Sampler[int]):
    """This rank's stream indices for iterations ``start, ..., stop - 1`` (see the module
    docstring), ``batch_size // world_size`` per iteration; batch them with a
    ``DataLoader`` of that batch size.

    Raises:
        ValueError: ``batch_size`` is not a multiple of ``world_size``.
    """

    def __init__(self, batch_size: int, start: int, stop: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ValueError(
                f"data.batch_size={batch_size} must be a multiple of the number of processes ({world_size})"
            )
        self.batch_size, self.start, self.stop = batch_size, start, stop
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start) * self.local_batch

    def __iter__(self) -> Iterator[int]:
        for t in range(self.start, self.stop):
            first = t * self.batch_size + self.rank * self.local_batch
            yield from range(first, first + self.local_batch)


def seed_worker(worker_id: int) -> None:
    """``DataLoader`` ``worker_init_fn``: seed Python's and numpy's global generators from
    the per-worker torch seed (base seed + worker id), so no two workers share a stream.
    The training samples themselves use their own generators and do not depend on it.

    The worker also ignores SIGINT and SIGTERM: a Ctrl-C reaches the whole process group,
    and the main process, which stops the run with a checkpoint
    (:mod:`ignn_pyg.training.interrupt`), must still find its workers alive."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_train_dataset(data: DataConfig, seed: int, iterations: int | None = None) -> TrainCropDataset:
    """The training stream of ``data`` (photos are read, verified and reduced once and
    kept in memory; folders are listed now, read per sample unless ``data.cache``).
    ``iterations`` (``optim.iterations``) times a planted share that changes over
    training (``data.plant_decay`` other than ``constant``); it is required then.

    Raises:
        ValueError: a folder missing or without images, an image smaller than the crop, a
            planted share schedule without ``iterations``; with ``data.train_lr_dir``, HR
            images without an LR partner, or pairs unreadable or of sizes that do not fit
            the scale (every one named, from the headers, before any training).
        FileNotFoundError: a photo is not installed (the message says what to install).
    """
    images: list[np.ndarray | Path]
    lr_images: list[np.ndarray | Path] | None = None
    hr_root = Path(data.train_root) / "DIV2K_train_HR" if data.train == "div2k" else Path(data.train_root)
    if data.train == "photos":
        names = list_photos("train")
        images = [load_training_photo(name, data.long_side, data.photos_root) for name in names]
    elif data.train_lr_dir:
        pairs = PairedFolderDataset(hr_root, data.train_lr_dir, data.scale)
        problems = pairs.problems()
        if problems:
            raise ValueError(f"{len(problems)} of {len(pairs)} training pair(s) unusable: {'; '.join(problems)}")
        names, images = pairs.names, pairs.files
        lr_images = [lr for _, _, lr in pairs.pairs]
    else:
        folder = HRFolderDataset(hr_root, data.scale)
        names, images = folder.names, folder.files
    if data.cache and data.train != "photos":
        images = [read_image(p) for p in images]
        lr_images = None if lr_images is None else [read_image(p) for p in lr_images]
    schedule = None
    if data.plant_decay != "constant":
        if iterations is None:
            raise ValueError(f"data.plant_decay={data.plant_decay!r} needs the run's iterations")
        schedule = PlantSchedule(
            data.plant_recurrence, iterations, data.batch_size, data.plant_decay, data.plant_until, data.plant_final
        )
    return TrainCropDataset(
        names,
        images,
        seed,
        data.crop_size,
        data.scale,
        data.flips,
        data.rotations,
        data.channel_shuffle_prob,
        data.plant_recurrence,
        schedule,
        lr_images,
    )


def _centre_crop(sample: dict, max_side: int, scale: int) -> dict:
    """Crop ``lr`` and ``hr`` to their centre, at most ``max_side`` HR pixels a side."""
    lr, hr = sample["lr"], sample["hr"]
    side = max_side // scale
    h, w = lr.shape[-2:]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    lr = lr[:, top : top + side, left : left + side]
    hr = hr[:, scale * top : scale * (top + lr.shape[-2]), scale * left : scale * (left + lr.shape[-1])]
    return {**sample, "lr": lr.contiguous(), "hr": hr.contiguous()}


def build_val_samples(data: DataConfig) -> list[dict]:
    """The validation images: ``[{"name", "lr": [3, h, w], "hr": [3, s h, s w]}, ...]``,
    the first ``data.val_images`` (0: all) of the source, centre-cropped to
    ``data.val_max_side`` HR pixels (0: whole images).

    Raises:
        ValueError / FileNotFoundError: as the dataset constructors do.
    """
    root = data.val_root
    dataset: Dataset
    if data.val == "photos":
        dataset = PhotoDataset("eval", data.scale, data.photos_root)
    elif data.val == "folder":
        dataset = HRFolderDataset(root, data.scale)
    elif data.val == "div2k":
        dataset = div2k_dataset(root, "valid", data.scale)
    else:
        dataset = benchmark_dataset(root, data.scale)
    count = len(dataset) if data.val_images == 0 else min(data.val_images, len(dataset))
    samples = [dataset[k] for k in range(count)]
    if data.val_max_side:
        samples = [_centre_crop(s, data.val_max_side, data.scale) for s in samples]
    return samples
