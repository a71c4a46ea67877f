"""Real photographs installed by ordinary packages, for training and evaluation.

The table :data:`PHOTOS` is built from the project's ``shared/data/photos.tsv`` (rows whose
split is ``train`` or ``eval``; the excluded ones, such as the right view of a stereo
pair whose left view is an eval photo, are left out), plus a third split of the package's
own, ``held_out``.  It is embedded here so the package works without the project checkout.

* **eval** photos ship inside the Python packages ``scikit-image`` and ``scikit-learn``
  (``<site-packages>/...``): ``pip install scikit-image scikit-learn``.
* **train** photos are desktop wallpapers from Debian/Ubuntu packages
  (``apt-get install lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds``,
  or, without a system install, ``apt-get download`` them and ``dpkg-deb -x`` each into one
  folder, then pass that folder as ``system_root``), 2-6 k pixels wide and soft at full
  size; :func:`load_training_photo` reduces them by an integer factor to a long side of
  about 1280 px.
* **held_out** photos are in neither split of ``photos.tsv``: real photographs that
  ``scikit-image`` and ``matplotlib`` also ship (a portrait, coins, the moon, three surface
  textures, a telescope and a microscope image).  Nothing is trained, tuned or selected on
  them; they answer whether what a model learned from the graph carries over to photos
  that shaped none of its choices (the graph study's held-out reliance, ``docs/study.md``).

Every file is checked against its SHA-256 before use, so results are reproducible.
"""

from __future__ import annotations

import hashlib
import math
import site
import sysconfig
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from .datasets import make_sr_pair
from .image_io import image_to_tensor, read_image, tensor_to_image
from .resize import _check_integer_scale, bicubic_downsample, modcrop

__all__ = [
    "Photo",
    "PHOTOS",
    "PhotoNotInstalledError",
    "PhotoChecksumError",
    "list_photos",
    "photo_path",
    "load_photo",
    "downscale_photo",
    "load_training_photo",
    "PhotoDataset",
]

SITE_PACKAGES = "<site-packages>"
SPLITS = ("train", "eval", "held_out")


class Photo(NamedTuple):
    """One row of the photo table.

    ``path`` is absolute, or starts with ``<site-packages>`` for files installed by a
    Python package; ``package`` is the pip package (eval, held_out) or Debian package (train)
    that installs it.  The photo's name is its file stem.
    """

    split: str
    package: str
    width: int
    height: int
    licence: str
    path: str
    sha256: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).stem


