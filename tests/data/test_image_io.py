"""Image reading/writing and the numpy <-> tensor conversions."""

from __future__ import annotations

import struct
import warnings
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

import ignn_pyg.data.image_io as image_io
from ignn_pyg.data.image_io import (
    image_to_tensor,
    quantize,
    read_image,
    read_image_and_alpha,
    tensor_to_image,
    write_image,
)


def _png(width: int, height: int, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    """A PNG file by hand (PNG spec: IHDR, one zlib IDAT of filtered rows, IEND)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _write_png16(path, img: np.ndarray) -> None:
    """Encode a 16-bit PNG (filter 0 rows); Pillow cannot write 16-bit colour."""
    height, width, channels = img.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + img[y].astype(">u2").tobytes() for y in range(height))
    path.write_bytes(_png(width, height, 16, color_type, raw))


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


def _pillow_rgb(path) -> np.ndarray:
    """Pillow's own RGB conversion of a file: the truth the colour tests compare with."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(
    "mode,suffix", [("CMYK", ".jpg"), ("CMYK", ".tif"), ("LAB", ".tif"), ("YCbCr", ".tif"), ("P", ".bmp")]
)
def test_colour_modes_are_converted_by_pillow_without_alpha(tmp_path, rgb, mode, suffix):
    path = tmp_path / f"{mode}{suffix}"
    Image.fromarray(rgb).convert(mode).save(path)
    with Image.open(path) as image:
        assert image.mode == mode  # the file really holds that mode
    colour, alpha = read_image_and_alpha(path)
    assert alpha is None  # CMYK's K is a colour, not alpha
    assert colour.dtype == np.uint8
    np.testing.assert_array_equal(colour, _pillow_rgb(path))


def test_cmyk_jpeg_reads_without_an_alpha_warning(tmp_path, rgb):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        colour = read_image(path)
    np.testing.assert_array_equal(colour, _pillow_rgb(path))


def test_la_keeps_its_alpha(tmp_path, rgb):
    path = tmp_path / "la.png"
    Image.fromarray(rgb[:, :, :2], "LA").save(path)
    colour, alpha = read_image_and_alpha(path)
    np.testing.assert_array_equal(alpha, rgb[:, :, 1])
    for channel in range(3):
        np.testing.assert_array_equal(colour[:, :, channel], rgb[:, :, 0])


def _image_of_mode(grey: np.ndarray, mode: str) -> Image.Image:
    """``grey [H, W]`` ``uint8`` as a Pillow image of ``mode``, every value kept apart."""
    if mode == "P":
        image = Image.fromarray(grey)
        image.putpalette(np.repeat(np.arange(256, dtype=np.uint8), 3).tobytes())  # index i is grey i
        return image
    if mode == "RGB":
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)
    return Image.fromarray(grey)


@pytest.mark.parametrize("mode,transparency", [("P", 7), ("L", 7), ("RGB", (7, 7, 7)), ("I;16", 7 * 257)])
def test_a_transparent_palette_entry_or_colour_key_becomes_alpha(tmp_path, rgb, mode, transparency):
    grey = np.where(rgb[:, :, 0] == 7, 8, rgb[:, :, 0]).astype(np.uint8)
    grey[0, 0] = 7  # the one pixel of the transparent value
    image = _image_of_mode(grey, mode)
    assert image.mode == mode
    path = tmp_path / "transparent.png"
    image.save(path, transparency=transparency)
    colour, alpha = read_image_and_alpha(path)
    expected = np.full(grey.shape, 255)
    expected[0, 0] = 0
    np.testing.assert_array_equal(alpha, expected)
    assert alpha.dtype == colour.dtype
    image.save(path)  # the same pixels without transparency: no alpha
    assert read_image_and_alpha(path)[1] is None


def test_1_bit_is_0_or_255(tmp_path, rgb):
    bits = rgb[:, :, 0] > 127
    path = tmp_path / "bits.png"
    Image.fromarray(bits).save(path)
    colour, alpha = read_image_and_alpha(path)
    assert alpha is None and colour.dtype == np.uint8
    np.testing.assert_array_equal(colour[:, :, 2], np.where(bits, 255, 0))


def test_16_bit_pgm_is_scaled_to_0_255(tmp_path):
    values = np.array([[0, 257, 65535]], dtype=np.uint16)
    path = tmp_path / "gray16.pgm"
    path.write_bytes(b"P5 3 1 65535\n" + values.astype(">u2").tobytes())  # Pillow opens it as mode I
    colour = read_image(path)
    assert colour.dtype == np.float32
    np.testing.assert_array_equal(colour[0, :, 0], [0.0, 1.0, 255.0])


def test_16_bit_grey_tiff_with_alpha_is_read_exactly(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    values = np.random.default_rng(3).integers(0, 65536, (4, 5, 2), dtype=np.uint16)
    path = tmp_path / "grey_alpha16.tif"  # Pillow cannot open this layout
    tifffile.imwrite(path, values, photometric="minisblack", extrasamples=["unassalpha"])
    colour, alpha = read_image_and_alpha(path)
    np.testing.assert_allclose(alpha, values[:, :, 1] / 65535 * 255, rtol=1e-6)
    np.testing.assert_allclose(colour[:, :, 1], values[:, :, 0] / 65535 * 255, rtol=1e-6)


def test_gif_gives_its_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((4, 5, 3), value, dtype=np.uint8)) for value in (10, 200)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(read_image(path), np.full((4, 5, 3), 10))


