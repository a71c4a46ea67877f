"""Reading and writing RGB images, and converting them to and from tensors.

Conventions used throughout ``ignn_pyg``:

* a numpy image is ``[H, W, 3]``, ``uint8`` (or ``float32`` in [0, 255] for 16-bit files);
* a tensor image is ``[1, 3, H, W]`` (or ``[3, H, W]``) ``float32`` in [0, 255] — the
  range the SR benchmarks report PSNR in;
* going back to 8 bits always goes through :func:`quantize`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TypeVar

import imageio.v3 as iio
import numpy as np
import torch
from torch import Tensor

from .atomic_files import atomic_output

__all__ = ["read_image", "read_image_and_alpha", "write_image", "ALPHA_SUFFIXES", "image_to_tensor",
           "tensor_to_image", "quantize"]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, Tensor)
#: file suffixes whose formats hold an alpha channel (as imageio writes them)
ALPHA_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".webp"})


def quantize(img: ArrayOrTensor) -> ArrayOrTensor:
    """Round to the values an 8-bit image file would hold: ``floor(clip(x, 0, 255) + 0.5)``.

    Halves round up, as MATLAB's ``uint8()`` does (numpy's ``round`` would round them to
    even).  The result keeps the input's type, shape, dtype and device.

    Args:
        img: a float numpy array or tensor of any shape, nominally in [0, 255].
    """
    if isinstance(img, Tensor):
        return torch.floor(img.clamp(0.0, 255.0) + 0.5)
    if isinstance(img, np.ndarray):
        return np.floor(np.clip(img, 0.0, 255.0) + 0.5)
    raise TypeError(f"img must be a numpy array or torch.Tensor, got {type(img).__name__}")


def read_image_and_alpha(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image file as RGB plus its alpha channel, if it has one.

    * grayscale becomes 3 identical channels;
    * 8-bit files come back as ``uint8``; 16-bit files as ``float32`` scaled to
      [0, 255] by ``value / 65535 * 255``.  16-bit colour PNGs are refused, since Pillow
      (imageio's PNG reader) cuts them to 8 bits; 16-bit grayscale PNGs and 16-bit TIFFs
      (with ``tifffile`` installed) are read exactly.

    Args:
        path: the image file (any format imageio reads: PNG, JPEG, BMP, TIFF, ...).

    Returns:
        ``(rgb [H, W, 3], alpha [H, W] or None)``, both ``uint8`` or both ``float32``.

    Raises:
        ValueError: in one line naming the file, when it is missing, empty, unreadable,
            not an image, or has an unsupported layout or dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read image {path}: the file is empty")
    try:
        with warnings.catch_warnings():
            # imageio probes every plugin on unknown files, some of them deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            img = iio.imread(path, index=0)
    except Exception as exc:  # imageio raises many types for corrupt or unknown files
        # imageio's first line names the problem; the rest lists plugins to pip install
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read image {path}: not an image file imageio can decode ({reason})") from exc
    if img.dtype == np.uint8 and _png_bit_depth(path) == 16:
        # Pillow decodes 16-bit colour PNGs to 8 bits by keeping the high byte, which
        # is not value / 65535 * 255; refuse rather than return slightly wrong pixels.
        raise ValueError(
            f"cannot read 16-bit colour PNG {path} exactly (Pillow truncates it to 8 bits); "
            "convert it to 16-bit TIFF or 8-bit PNG"
        )

    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {img.shape} in {path}; expected H x W (x C)")
    img = _to_8bit_range(img, path)
    alpha = img[:, :, -1] if img.shape[2] in (2, 4) else None
    rgb = img[:, :, :3] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(rgb), None if alpha is None else np.ascontiguousarray(alpha)


def _to_8bit_range(img: np.ndarray, path: Path) -> np.ndarray:
    """``uint8`` as it is, ``uint16`` as ``float32`` ``value / 65535 * 255``, 1-bit as 0/255."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img.astype(np.float64) / 65535.0 * 255.0).astype(np.float32)
    if img.dtype == np.bool_:  # 1-bit images
        return img.astype(np.uint8) * 255
    raise ValueError(f"unsupported pixel type {img.dtype} in {path}; expected 8 or 16 bit")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB, :func:`read_image_and_alpha` without the alpha channel
    (dropped with a warning when the file has one).

    Returns:
        ``[H, W, 3]`` ``uint8`` or ``float32``.
    """
    rgb, alpha = read_image_and_alpha(path)
    if alpha is not None:
        warnings.warn(f"dropping the alpha channel of {path}", stacklevel=2)
    return rgb


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth in a PNG's header, or ``None`` for other files."""
    with open(path, "rb") as file:
        header = file.read(26)
    if len(header) < 26 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return header[24]


def write_image(path: str | Path, img: np.ndarray) -> None:
    """Write an 8-bit image; the format follows the suffix (use ``.png`` for lossless).

    The file appears whole or not at all (:func:`~ignn_pyg.data.atomic_files.atomic_output`:
    a temporary file beside it, then a rename).  Parent folders are created.
    Float images must be converted first (see
    :func:`tensor_to_image`), so rounding is never implicit.

    Args:
        path: the output file.
        img: ``[H, W, 3]``, ``[H, W, 4]`` (RGBA, for a format with alpha:
            :data:`ALPHA_SUFFIXES`) or ``[H, W]`` ``uint8``.
    """
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        kind = img.dtype if isinstance(img, np.ndarray) else type(img).__name__
        raise TypeError(f"img must be a uint8 numpy array, got {kind}; use tensor_to_image")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"img must be [H, W, 3], [H, W, 4] or [H, W], got shape {img.shape}")
    with atomic_output(path) as partial:
        iio.imwrite(partial, img)


def image_to_tensor(img: np.ndarray) -> Tensor:
    """``[H, W, 3]`` ``uint8`` (or float in [0, 255]) -> ``[1, 3, H, W]`` float32 in [0, 255]."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"img must be a numpy array, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"img must be [H, W, 3], got shape {img.shape}")
    return torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(img: Tensor) -> np.ndarray:
    """``[1, 3, H, W]`` or ``[3, H, W]`` float in [0, 255] -> ``[H, W, 3]`` ``uint8``.

    Values are rounded with :func:`quantize` (clip to [0, 255], halves up).
    """
    if not isinstance(img, Tensor):
        raise TypeError(f"img must be a torch.Tensor, got {type(img).__name__}")
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"img must be [1, 3, H, W] or [3, H, W], got shape {tuple(img.shape)}")
    pixels = quantize(img.detach().to("cpu", torch.float64))
    return pixels.permute(1, 2, 0).numpy().astype(np.uint8)
