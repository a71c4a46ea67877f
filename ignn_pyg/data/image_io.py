"""Reading and writing RGB images, and converting them to and from tensors.

Conventions used throughout ``ignn_pyg``:

* a numpy image is ``[H, W, 3]``, ``uint8`` (or ``float32`` in [0, 255] for 16-bit and
  float files);
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
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from .atomic_files import atomic_output

__all__ = [
    "read_image",
    "read_image_and_alpha",
    "image_size",
    "write_image",
    "ALPHA_SUFFIXES",
    "image_to_tensor",
    "tensor_to_image",
    "channels_to_uint8",
    "quantize",
]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, Tensor)
#: file suffixes whose formats hold an alpha channel (as imageio writes them)
ALPHA_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".webp"})

#: Pillow modes of 16-bit grey; ``I`` (32-bit integer) is how Pillow opens 16-bit PGM
_SIXTEEN_BIT_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
#: Pillow modes whose pixels keep more than 8 bits (``F``: 32-bit float grey)
_WIDE_MODES = _SIXTEEN_BIT_GREY_MODES | {"F"}
#: 8-bit grey Pillow modes (``1`` converts to 0/255, ``La`` is premultiplied LA)
_GREY_MODES = frozenset({"1", "L", "LA", "La"})
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_TIFF_BITS_PER_SAMPLE = 258  # the TIFF tag
_HEADER_BYTES = 26  # a PNG's signature and IHDR up to its bit depth
#: values (3 x rows x width) :func:`tensor_to_image` rounds at a time: 4 MB in float64
_CONVERSION_BLOCK_VALUES = 1 << 19


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
    """Read an image file as RGB plus its alpha channel, if the file has one.

    Pillow decodes the file (the first frame of an animation) and converts its colours:

    * 8-bit modes come back as ``uint8`` through Pillow's own conversion (``convert``):
      CMYK, YCbCr, LAB, HSV and palettes to RGB; grey (``L``, ``LA``, and ``1`` as
      0/255) to 3 identical channels;
    * 16-bit grey (``I;16``; also ``I``, Pillow's 32-bit integer mode, which it uses for
      16-bit PGM, when it holds 0..65535) comes back as ``float32``
      ``value / 65535 * 255``; 32-bit float grey (``F``) in [0, 255] as it is;
    * 16-bit colour PNGs are refused, since Pillow cuts them to 8 bits; 16-bit TIFFs that
      Pillow cuts or cannot open (colour, grey with alpha) are read exactly with
      ``tifffile``.

    Alpha comes back only when the file has transparency (Pillow's
    ``has_transparency_data``): an alpha band (RGBA, LA, ...), a transparent palette entry
    or colour key (alpha 0 where the pixel has it, 255 elsewhere).  CMYK's K is a colour.

    Args:
        path: the image file (any format Pillow reads: PNG, JPEG, GIF, BMP, TIFF, WebP, ...).

    Returns:
        ``(rgb [H, W, 3], alpha [H, W] or None)``, both ``uint8`` or both ``float32``.

    Raises:
        ValueError: in one line naming the file, when it is missing, empty, truncated, not
            an image, larger than Pillow's decompression-bomb limit, or holds pixels it
            cannot read exactly.
    """
    path = Path(path)
    image, header = _open_header(path)
    if image is None:
        return _read_tiff_samples(path)
    with image:
        if _bits_per_sample(image, header) > 8 and image.mode not in _WIDE_MODES:
            # Pillow would decode these samples to 8 bits by keeping the high byte, which is
            # not value / 65535 * 255; read them another way or refuse.
            if image.format == "TIFF":
                return _read_tiff_samples(path)
            raise ValueError(
                f"cannot read 16-bit {image.mode} {image.format} {path} exactly (Pillow truncates it to 8 bits); "
                "convert it to 16-bit TIFF or 8-bit PNG"
            )
        try:
            image.load()
        except Exception as exc:  # truncated or corrupt pixel data
            raise _unreadable(path, exc) from exc
        return _pillow_rgb_and_alpha(image, path)


def _pillow_rgb_and_alpha(image: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb [H, W, 3], alpha [H, W] or None)`` from a loaded Pillow image of any mode, as
    :func:`read_image_and_alpha` describes."""
    transparent = image.has_transparency_data
    if image.mode in _SIXTEEN_BIT_GREY_MODES:
        values = np.asarray(image)
        if image.mode == "I" and (values.min() < 0 or values.max() > 65535):  # 32-bit integers
            raise ValueError(
                f"cannot read {path}: its I pixels span [{values.min()}, {values.max()}]; "
                "expected 16-bit values in [0, 65535]"
            )
        alpha = np.where(values == image.info["transparency"], 0, 255).astype(np.float32) if transparent else None
        return _as_rgb(_sixteen_bit_to_8bit_range(values)[:, :, None]), alpha
    if image.mode == "F":
        values = np.asarray(image)
        if not np.all((values >= 0) & (values <= 255)):  # NaN fails too
            raise ValueError(
                f"cannot read {path}: its float pixels span [{values.min()}, {values.max()}]; "
                "expected values in [0, 255]"
            )
        return _as_rgb(values[:, :, None]), None
    if image.mode in _GREY_MODES:
        target = "LA" if transparent else "L"
    else:
        target = "RGBA" if transparent else "RGB"
    try:
        pixels = np.array(image if image.mode == target else image.convert(target))
    except ValueError as exc:  # a mode Pillow has no conversion for
        raise ValueError(f"cannot read {path}: Pillow cannot convert its mode {image.mode} to {target}") from exc
    pixels = pixels.reshape(*pixels.shape[:2], -1)  # L: [H, W] -> [H, W, 1]
    if transparent:
        return _as_rgb(pixels[:, :, :-1]), np.ascontiguousarray(pixels[:, :, -1])
    return _as_rgb(pixels), None