def test_webp_at_a_unicode_path_round_trips(tmp_path, rgb):
    path = tmp_path / "phöto 写真.webp"
    Image.fromarray(rgb).save(path, lossless=True)
    np.testing.assert_array_equal(read_image(path), rgb)


def test_truncated_and_oversized_files_are_one_line_errors(tmp_path, rgb):
    for suffix in (".png", ".jpg"):
        whole = tmp_path / f"whole{suffix}"
        Image.fromarray(np.tile(rgb, (20, 20, 1))).save(whole)
        truncated = tmp_path / f"truncated{suffix}"
        truncated.write_bytes(whole.read_bytes()[:300])
        with pytest.raises(ValueError, match=f"truncated{suffix}") as err:
            read_image(truncated)
        assert "\n" not in str(err.value)
    bomb = tmp_path / "bomb.png"  # a 20000 x 20000 header, above Pillow's decompression-bomb limit
    bomb.write_bytes(_png(20000, 20000, 8, 0, b""))
    with pytest.raises(ValueError, match=r"bomb\.png: DecompressionBombError: .*400000000 pixels") as err:
        read_image(bomb)
    assert "\n" not in str(err.value)


def test_wide_pixels_outside_their_range_are_refused(tmp_path):
    floats = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 300.5]], dtype=np.float32)).save(floats)
    with pytest.raises(ValueError, match=r"float\.tif: its float pixels span \[0\.0, 300\.5\]; expected values in "):
        read_image(floats)
    integers = tmp_path / "int32.tif"
    Image.fromarray(np.array([[-1, 70000]], dtype=np.int32)).save(integers)
    with pytest.raises(ValueError, match=r"int32\.tif: its I pixels span \[-1, 70000\]; expected 16-bit"):
        read_image(integers)


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


def _float64_formula(img: torch.Tensor) -> np.ndarray:
    """The conversion as it was, through a float64 copy of the whole image:
    ``floor(clip(x, 0, 255) + 0.5)``, ``[3, H, W]`` -> ``[H, W, 3]`` ``uint8``."""
    pixels = img.to(torch.float64).numpy()
    return np.floor(np.clip(pixels, 0.0, 255.0) + 0.5).astype(np.uint8).transpose(1, 2, 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))],
)
def test_tensor_to_image_by_blocks_equals_the_float64_formula(monkeypatch, dtype, channels_last, device):
    monkeypatch.setattr(image_io, "_CONVERSION_BLOCK_VALUES", 3 * 9 * 4)  # 4 rows a block, the last one 1
    generator = torch.Generator().manual_seed(4)
    values = torch.empty(1, 3, 13, 9, dtype=torch.float64).uniform_(-40, 300, generator=generator)
    below_half = float(np.nextafter(np.float32(0.5), np.float32(0)))  # its + 0.5 is 1.0 in float32
    edges = [-0.5, 0.0, 0.5, 1.5, 2.5, 127.5, 254.5, 255.0, 255.5, 1e6, below_half, 253.49998]
    values.view(-1)[: len(edges)] = torch.tensor(edges, dtype=torch.float64)
    img = values.to(dtype)
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    out = tensor_to_image(img.to(device))
    assert out.dtype == np.uint8 and out.shape == (13, 9, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, _float64_formula(img[0]))


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


def test_image_size_reads_the_header_only(tmp_path):
    """The size of a file whose pixels are cut short (which reading refuses), of every
    format written here, and one-line refusals naming the path."""
    from ignn_pyg.data import image_size

    pixels = np.random.default_rng(0).integers(0, 256, (37, 23, 3), dtype=np.uint8)
    for suffix in (".png", ".jpg", ".bmp", ".tif", ".webp"):
        write_image(tmp_path / f"a{suffix}", pixels)
        assert image_size(tmp_path / f"a{suffix}") == (37, 23)
    whole = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    assert image_size(tmp_path / "cut.png") == (37, 23)
    with pytest.raises(ValueError, match="cannot read image"):
        read_image(tmp_path / "cut.png")
    for path, message in (
        (tmp_path, "is a folder, not an image file"),
        (tmp_path / "none.png", "not found"),
        (tmp_path / "a.txt", "not an image file Pillow can decode"),
    ):
        if path.suffix == ".txt":
            path.write_text("text")
        with pytest.raises(ValueError, match=message) as err:
            image_size(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_channels_to_uint8_rounds_any_channel_count_as_quantize(monkeypatch):
    """One channel (an alpha map) and four, in blocks smaller than the image, equal the
    whole-image formula."""
    monkeypatch.setattr(image_io, "_CONVERSION_BLOCK_VALUES", 7)
    values = torch.tensor([-3.0, 0.0, 0.49999997, 0.5, 1.5, 254.5, 255.0, 300.0, 127.25], dtype=torch.float64)
    for channels in (1, 4):
        img = values[torch.randperm(9 * 5 * channels, generator=torch.Generator().manual_seed(channels)) % 9]
        img = img.view(channels, 9, 5)
        expected = quantize(img).permute(1, 2, 0).numpy().astype(np.uint8)
        np.testing.assert_array_equal(image_io.channels_to_uint8(img), expected)
    with pytest.raises(ValueError, match=r"must be \[C, H, W\]"):
        image_io.channels_to_uint8(values)
