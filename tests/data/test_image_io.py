"""Image reading/writing and the numpy <-> tensor conversions."""

from __future__ import annotations

import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from ignn_pyg.data.image_io import (
    image_to_tensor,
    quantize,
    read_image,
    tensor_to_image,
    write_image,
)


def _write_png16(path, img: np.ndarray) -> None:
    """Encode a 16-bit PNG by hand (PNG spec: IHDR, one zlib IDAT, filter 0 rows, IEND);
    Pillow cannot write 16-bit colour."""
    height, width, channels = img.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + img[y].astype(">u2").tobytes() for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)


def test_png_round_trip_is_exact(tmp_path, rgb):
    path = tmp_path / "sub" / "img.png"
    write_image(path, rgb)
    back = read_image(path)
    assert back.dtype == np.uint8 and back.shape == (7, 9, 3)
    np.testing.assert_array_equal(back, rgb)


def test_grayscale_becomes_three_channels(tmp_path, rgb):
    path = tmp_path / "gray.png"
    iio.imwrite(path, rgb[:, :, 0])
    back = read_image(path)
    assert back.shape == (7, 9, 3)
    for channel in range(3):
        np.testing.assert_array_equal(back[:, :, channel], rgb[:, :, 0])


def test_alpha_is_dropped_with_a_warning(tmp_path, rgb):
    path = tmp_path / "rgba.png"
    alpha = np.full((7, 9, 1), 128, dtype=np.uint8)
    iio.imwrite(path, np.concatenate([rgb, alpha], axis=2))
    with pytest.warns(UserWarning, match="alpha"):
        back = read_image(path)
    np.testing.assert_array_equal(back, rgb)


def test_16_bit_grayscale_png_is_scaled_to_0_255(tmp_path):
    values = np.array([[0, 1, 257], [30000, 65534, 65535]], dtype=np.uint16)
    path = tmp_path / "gray16.png"
    _write_png16(path, values[:, :, None])
    back = read_image(path)
    assert back.dtype == np.float32 and back.shape == (2, 3, 3)
    expected = values.astype(np.float64) * 255 / 65535  # 257 -> 1, 30000 -> 116.73..., 65535 -> 255
    np.testing.assert_allclose(back[:, :, 1], expected, rtol=1e-6)
    assert back[0, 2, 0] == pytest.approx(1.0) and back[1, 2, 2] == pytest.approx(255.0)


def test_16_bit_colour_png_is_refused_not_truncated(tmp_path):
    path = tmp_path / "rgb16.png"
    _write_png16(path, np.full((2, 2, 3), 30000, dtype=np.uint16))
    with pytest.raises(ValueError, match="rgb16.png"):
        read_image(path)


def test_16_bit_colour_tiff_is_scaled(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    values = np.random.default_rng(1).integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, values)
    back = read_image(path)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, values / 65535 * 255, rtol=1e-6)


def test_unreadable_files_raise_value_error_naming_them(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="notes.png"):
        read_image(text)
    with pytest.raises(ValueError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_write_image_refuses_float_and_bad_shapes(tmp_path, rgb):
    with pytest.raises(TypeError, match="float64"):
        write_image(tmp_path / "x.png", rgb.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(7, 9, 2\)"):
        write_image(tmp_path / "x.png", rgb[:, :, :2])


def test_tensor_conversion_round_trip(rgb):
    tensor = image_to_tensor(rgb)
    assert tensor.shape == (1, 3, 7, 9) and tensor.dtype == torch.float32
    assert tensor[0, 2, 4, 5] == float(rgb[4, 5, 2])
    np.testing.assert_array_equal(tensor_to_image(tensor), rgb)
    np.testing.assert_array_equal(tensor_to_image(tensor[0]), rgb)


def test_tensor_to_image_clips_and_rounds_halves_up():
    values = torch.tensor([-3.0, 0.49, 0.5, 1.5, 2.5, 254.5, 300.0])
    img = values.reshape(1, 1, 7).expand(3, 1, 7)
    out = tensor_to_image(img)
    assert out.dtype == np.uint8 and out.shape == (1, 7, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 1, 2, 3, 255, 255])


def test_quantize_agrees_for_numpy_and_torch():
    values = np.random.default_rng(2).uniform(-20, 280, 1000)
    from_numpy = quantize(values)
    from_torch = quantize(torch.from_numpy(values))
    np.testing.assert_array_equal(from_numpy, from_torch.numpy())
    assert from_numpy.min() == 0 and from_numpy.max() == 255
    np.testing.assert_array_equal(from_numpy, np.floor(from_numpy))
    assert np.abs(from_numpy - np.clip(values, 0, 255)).max() <= 0.5


def test_conversions_reject_wrong_shapes(rgb):
    with pytest.raises(ValueError, match=r"\(7, 9\)"):
        image_to_tensor(rgb[:, :, 0])
    with pytest.raises(ValueError, match=r"\(2, 3, 7, 9\)"):
        tensor_to_image(torch.zeros(2, 3, 7, 9))