def _read_tiff_samples(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb [H, W, 3], alpha [H, W] or None)`` ``float32`` from a 16-bit TIFF read with
    ``tifffile``: RGB or grey samples, with at most one unassociated alpha sample."""
    try:
        import tifffile
    except ImportError as exc:
        raise ValueError(
            f"cannot read {path} exactly: its samples have more than 8 bits, which needs tifffile "
            "(pip install tifffile)"
        ) from exc
    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            samples = page.asarray()
            axes, photometric, extra = page.axes, page.photometric, tuple(page.extrasamples)
    except Exception as exc:  # tifffile raises several types for corrupt files
        raise _unreadable(path, exc) from exc
    samples = np.moveaxis(samples, axes.index("S"), -1) if "S" in axes else samples[..., None]
    colour_samples = {tifffile.PHOTOMETRIC.MINISBLACK: 1, tifffile.PHOTOMETRIC.RGB: 3}.get(photometric)
    if (
        samples.dtype != np.uint16
        or colour_samples is None
        or samples.ndim != 3
        or extra not in ((), (tifffile.EXTRASAMPLE.UNASSALPHA,))
    ):
        raise ValueError(
            f"cannot read TIFF {path}: {samples.dtype} samples, photometric {photometric.name}, "
            f"extra samples {extra}; expected 16-bit RGB or grey, with at most one unassociated alpha"
        )
    values = _sixteen_bit_to_8bit_range(samples)
    alpha = np.ascontiguousarray(values[:, :, -1]) if extra else None
    return _as_rgb(values[:, :, :colour_samples]), alpha


def _sixteen_bit_to_8bit_range(values: np.ndarray) -> np.ndarray:
    """16-bit samples (any integer dtype holding 0..65535) -> ``float32`` ``value / 65535 * 255``."""
    return (values.astype(np.float64) / 65535.0 * 255.0).astype(np.float32)


def _as_rgb(colour: np.ndarray) -> np.ndarray:
    """``[H, W, 1]`` grey (repeated) or ``[H, W, 3]`` colour -> contiguous ``[H, W, 3]``."""
    return np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else np.ascontiguousarray(colour)


def _bits_per_sample(image: Image.Image, header: bytes) -> int:
    """The bits per sample a PNG's or TIFF's header states (its widest sample); 8 otherwise."""
    if image.format == "PNG":
        return header[24]  # IHDR's bit depth
    if image.format == "TIFF":
        return max(image.tag_v2.get(_TIFF_BITS_PER_SAMPLE, (8,)))
    return 8


def _unreadable(path: Path, exc: Exception) -> ValueError:
    """One line naming ``path`` for a decoder's exception (whose message may span lines)."""
    if isinstance(exc, UnidentifiedImageError):
        return ValueError(f"cannot read image {path}: not an image file Pillow can decode")
    lines = str(exc).strip().splitlines()
    return ValueError(f"cannot read image {path}: {type(exc).__name__}: {lines[0] if lines else 'no message'}")


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of an image file from its header, without decoding its pixels:
    the check a command makes on every input before any work.  A file that passes can
    still fail to decode (pixels cut short): :func:`read_image_and_alpha` says so then.

    Raises:
        ValueError: in one line naming the file, as :func:`read_image_and_alpha` does for
            a file that is missing, a folder, empty, not an image, or too large.
    """
    path = Path(path)
    image, _ = _open_header(path)
    if image is None:  # a TIFF only tifffile opens: decoded to learn its size
        return _read_tiff_samples(path)[0].shape[:2]
    with image:
        return image.height, image.width


def _open_header(path: Path) -> tuple[Image.Image | None, bytes]:
    """``path`` opened by Pillow, which reads the header only, and the file's first bytes;
    ``None`` for a TIFF that Pillow does not open (16-bit grey with alpha), for tifffile.

    Raises:
        ValueError: in one line naming the file: missing, a folder, empty, not an image
            Pillow opens, or over its decompression-bomb limit.
    """
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read image {path}: the file is empty")
    with open(path, "rb") as file:
        header = file.read(_HEADER_BYTES)
    try:
        return Image.open(path), header
    except UnidentifiedImageError as exc:
        if header.startswith(_TIFF_SIGNATURES):
            return None, header
        raise _unreadable(path, exc) from exc
    except Exception as exc:  # Pillow raises many types for corrupt files, and for bombs
        raise _unreadable(path, exc) from exc


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
    """``[1, 3, H, W]`` or ``[3, H, W]`` float in [0, 255] (any float dtype, layout or
    device) -> ``[H, W, 3]`` ``uint8`` on the CPU.

    Values are rounded with :func:`quantize`, ``floor(clip(x, 0, 255) + 0.5)``, in float64,
    where ``x + 0.5`` is exact for float32 and bfloat16 ``x`` (in float32, values just below
    a half would round up).  Blocks of rows of about :data:`_CONVERSION_BLOCK_VALUES` values
    are brought to the CPU, rounded one at a time with numpy and copied into the output, so
    the memory the conversion needs beyond its 8-bit output is three float64 blocks (12 MB;
    quantize's argument and two temporaries) rather than three float64 copies of the whole
    image (24 bytes a value, against the output's 1).  numpy, not torch, rounds the blocks:
    its single-threaded loops do not wait on idle threads at every block, which made
    torch's many small parallel operations several times slower on a busy machine.
    """
    if not isinstance(img, Tensor):
        raise TypeError(f"img must be a torch.Tensor, got {type(img).__name__}")
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"img must be [1, 3, H, W] or [3, H, W], got shape {tuple(img.shape)}")
    return channels_to_uint8(img)


def channels_to_uint8(img: Tensor) -> np.ndarray:
    """``[C, H, W]`` float in [0, 255] (any float dtype, layout or device) -> ``[H, W, C]``
    ``uint8`` on the CPU, rounded with :func:`quantize` by blocks of rows as
    :func:`tensor_to_image` describes (which is this for ``C = 3``; an alpha channel is
    ``C = 1``)."""
    if img.dim() != 3:
        raise ValueError(f"img must be [C, H, W], got shape {tuple(img.shape)}")
    img = img.detach()
    channels, height, width = img.shape
    pixels = np.empty((height, width, channels), dtype=np.uint8)
    rows_per_block = max(1, _CONVERSION_BLOCK_VALUES // max(1, channels * width))
    for top in range(0, height, rows_per_block):
        block = img[:, top : top + rows_per_block].cpu()
        if block.dtype not in (torch.float32, torch.float64):  # bfloat16, float16: numpy has no such type
            block = block.to(torch.float64)
        # whole numbers in [0, 255] after quantize: the cast to uint8 on assignment is exact
        pixels[top : top + rows_per_block] = quantize(block.numpy().astype(np.float64)).transpose(1, 2, 0)
    return pixels
