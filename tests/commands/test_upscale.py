"""ignn-pyg upscale end to end on tiny checkpoints and synthetic images."""

import warnings
from functools import partial

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from ignn_pyg.commands.main import main
from ignn_pyg.commands.upscale import DEFAULT_TILE
from ignn_pyg.data import image_to_tensor, imresize, quantize, read_image, tensor_to_image, write_image
from ignn_pyg.inference import bundled, forward_whole
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_weights, save_checkpoint
from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr
from ignn_pyg.runtime.precision import resolve_precision
from tests.cli_process import one_line_error, run_cli


@pytest.fixture
def edsr_checkpoint(tmp_path):
    """A tiny x2 EDSR (8 features, 1 block) saved as ``edsr.pt``: its receptive field is
    small, and it takes any size."""
    torch.manual_seed(0)
    path = tmp_path / "edsr.pt"
    save_checkpoint(path, EDSR(2, n_feats=8, n_resblocks=1))
    return path


def photo(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    write_image(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


@pytest.mark.precision_default
@pytest.mark.parametrize("requested", [None, "fp32", "bf16"])
def test_single_image_matches_library_forward(tmp_path, checkpoint, requested):
    """The command equals the library forward in the precision it resolves to: with no
    ``--precision``, ``auto`` (bf16 where this CPU computes it natively, else float32
    channels-last); ``fp32`` is the plain exact forward."""
    src = photo(tmp_path / "in.png", 21, 18)
    chosen = [] if requested is None else ["--precision", requested]
    with warnings.catch_warnings():  # bf16 on a CPU without native bf16 warns that it is slow
        warnings.simplefilter("ignore", RuntimeWarning)
        assert (
            main(
                [
                    "upscale",
                    str(src),
                    "-o",
                    str(tmp_path / "out.png"),
                    "--weights",
                    str(checkpoint),
                    "--device",
                    "cpu",
                    *chosen,
                ]
            )
            == 0
        )
        precision = resolve_precision(requested or "auto", "cpu")
    out = read_image(tmp_path / "out.png")
    lr = image_to_tensor(read_image(src))
    if requested == "fp32":
        expected = forward_whole(load_weights(checkpoint), lr)
    else:
        expected = precision.run(partial(forward_whole, precision.prepare_model(load_weights(checkpoint))), lr)
    assert out.shape == (42, 36, 3)
    np.testing.assert_array_equal(out, tensor_to_image(expected))


@pytest.mark.precision_default
def test_folder_and_tiling(tmp_path, edsr_checkpoint):
    folder = tmp_path / "photos"
    photo(folder / "a.png", 40, 30, 1)
    photo(folder / "b.jpg", 17, 23, 2)
    (folder / "notes.txt").write_text("not an image")
    whole = tmp_path / "whole"
    tiled = tmp_path / "tiled"
    assert main(["upscale", str(folder), "-o", str(whole), "--weights", str(edsr_checkpoint)]) == 0
    assert (
        main(
            [
                "upscale",
                str(folder),
                "-o",
                str(tiled),
                "--weights",
                str(edsr_checkpoint),
                "--max-pixels",
                "100",
                "--tile",
                "24",
                "--overlap",
                "8",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in whole.iterdir()) == ["a_x2.png", "b_x2.png"]
    # EDSR's receptive field (radius < 7 LR px here) is inside the overlap: tiling is exact
    for name in ("a_x2.png", "b_x2.png"):
        np.testing.assert_array_equal(read_image(whole / name), read_image(tiled / name))


def test_bad_input(tmp_path, checkpoint, capsys):
    assert main(["upscale", str(tmp_path / "missing.png"), "--weights", str(checkpoint)]) == 2
    assert "missing.png" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["upscale", str(tmp_path / "empty"), "--weights", str(checkpoint)]) == 2
    assert "no images" in capsys.readouterr().err
    src = photo(tmp_path / "in.png", 20, 20)
    assert main(["upscale", str(src), "--scale", "4", "--weights", str(checkpoint)]) == 2
    assert "not x4" in capsys.readouterr().err
    for device, message in (("cuda:99", "CUDA device"), ("warp-drive", "is not a torch device")):
        assert main(["upscale", str(src), "--weights", str(checkpoint), "--device", device]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and f"--device {device!r}" in err and "\n" not in err
    assert not (tmp_path / "in_x2.png").exists()


def test_bundled_models_of_every_scale(tmp_path, monkeypatch):
    """Each scale's default is an IGNN of that scale: IGNN-detail at x2 (issue #39), the
    authors' layer at x3 and x4; a missing file is one line that lists what is bundled."""
    for scale in (2, 3, 4):
        model = load_weights(bundled_weights(scale, bundled.default_model(scale)), scale)
        assert isinstance(model, IGNN) and model.scale == scale
        assert model.config_dict()["aggregation"] == ("ignn_detail" if scale == 2 else "ignn")
        assert isinstance(load_weights(bundled_weights(scale, "edsr"), scale), EDSR)
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="no bundled ignn model for x3 \\(bundled: none\\); pass --weights"):
        bundled_weights(3)


def test_model_picks_a_bundled_model(tmp_path, capsys):
    """``--model`` picks among the bundled models (each checked against the library
    forward of its bundled file); one missing at the scale is one line naming what ships,
    and it excludes ``--weights`` and ``--method graph``."""
    src = photo(tmp_path / "in.png", 24, 22)
    for name, architecture, aggregation in (("edsr", EDSR, None), ("ignn_detail", IGNN, "ignn_detail")):
        assert (
            main(["upscale", str(src), "-o", str(tmp_path / f"{name}.png"), "--model", name, "--precision", "fp32"])
            == 0
        )
        model = load_weights(bundled_weights(2, name))
        assert isinstance(model, architecture) and model.config_dict().get("aggregation") == aggregation
        expected = forward_whole(model, image_to_tensor(read_image(src)))
        np.testing.assert_array_equal(read_image(tmp_path / f"{name}.png"), tensor_to_image(expected))
    capsys.readouterr()
    assert main(["upscale", str(src), "--model", "ignn_detail", "--scale", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no bundled ignn_detail model for x3" in err and "ignn x3" in err
    assert main(["upscale", str(src), "--model", "ignn", "--method", "graph"]) == 2
    assert "--method graph uses no model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["upscale", str(src), "--model", "ignn", "--weights", str(src)])
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "in_x3.png").exists() and not (tmp_path / "in_x2.png").exists()


@pytest.mark.parametrize("scale", [2, 3])
def test_without_model_upscale_runs_the_scale_default(tmp_path, scale):
    """No --model, no --weights: the output is that of the scale's default bundled model
    (IGNN-detail at x2, IGNN at x3), and ``--model ignn`` still gives IGNN's."""
    src = photo(tmp_path / "in.png", 24, 22)
    lr = image_to_tensor(read_image(src))
    for chosen, arch in ((), bundled.default_model(scale)), (("--model", "ignn"), "ignn"):
        out = tmp_path / f"out_{len(chosen)}.png"
        assert main(["upscale", str(src), "-o", str(out), "--scale", str(scale), "--precision", "fp32", *chosen]) == 0
        expected = forward_whole(load_weights(bundled_weights(scale, arch), scale), lr)
        np.testing.assert_array_equal(read_image(out), tensor_to_image(expected))
    assert bundled.default_model(2) == "ignn_detail" and bundled.default_model(3) == "ignn"


def test_graph_method(tmp_path, capsys):
    src = photo(tmp_path / "in.png", 24, 20)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--method", "graph"]) == 0
    expected = tensor_to_image(internal_sr(image_to_tensor(read_image(src)), InternalSRConfig(scale=2))[0])
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), expected)
    assert main(["upscale", str(src), "--method", "graph", "--weights", "x.pt"]) == 2
    assert "--method graph uses no model" in capsys.readouterr().err


@pytest.mark.parametrize("h,w", [(1, 1), (7, 7), (5, 400)])
def test_image_too_small_for_the_bundled_model_is_one_line(tmp_path, h, w):
    """The sizes of the issue report; the minimum comes from the model's graph settings."""
    src = photo(tmp_path / "small.png", h, w)
    side = load_weights(bundled_weights(2)).min_input_side
    result = run_cli("upscale", src)
    assert result.returncode == 2
    assert one_line_error(result) == (
        f"ignn-pyg upscale: error: {src}: an image of {h}x{w} pixels (height x width) is too small for this "
        f"IGNN at x2: it takes images of at least {side}x{side}, set by its graph (patch_size 3, stride 2, "
        "window 30, num_neighbors 5 at graph scale 2)"
    )


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "the file is empty"),
        (b"a text file renamed to .png\n", "not an image file Pillow can decode"),
    ],
)
def test_unreadable_file_is_one_line(tmp_path, checkpoint, content, reason):
    src = tmp_path / "not_an_image.png"
    src.write_bytes(content)
    result = run_cli("upscale", src, "--weights", checkpoint)
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith(f"ignn-pyg upscale: error: cannot read image {src}: {reason}"), line