PHOTOS: tuple[Photo, ...] = (
    Photo(
        "eval",
        "scikit-image",
        512,
        512,
        "PD (NASA)",
        "<site-packages>/skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    Photo(
        "eval",
        "scikit-image",
        451,
        300,
        "CC0",
        "<site-packages>/skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    Photo(
        "eval",
        "scikit-image",
        600,
        400,
        "CC0",
        "<site-packages>/skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
    Photo(
        "eval",
        "scikit-image",
        741,
        500,
        "Middlebury 2014",
        "<site-packages>/skimage/data/motorcycle_left.png",
        "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    ),
    Photo(
        "eval",
        "scikit-image",
        640,
        427,
        "PD (SpaceX)",
        "<site-packages>/skimage/data/rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    ),
    Photo(
        "eval",
        "scikit-image",
        512,
        512,
        "CC0",
        "<site-packages>/skimage/data/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    ),
    Photo(
        "eval",
        "scikit-learn",
        640,
        427,
        "CC-BY-2.0",
        "<site-packages>/sklearn/datasets/images/china.jpg",
        "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
    ),
    Photo(
        "eval",
        "scikit-learn",
        640,
        427,
        "CC-BY-2.0",
        "<site-packages>/sklearn/datasets/images/flower.jpg",
        "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        4352,
        2448,
        "CC-BY-SA-4.0",
        "/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg",
        "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        4224,
        3168,
        "CC-BY-SA-4.0",
        "/usr/share/backgrounds/Dragonfly_by_Bolly.jpg",
        "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        2572,
        1740,
        "CC-BY-4.0",
        "/usr/share/backgrounds/Picture_0B_by_freespace.jpg",
        "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        1365,
        1074,
        "CC-BY-4.0",
        "/usr/share/backgrounds/Picture_1A_by_freespace.jpg",
        "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        2560,
        3837,
        "CC-BY-4.0",
        "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
        "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        3088,
        2056,
        "CC-BY-4.0",
        "/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
        "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        2880,
        2160,
        "CC-BY-SA-4.0",
        "/usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg",
        "15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        2880,
        2160,
        "CC-BY-SA-4.0",
        "/usr/share/backgrounds/free_by_Peter_Nerlich.jpg",
        "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        2056,
        3088,
        "CC-BY-4.0",
        "/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg",
        "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        2880,
        2160,
        "CC-BY-SA-4.0",
        "/usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg",
        "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        3088,
        2056,
        "CC-BY-4.0",
        "/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg",
        "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        3264,
        2448,
        "CC-BY-4.0",
        "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        5312,
        2988,
        "CC0-1.0",
        "/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
        "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-16.04",
        4272,
        2848,
        "CC-BY-4.0",
        "/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
        "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18",
    ),
    Photo(
        "train",
        "lomiri-wallpapers-20.04",
        6028,
        3391,
        "CC-BY-SA-3.0",
        "/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
        "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        2560,
        1600,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/Aqua.jpg",
        "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        1920,
        1200,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/Blinds.jpg",
        "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        1680,
        1050,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/Dune.jpg",
        "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        1600,
        1203,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/FreshFlower.jpg",
        "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        2560,
        1600,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/Garden.jpg",
        "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        1280,
        1024,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
        "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        2560,
        1600,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/LadyBird.jpg",
        "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        1920,
        1200,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/RainDrops.jpg",
        "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        1920,
        1280,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/Storm.jpg",
        "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        2560,
        1600,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/TwoWings.jpg",
        "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        2560,
        1920,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/Wood.jpg",
        "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07",
    ),
    Photo(
        "train",
        "mate-backgrounds",
        2560,
        1600,
        "GPL-2+",
        "/usr/share/backgrounds/mate/nature/YellowFlower.jpg",
        "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306",
    ),
    Photo(
        "held_out",
        "matplotlib",
        512,
        600,
        "PD (US Navy)",
        "<site-packages>/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
    ),
    Photo(
        "held_out",
        "scikit-image",
        384,
        303,
        "PD (Brooklyn Museum)",
        "<site-packages>/skimage/data/coins.png",
        "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba",
    ),
    Photo(
        "held_out",
        "scikit-image",
        512,
        512,
        "unstated (scikit-image sample)",
        "<site-packages>/skimage/data/moon.png",
        "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577",
    ),
    Photo(
        "held_out",
        "scikit-image",
        512,
        512,
        "CC0",
        "<site-packages>/skimage/data/brick.png",
        "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    ),
    Photo(
        "held_out",
        "scikit-image",
        512,
        512,
        "CC0",
        "<site-packages>/skimage/data/grass.png",
        "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    ),
    Photo(
        "held_out",
        "scikit-image",
        512,
        512,
        "CC0",
        "<site-packages>/skimage/data/gravel.png",
        "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
    ),
    Photo(
        "held_out",
        "scikit-image",
        1000,
        872,
        "PD (NASA)",
        "<site-packages>/skimage/data/hubble_deep_field.jpg",
        "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    ),
    Photo(
        "held_out",
        "scikit-image",
        512,
        512,
        "no known restrictions (CMMI)",
        "<site-packages>/skimage/data/ihc.png",
        "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
    ),
)


class PhotoNotInstalledError(FileNotFoundError):
    """A photo's file is absent: the package that installs it is missing."""


class PhotoChecksumError(ValueError):
    """A photo's file exists but its SHA-256 differs from the table's."""


def _photo(name: str) -> Photo:
    for photo in PHOTOS:
        if photo.name == name:
            return photo
    raise ValueError(f"unknown photo {name!r}; see list_photos(split) for split in {SPLITS}")


def _site_packages_dirs() -> list[Path]:
    """The running interpreter's site-packages folders, most specific first, without repeats."""
    paths = sysconfig.get_paths()
    candidates = [
        paths["purelib"],
        paths["platlib"],
        *site.getsitepackages(),
        site.getusersitepackages(),
    ]
    return [Path(p) for p in dict.fromkeys(candidates)]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_photos(split: str) -> list[str]:
    """The names of the photos in ``split`` (``"train"``, ``"eval"`` or ``"held_out"``), in table order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [photo.name for photo in PHOTOS if photo.split == split]


def photo_path(name: str, system_root: str | Path = "/") -> Path:
    """The verified location of photo ``name``.

    ``<site-packages>`` is looked up in the running interpreter's site-packages folders
    (``sysconfig`` and ``site``); absolute paths (Debian packages) below ``system_root``.

    Args:
        name: a name from :func:`list_photos`.
        system_root: where the Debian packages are installed (``/``) or extracted
            (``dpkg-deb -x package.deb system_root``).

    Raises:
        ValueError: ``name`` is not in :data:`PHOTOS`.
        PhotoNotInstalledError: the file is absent; the message says what to install
            (``pip install ...`` for eval and held-out photos, ``apt-get install ...`` or
            ``apt-get download ... && dpkg-deb -x ...`` for train ones).
        PhotoChecksumError: the file's SHA-256 differs from the table's.
    """
    photo = _photo(name)
    if photo.path.startswith(SITE_PACKAGES + "/"):
        relative = photo.path[len(SITE_PACKAGES) + 1 :]
        searched = [folder / relative for folder in _site_packages_dirs()]
        install = f"pip install {photo.package}"
    else:
        searched = [Path(system_root) / photo.path.lstrip("/")]
        if Path(system_root) == Path("/"):
            install = f"apt-get install {photo.package}"
        else:
            install = f"apt-get download {photo.package} && dpkg-deb -x {photo.package}_*.deb {system_root}"
    path = next((p for p in searched if p.is_file()), None)
    if path is None:
        raise PhotoNotInstalledError(
            f"photo {name!r} ({photo.split}) is not installed: looked for "
            f"{', '.join(map(str, searched))}; it ships with {photo.package!r}, run `{install}`"
        )
    actual = file_sha256(path)
    if actual != photo.sha256:
        raise PhotoChecksumError(
            f"photo {name!r} at {path} has SHA-256 {actual}, expected {photo.sha256}: "
            f"this version of {photo.package!r} ships a different file"
        )
    return path


def downscale_photo(img: np.ndarray, factor: int) -> np.ndarray:
    """Reduce a photo by an integer factor, with the same MATLAB bicubic as the SR data.

    The image is first modcropped to a multiple of ``factor`` (at most ``factor - 1``
    pixels lost per side), then reduced with
    :func:`~ignn_pyg.data.resize.bicubic_downsample` (antialiased MATLAB bicubic, rounded
    and clipped to uint8 values).

    Args:
        img: ``[H, W, 3]`` ``uint8``.
        factor: a positive integer (1 returns the image unchanged).

    Returns:
        ``[H // factor, W // factor, 3]`` ``uint8``.
    """
    _check_integer_scale(factor)
    if factor == 1:
        return img
    hr = image_to_tensor(modcrop(img, factor))
    return tensor_to_image(bicubic_downsample(hr, factor))


def load_photo(name: str, max_side: int | None = None, system_root: str | Path = "/") -> np.ndarray:
    """Read photo ``name`` (verified by :func:`photo_path`) as RGB.

    Args:
        name: a name from :func:`list_photos`.
        max_side: when given and the long side exceeds it, reduce the photo by the
            smallest integer factor ``k = ceil(long_side / max_side)`` that brings the long
            side within ``max_side`` (see :func:`downscale_photo`).
        system_root: see :func:`photo_path`.

    Returns:
        ``[H, W, 3]`` ``uint8`` (grayscale photos such as ``camera`` get 3 equal channels).
    """
    img = read_image(photo_path(name, system_root))
    if max_side is None:
        return img
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise ValueError(f"max_side must be a positive integer or None, got {max_side!r}")
    return downscale_photo(img, math.ceil(max(img.shape[:2]) / max_side))


def load_training_photo(name: str, long_side: int = 1280, system_root: str | Path = "/") -> np.ndarray:
    """Read photo ``name`` reduced by the integer factor that brings its long side
    closest to ``long_side``: ``k = max(1, round(L / long_side))``.

    Full-size wallpapers are soft (upscaled or heavily compressed); reducing them gives
    sharp HR images like DIV2K's at a fraction of the cost.  For example a 4352 px wide
    photo is reduced by 3 to 1450 px, a 1365 px one is kept.  ``system_root``: see
    :func:`photo_path`.

    Returns:
        ``[H, W, 3]`` ``uint8``.
    """
    if isinstance(long_side, bool) or not isinstance(long_side, int) or long_side < 1:
        raise ValueError(f"long_side must be a positive integer, got {long_side!r}")
    img = load_photo(name, system_root=system_root)
    factor = max(1, math.floor(max(img.shape[:2]) / long_side + 0.5))
    return downscale_photo(img, factor)


class PhotoDataset(Dataset):
    """The photos of one split as SR samples with bicubic LR images made on the fly.

    Eval and held-out photos are used at full size, train photos after :func:`load_training_photo`;
    the LR image is made as in :class:`~ignn_pyg.data.datasets.HRFolderDataset`.
    Files are verified when the dataset is built, so a missing package fails early.

    Args:
        split: one of :data:`SPLITS` (``"train"``, ``"eval"``, ``"held_out"``).
        scale: integer SR factor.
        system_root: see :func:`photo_path`.

    Items:
        ``{"name": str, "lr": [3, h, w], "hr": [3, h * scale, w * scale]}``, float32 in [0, 255].
    """

    def __init__(self, split: str, scale: int, system_root: str | Path = "/") -> None:
        self.split = split
        self.scale = _check_integer_scale(scale)
        self.system_root = Path(system_root)
        self.names = list_photos(split)
        for name in self.names:
            photo_path(name, self.system_root)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, str | Tensor]:
        name = self.names[index]
        if self.split == "train":
            hr = load_training_photo(name, system_root=self.system_root)
        else:
            hr = load_photo(name)
        return make_sr_pair(name, hr, self.scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, scale={self.scale}, size={len(self)})"