@pytest.mark.precision_default
def test_rgba_keeps_its_alpha_where_the_format_holds_it(tmp_path, checkpoint):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (21, 18, 3), dtype=np.uint8)
    alpha = np.tile(np.linspace(0, 255, 18).round().astype(np.uint8), (21, 1))  # a left-to-right fade
    src = tmp_path / "logo.png"
    iio.imwrite(src, np.concatenate([rgb, alpha[..., None]], axis=2))
    write_image(tmp_path / "rgb.png", rgb)

    result = run_cli("upscale", src, "-o", tmp_path / "out.png", "--weights", checkpoint)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{src}: alpha channel upscaled with bicubic, written as RGBA" in result.stdout.splitlines()
    assert "Warning" not in result.stderr
    out = iio.imread(tmp_path / "out.png")
    assert out.shape == (42, 36, 4)
    # colour: what the RGB image alone gives; alpha: MATLAB bicubic, 8-bit rounded
    assert (
        main(["upscale", str(tmp_path / "rgb.png"), "-o", str(tmp_path / "rgb_x2.png"), "--weights", str(checkpoint)])
        == 0
    )
    np.testing.assert_array_equal(out[..., :3], read_image(tmp_path / "rgb_x2.png"))
    expected = quantize(imresize(torch.from_numpy(alpha).double()[None] / 255, 2) * 255)[0]
    np.testing.assert_array_equal(out[..., 3], expected.numpy().astype(np.uint8))

    result = run_cli("upscale", src, "-o", tmp_path / "out.jpg", "--weights", checkpoint)
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(
        line.startswith(f"{src}: alpha channel dropped, .jpg holds none") for line in result.stdout.splitlines()
    ), result.stdout
    assert iio.imread(tmp_path / "out.jpg").shape == (42, 36, 3)


def test_precision_choice_and_its_one_line_warning(tmp_path, checkpoint, capsys, monkeypatch):
    from ignn_pyg.runtime import precision

    src = photo(tmp_path / "in.png", 20, 18)
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert main(["upscale", str(src), "-o", str(tmp_path / "auto.png"), "--weights", str(checkpoint)]) == 0
    captured = capsys.readouterr()
    assert "precision fp32, channels-last (auto: this CPU has no native bf16" in captured.out
    assert captured.err == ""
    assert (
        main(
            ["upscale", str(src), "-o", str(tmp_path / "bf16.png"), "--weights", str(checkpoint), "--precision", "bf16"]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "ignn-pyg upscale: warning: bf16 requested but this CPU has no native bf16 "
        "(no AVX512-BF16/AMX): it runs, several times slower than fp32"
    ]
    # the fast path changes rounding only: at most a grey level here and there
    a, b = read_image(tmp_path / "auto.png").astype(int), read_image(tmp_path / "bf16.png").astype(int)
    exact = forward_whole(load_weights(checkpoint, 2), image_to_tensor(read_image(src)))
    assert np.abs(a - tensor_to_image(exact).astype(int)).max() <= 1
    assert np.abs(b - a).mean() < 1.0


def test_the_input_is_never_written_over(tmp_path, checkpoint, capsys):
    """``-o`` naming the input is refused with or without ``--overwrite``; the photo stays."""
    src = photo(tmp_path / "s.png", 20, 20)
    before = src.read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main(["upscale", str(src), "-o", str(src), "--weights", str(checkpoint), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"output {src} is the input {src}; refusing to write over an input" in err
    assert src.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.png", "tiny.pt"]


def test_an_existing_output_needs_overwrite(tmp_path, checkpoint, capsys):
    src = photo(tmp_path / "s.png", 20, 20)
    target = tmp_path / "s_x2.png"
    target.write_bytes(b"an earlier result")
    assert main(["upscale", str(src), "--weights", str(checkpoint)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ignn-pyg upscale: error: 1 output file(s) exist already: {target}; give --overwrite to replace them"
    )
    assert target.read_bytes() == b"an earlier result"
    assert main(["upscale", str(src), "--weights", str(checkpoint), "--overwrite"]) == 0
    assert read_image(target).shape == (40, 40, 3)


def test_inputs_sharing_a_stem_keep_their_extension(tmp_path, edsr_checkpoint):
    """``a.png`` and ``a.jpg`` give two results, each the one its input gives alone."""
    folder = tmp_path / "photos"
    photo(folder / "a.png", 12, 10, 1)
    photo(folder / "a.jpg", 14, 9, 2)
    photo(folder / "b.png", 8, 8, 3)
    assert main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--weights", str(edsr_checkpoint)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_jpg_x2.png", "a_png_x2.png", "b_x2.png"]
    for name, output in (("a.png", "a_png_x2.png"), ("a.jpg", "a_jpg_x2.png")):
        assert (
            main(
                [
                    "upscale",
                    str(folder / name),
                    "-o",
                    str(tmp_path / "alone.png"),
                    "--weights",
                    str(edsr_checkpoint),
                    "--overwrite",
                ]
            )
            == 0
        )
        np.testing.assert_array_equal(read_image(tmp_path / "out" / output), read_image(tmp_path / "alone.png"))


def test_output_forms_are_checked_before_any_work(tmp_path, checkpoint, capsys, monkeypatch):
    """A folder ``-o`` (existing, or new with a trailing slash) takes the default name; a
    name without an image extension, a file as a folder run's ``-o`` and a folder that
    cannot be written are one line each, before the model is even loaded."""
    src = photo(tmp_path / "s.png", 20, 20)
    assert main(["upscale", str(src), "-o", f"{tmp_path / 'new' / 'dir'}/", "--weights", str(checkpoint)]) == 0
    assert (tmp_path / "new" / "dir" / "s_x2.png").is_file()

    from ignn_pyg.commands import upscale

    monkeypatch.setattr(upscale, "load_weights", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "folder").mkdir()
    photo(tmp_path / "folder" / "a.png", 10, 10)
    cases = [
        ([str(src), "-o", str(tmp_path / "name")], "no image extension to pick the format from"),
        ([str(tmp_path / "folder"), "-o", str(src)], "a folder run writes into a folder"),
        ([str(src), "-o", "/proc/self/s_x2.png"], "cannot write to /proc/self"),
        ([str(src), "-o", str(src / "x.png")], "is a file, not a folder"),
    ]
    for args, message in cases:
        assert main(["upscale", *args, "--weights", str(checkpoint)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and message in err, err
    assert not (tmp_path / "name").exists()


def bad_folder(tmp_path):
    """A folder whose middle image is not an image, and whose last one is cut short."""
    folder = tmp_path / "mix"
    photo(folder / "a.png", 12, 10, 1)
    (folder / "b.png").write_bytes(b"a text file renamed to .png\n")
    photo(folder / "c.png", 11, 9, 2)
    whole = (folder / "c.png").read_bytes()
    photo(folder / "d.png", 10, 10, 3)
    (folder / "d.png").write_bytes((folder / "d.png").read_bytes()[:60])  # header intact, pixels cut
    return folder, whole


def test_a_bad_file_in_a_folder_is_reported_and_the_rest_are_done(tmp_path, edsr_checkpoint):
    folder, _ = bad_folder(tmp_path)
    result = run_cli("upscale", folder, "-o", tmp_path / "out", "--weights", edsr_checkpoint)
    assert result.returncode == 2, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2.png", "c_x2.png"]
    lines = [line.rsplit("\r", 1)[-1].strip() for line in result.stderr.split("\n")]
    lines = [line for line in lines if line]
    assert len(lines) == 3 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"ignn-pyg upscale: skipped: cannot read image {folder / 'b.png'}")
    assert lines[1].startswith("ignn-pyg upscale: skipped: ") and str(folder / "d.png") in lines[1]
    assert lines[2] == (
        f"ignn-pyg upscale: error: 2 of 4 image(s) failed (each named above): {folder / 'b.png'}, {folder / 'd.png'}"
    )


def test_strict_stops_at_the_first_bad_file_before_any_work(tmp_path, checkpoint, capsys):
    folder, _ = bad_folder(tmp_path)
    assert main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--weights", str(checkpoint), "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"ignn-pyg upscale: error: cannot read image {folder / 'b.png'}")
    assert not (tmp_path / "out").exists()


def test_skip_existing_resumes_a_folder_run(tmp_path, edsr_checkpoint):
    folder = tmp_path / "photos"
    for index, name in enumerate("abc"):
        photo(folder / f"{name}.png", 10 + index, 9, index)
    out = tmp_path / "out"
    assert main(["upscale", str(folder), "-o", str(out), "--weights", str(edsr_checkpoint)]) == 0
    expected = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "b_x2.png").unlink()  # as a run stopped before b
    (out / "a_x2.png").write_bytes(b"kept as it is")
    assert main(["upscale", str(folder), "-o", str(out), "--weights", str(edsr_checkpoint), "--skip-existing"]) == 0
    assert (out / "a_x2.png").read_bytes() == b"kept as it is"
    assert (out / "b_x2.png").read_bytes() == expected["b_x2.png"]
    # once every output exists, a resumed run has nothing to do and loads no model
    assert (
        main(["upscale", str(folder), "-o", str(out), "--weights", str(tmp_path / "none.pt"), "--skip-existing"]) == 0
    )
    with pytest.raises(SystemExit):  # the two ways to treat an existing output exclude each other
        main(["upscale", str(folder), "-o", str(out), "--skip-existing", "--overwrite"])


def test_options_are_checked_before_any_image(tmp_path, checkpoint, capsys):
    """An invalid --tile used to fail only at the first image large enough for tiles."""
    src = photo(tmp_path / "s.png", 10, 10)
    for args, message in (
        (["--tile", "20", "--overlap", "10"], "--tile (20) must exceed twice --overlap (10)"),
        (["--overlap", "128"], f"--tile ({DEFAULT_TILE}) must exceed twice --overlap (128)"),  # the default tile
        (["--overlap", "-1"], "--overlap must be >= 0"),
        (["--max-pixels", "0"], "--max-pixels must be a positive integer"),
    ):
        assert main(["upscale", str(src), "--weights", str(checkpoint), *args]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "s_x2.png").exists()


def test_an_image_over_the_memory_budget_is_refused_before_any_work(tmp_path, checkpoint, monkeypatch, capsys):
    """With the process's holdings pinned to 0, a budget between the estimates of a small
    and a large image passes the small one and refuses the large one in one line that
    names the image, its size, the estimate and the limit."""
    from ignn_pyg.commands import upscale
    from ignn_pyg.inference.memory_estimate import format_bytes, upscale_peak_bytes

    folder = tmp_path / "photos"
    photo(folder / "big.png", 60, 50, 1)
    photo(folder / "small.png", 16, 16, 2)
    model = load_weights(checkpoint)
    big, small = (upscale_peak_bytes(model, h, w, 512 * 512, 256) for h, w in ((60, 50), (16, 16)))
    assert big > small
    monkeypatch.setattr(upscale, "resident_bytes", lambda: 0)
    budget = str(small + 1)
    assert (
        main(
            ["upscale", str(folder), "-o", str(tmp_path / "out"), "--weights", str(checkpoint), "--max-memory", budget]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (
        f"ignn-pyg upscale: skipped: {folder / 'big.png'}: a 50x60 image at x2 needs about "
        f"{format_bytes(big)} on top of the 0 B held, over --max-memory {budget} "
        f"({format_bytes(small + 1)} in all); give a smaller image, or more memory"
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small_x2.png"]
    # a single image is refused outright, and so is a budget that is no size
    assert (
        main(
            [
                "upscale",
                str(folder / "big.png"),
                "-o",
                str(tmp_path / "b.png"),
                "--weights",
                str(checkpoint),
                "--max-memory",
                budget,
            ]
        )
        == 2
    )
    assert "needs about" in capsys.readouterr().err and not (tmp_path / "b.png").exists()
    assert main(["upscale", str(folder / "big.png"), "--weights", str(checkpoint), "--max-memory", "lots"]) == 2
    assert "--max-memory 'lots': expected a positive size" in capsys.readouterr().err


@pytest.mark.parametrize("room", ["whole", "tiles"])
def test_max_memory_picks_the_whole_image_or_the_largest_tiles_that_fit(tmp_path, checkpoint, monkeypatch, room):
    """Without --tile, --max-memory upscales an image above --max-pixels whole when its
    estimate fits (the same pixels as the whole-image forward), else in the largest tiles
    that fit (the same pixels as those tiles)."""
    from ignn_pyg.commands import upscale
    from ignn_pyg.inference import forward_tiled
    from ignn_pyg.inference.memory_estimate import tiling_for_budget, upscale_peak_bytes

    src = photo(tmp_path / "in.png", 70, 60, 3)
    model = load_weights(checkpoint)
    whole = upscale_peak_bytes(model, 70, 60, 70 * 60, 0)
    budget = whole if room == "whole" else upscale_peak_bytes(model, 70, 60, 0, 48)
    monkeypatch.setattr(upscale, "resident_bytes", lambda: 0)
    out = tmp_path / "out.png"
    args = ["upscale", str(src), "-o", str(out), "--weights", str(checkpoint), "--max-pixels", "100"]
    assert main([*args, "--max-memory", str(budget), "--precision", "fp32"]) == 0
    lr = image_to_tensor(read_image(src))
    max_pixels, tile = tiling_for_budget(model, 70, 60, budget, 16)
    if room == "whole":
        assert (max_pixels, tile) == (4200, 0)
        expected = forward_whole(model, lr)
    else:
        assert (max_pixels, tile) == (0, 48)
        expected = forward_tiled(model, lr, tile=48, overlap=16)
    np.testing.assert_array_equal(read_image(out), tensor_to_image(expected))


def test_a_write_the_system_refuses_is_one_line(tmp_path, checkpoint, monkeypatch, capsys):
    """A full disk at the end of the work: one line with the system's reason and the file,
    status 1, and nothing under the output's name."""
    import errno

    from ignn_pyg.data import atomic_files

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    src = photo(tmp_path / "s.png", 12, 12)
    monkeypatch.setattr(atomic_files.os, "fsync", full_disk)
    assert main(["upscale", str(src), "--weights", str(checkpoint)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ignn-pyg upscale: error: No space left on device: ") and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png", "tiny.pt"]
