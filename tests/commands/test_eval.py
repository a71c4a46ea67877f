"""``ignn-pyg eval`` end to end on a tiny synthetic benchmark folder: reported numbers
against metrics recomputed from the saved PNGs, the bicubic row against a direct
computation, and the one-line errors for bad input."""

import csv
import json

import numpy as np
import pytest
import torch

from ignn_pyg.commands.eval import load_eval_dataset
from ignn_pyg.commands.main import main
from ignn_pyg.data import PhotoDataset, bicubic_downsample, image_to_tensor, imresize, modcrop, read_image, write_image
from ignn_pyg.evaluation.engine import evaluate, make_forward
from ignn_pyg.evaluation.metrics import psnr, ssim
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.models import EDSR
from ignn_pyg.models.internal_sr import InternalSRConfig, internal_sr
from tests.cli_process import one_line_error, run_cli

SCALE = 2
HR_SIZES = {"apple": (64, 60), "pear": (65, 61), "plum": (58, 66)}  # pear: odd, modcropped


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127 + 80 * np.sin(xx / 5.0 + seed)[..., None] * np.cos(yy / 7.0)[..., None]
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def benchmark_set(tmp_path):  # not `benchmark`: pytest-benchmark's fixture has that name
    """``Set/HR/{name}.png`` and ``Set/LR_bicubic/X2/{name}x2.png`` (MATLAB bicubic)."""
    return write_paired_set(tmp_path / "Set", HR_SIZES, SCALE)


def write_paired_set(root, sizes: dict[str, tuple[int, int]], scale: int):
    """``root/HR/{name}.png`` (:func:`textured`, seeds 0, 1, ...) and
    ``root/LR_bicubic/X{scale}/{name}x{scale}.png`` (MATLAB bicubic); returns ``root``."""
    for seed, (name, (h, w)) in enumerate(sizes.items()):
        hr = textured(h, w, seed)
        write_image(root / "HR" / f"{name}.png", hr)
        lr = bicubic_downsample(image_to_tensor(modcrop(hr, scale)), scale)
        write_image(
            root / "LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png", lr[0].permute(1, 2, 0).numpy().astype(np.uint8)
        )
    return root


def run_eval(*args: str) -> int:
    return main(["eval", *map(str, args)])


def bicubic_eval(dataset, out) -> int:
    return run_eval("--weights", "bicubic", "--dataset", dataset, "--scale", SCALE, "--out", out)


def load_results(out):
    with open(out / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    return json.loads((out / "results.json").read_text()), table


def hr_and_lr(root, name):
    hr = modcrop(read_image(root / "HR" / f"{name}.png"), SCALE)
    lr = read_image(root / "LR_bicubic" / f"X{SCALE}" / f"{name}x{SCALE}.png")
    return hr, lr


def test_eval_checkpoint_end_to_end(benchmark_set, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_eval("--weights", checkpoint, "--dataset", benchmark_set, "--scale", SCALE, "--out", out) == 0
    printed = capsys.readouterr().out
    results, table = load_results(out)
    assert results["method"] == "IGNN" and results["scale"] == SCALE
    assert [row["name"] for row in results["images"]] == sorted(HR_SIZES)
    assert [row["name"] for row in table] == [*sorted(HR_SIZES), "mean"]
    for row, csv_row in zip(results["images"], table):
        hr, lr = hr_and_lr(benchmark_set, row["name"])
        saved = read_image(out / "images" / f"{row['name']}.png")
        assert saved.shape == hr.shape
        assert row["psnr"] == pytest.approx(psnr(saved, hr, SCALE), abs=1e-9)
        assert row["ssim"] == pytest.approx(ssim(saved, hr, SCALE), abs=1e-9)
        # the bicubic row: MATLAB imresize of the LR file, computed here directly
        bicubic = imresize(torch.from_numpy(lr).double().permute(2, 0, 1) / 255.0, SCALE) * 255.0
        assert row["bicubic_psnr"] == pytest.approx(psnr(bicubic, hr, SCALE), abs=1e-9)
        assert row["bicubic_ssim"] == pytest.approx(ssim(bicubic, hr, SCALE), abs=1e-9)
        assert (row["lr_height"], row["lr_width"]) == lr.shape[:2]
        assert row["seconds"] > 0
        assert float(csv_row["psnr"]) == pytest.approx(row["psnr"], abs=1e-9)
        assert f"{row['psnr']:7.3f}" in printed and row["name"] in printed
    mean_psnr = np.mean([row["psnr"] for row in results["images"]])
    assert results["mean"]["psnr"] == pytest.approx(mean_psnr, abs=1e-9)
    assert float(table[-1]["bicubic_psnr"]) == pytest.approx(
        np.mean([row["bicubic_psnr"] for row in results["images"]]), abs=1e-9
    )
    assert "mean (IGNN)" in printed and "mean (bicubic)" in printed


def test_eval_bicubic_weights_and_hr_only_folder(benchmark_set, tmp_path):
    paired, hr_only = tmp_path / "paired", tmp_path / "hr_only"
    assert bicubic_eval(benchmark_set, paired) == 0
    # an HR-only folder gets its LR images from the same MATLAB bicubic: identical numbers
    assert bicubic_eval(benchmark_set / "HR", hr_only) == 0
    (from_files, _), (made_here, _) = load_results(paired), load_results(hr_only)
    assert from_files["method"] == "bicubic"
    for a, b in zip(from_files["images"], made_here["images"]):
        assert a["psnr"] == a["bicubic_psnr"] == b["psnr"]
        assert a["ssim"] == a["bicubic_ssim"] == b["ssim"]
        saved = read_image(paired / "images" / f"{a['name']}.png")
        assert a["psnr"] == pytest.approx(psnr(saved, hr_and_lr(benchmark_set, a["name"])[0], SCALE), abs=1e-9)


@pytest.mark.parametrize(
    "options",
    [
        ["--chop", "reference", "--reference-window-state"],
        ["--tile", "20", "--overlap", "4"],
        ["--self-ensemble"],
    ],
)
def test_eval_inference_modes(benchmark_set, checkpoint, tmp_path, options):
    out = tmp_path / "out"
    assert (
        run_eval(
            "--weights", checkpoint, "--dataset", benchmark_set, "--scale", SCALE, "--out", out, "--limit", 1, *options
        )
        == 0
    )
    results, _ = load_results(out)
    assert len(results["images"]) == 1
    assert all(np.isfinite(row["psnr"]) for row in results["images"])


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(lines) == 1
    return lines[0]


def test_eval_missing_folder(tmp_path, capsys):
    assert bicubic_eval(tmp_path / "nope", tmp_path / "o") == 2
    assert "dataset folder not found" in error_line(capsys)


def test_eval_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert bicubic_eval(tmp_path / "empty", tmp_path / "o") == 2
    assert "no images" in error_line(capsys)


def skipped_line(capsys) -> str:
    """The one line naming a skipped image, beside the closing error line."""
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if "error:" in line]) == 1
    lines = [line for line in err if "skipped image" in line]
    assert len(lines) == 1
    return lines[0]


def test_eval_size_mismatch_names_the_files(benchmark_set, tmp_path, capsys):
    write_image(benchmark_set / "LR_bicubic" / "X2" / "pear.png", np.zeros((20, 20, 3), np.uint8))
    (benchmark_set / "LR_bicubic" / "X2" / "pearx2.png").unlink()
    assert bicubic_eval(benchmark_set, tmp_path / "o") == 2
    line = skipped_line(capsys)
    assert "size mismatch" in line and "pear.png" in line
    assert (
        run_eval(
            "--weights",
            "bicubic",
            "--dataset",
            benchmark_set,
            "--scale",
            SCALE,
            "--out",
            tmp_path / "strict",
            "--strict",
        )
        == 2
    )
    line = error_line(capsys)
    assert "size mismatch" in line and "pear.png" in line


def test_eval_unreadable_image_names_the_file(benchmark_set, tmp_path, capsys):
    (benchmark_set / "HR" / "plum.png").write_text("not an image")
    assert bicubic_eval(benchmark_set, tmp_path / "o") == 2
    assert "plum.png" in skipped_line(capsys)


def test_eval_missing_lr_partner(benchmark_set, tmp_path, capsys):
    (benchmark_set / "LR_bicubic" / "X2" / "applex2.png").unlink()
    assert bicubic_eval(benchmark_set, tmp_path / "o") == 2
    line = error_line(capsys)
    assert "have no LR partner" in line and line.endswith(": apple.png")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--weights", "{ckpt}", "--scale", "3"], "holds a x2 model, not x3"),
        (["--weights", "{missing}", "--scale", "2"], "does not exist"),
        (["--weights", "bicubic", "--scale", "2", "--self-ensemble"], "need a model"),
        (["--weights", "bicubic", "--scale", "2", "--limit", "0"], "--limit"),
        (["--weights", "{ckpt}", "--scale", "2", "--tile", "8"], "must exceed twice --overlap"),
    ],
)
def test_eval_bad_options(benchmark_set, checkpoint, tmp_path, capsys, args, message):
    args = [a.format(ckpt=checkpoint, missing=tmp_path / "missing.pt") for a in args]
    assert run_eval(*args, "--dataset", benchmark_set, "--out", tmp_path / "o") == 2
    assert message in error_line(capsys)


@pytest.mark.parametrize("layout", ["authors", "div2k", "flat_pair"])
def test_eval_dataset_layouts(benchmark_set, tmp_path, layout):
    root = tmp_path / layout
    for name in HR_SIZES:
        hr = read_image(benchmark_set / "HR" / f"{name}.png")
        lr = read_image(benchmark_set / "LR_bicubic" / "X2" / f"{name}x2.png")
        hr_path, lr_path = {
            "authors": (root / "HR" / "x2" / f"{name}.png", root / "LR" / "x2" / f"{name}.png"),
            "div2k": (
                root / "DIV2K_valid_HR" / f"{name}.png",
                root / "DIV2K_valid_LR_bicubic" / "X2" / f"{name}x2.png",
            ),
            "flat_pair": (root / "HR" / f"{name}.png", root / "LR" / f"{name}.png"),
        }[layout]
        write_image(hr_path, hr)
        write_image(lr_path, lr)
    dataset, description = load_eval_dataset(str(root), SCALE)
    expected, _ = load_eval_dataset(str(benchmark_set), SCALE)
    assert "HR images" not in description  # paired, not LR made on the fly
    assert [item["name"] for item in dataset] == sorted(HR_SIZES)
    for ours, reference in zip(dataset, expected):
        assert torch.equal(ours["lr"], reference["lr"]) and torch.equal(ours["hr"], reference["hr"])


def test_eval_dataset_photos_is_the_eval_split():
    dataset, description = load_eval_dataset("photos", SCALE)
    assert isinstance(dataset, PhotoDataset) and dataset.split == "eval"
    assert "photos" in description


def test_eval_dataset_held_out_is_the_held_out_split():
    pytest.importorskip("skimage")
    dataset, description = load_eval_dataset("held_out", SCALE)
    assert isinstance(dataset, PhotoDataset) and dataset.split == "held_out"
    assert "held-out" in description
    assert not set(dataset.names) & set(PhotoDataset("eval", SCALE).names)


def test_eval_image_too_small_for_chop_names_it(tmp_path, checkpoint, capsys):
    write_image(tmp_path / "tiny" / "speck.png", textured(40, 40, seed=9))  # LR 20x20
    assert (
        run_eval(
            "--weights",
            checkpoint,
            "--dataset",
            tmp_path / "tiny",
            "--scale",
            SCALE,
            "--chop",
            "reference",
            "--out",
            tmp_path / "o",
            "--strict",
        )
        == 2
    )
    line = error_line(capsys)
    assert "'speck'" in line and "too small for the reference chop" in line


def test_baseline_rows_supply_the_bicubic_scores(tmp_path):
    """A second evaluation given the first's rows reports the same bicubic scores
    without recomputing them, and refuses rows of other images."""
    samples = [
        {"name": f"im{i}", "lr": torch.rand(3, 16, 14) * 255, "hr": torch.rand(3, 32, 28) * 255} for i in range(2)
    ]
    forward = make_forward(EDSR(SCALE, n_feats=4, n_resblocks=1))
    first = evaluate(samples, forward, SCALE, tmp_path / "a", progress=False)
    fake = [dict(row, bicubic_psnr=float(i), bicubic_ssim=-1.0) for i, row in enumerate(first)]
    second = evaluate(samples, forward, SCALE, tmp_path / "b", progress=False, baseline=fake)
    assert [(r["bicubic_psnr"], r["bicubic_ssim"]) for r in second] == [(0.0, -1.0), (1.0, -1.0)]
    assert [r["psnr"] for r in second] == [r["psnr"] for r in first]
    with pytest.raises(ValueError, match="baseline row 0"):
        evaluate(samples, forward, SCALE, tmp_path / "c", progress=False, baseline=first[::-1])


def _graph_blind(model):
    """``model`` with the input channels that carry the aggregation's outputs into
    ``fuse_lr`` and ``fuse_hr`` zeroed: its output no longer depends on the graph."""
    c = model.config.n_feats
    with torch.no_grad():
        model.fuse_lr[0].weight[:, c:] = 0
        model.fuse_hr[0].weight[:, c:] = 0
    return model


def test_probe_graph_reliance_is_own_minus_control(benchmark_set, tmp_path):
    from ignn_pyg.evaluation.engine import probe_graph, summarize
    from ignn_pyg.evaluation.metrics import psnr_ssim
    from ignn_pyg.models import IGNN
    from tests.models.test_ignn import randomize

    dataset, _ = load_eval_dataset(str(benchmark_set), SCALE)
    model = randomize(IGNN(SCALE, n_feats=8, n_resblocks=2, window=4)).eval()
    rows = evaluate(dataset, make_forward(model), SCALE, tmp_path / "own", progress=False)
    probed = probe_graph(model, dataset, rows, seed=5, progress=False)
    assert [r["name"] for r in probed] == [r["name"] for r in rows]
    for index, row in enumerate(probed):
        item = dataset[index]
        lr, hr = item["lr"][None], item["hr"][None]
        for control in ("random", "permuted"):
            graph = model.build_graph(lr, neighbors=control, generator=torch.Generator().manual_seed(5 + index))
            with torch.no_grad():
                expected = psnr_ssim(model(lr, graph=graph), hr, SCALE)[0]
            assert row[f"psnr_{control}"] == pytest.approx(expected, abs=1e-9)
            assert row[f"reliance_{control}"] == pytest.approx(row["psnr"] - expected, abs=1e-9)
    # a randomly initialised model's output depends on its graph
    assert any(abs(r["reliance_random"]) > 1e-3 for r in probed)
    assert probe_graph(model, dataset, rows, seed=5, progress=False) == probed
    assert "reliance_permuted" in summarize(probed)

    blind = _graph_blind(model)
    rows = evaluate(dataset, make_forward(blind), SCALE, tmp_path / "blind", progress=False)
    for row in probe_graph(blind, dataset, rows, progress=False):
        assert row["reliance_random"] == pytest.approx(0.0, abs=1e-9)
        assert row["reliance_permuted"] == pytest.approx(0.0, abs=1e-9)


def test_eval_cli_probe_graph_writes_reliance_and_refuses_other_modes(benchmark_set, tmp_path, checkpoint, capsys):
    out = tmp_path / "probe"
    assert (
        run_eval("--weights", checkpoint, "--dataset", benchmark_set, "--scale", SCALE, "--out", out, "--probe-graph")
        == 0
    )
    printed = capsys.readouterr().out
    assert "graph reliance vs random neighbours: mean" in printed and "graph reliance vs permuted" in printed
    payload = json.loads((out / "results.json").read_text())
    for row in payload["images"]:
        assert row["reliance_random"] == pytest.approx(row["psnr"] - row["psnr_random"])
    with open(out / "results.csv") as handle:
        header = next(csv.reader(handle))
    assert "reliance_random" in header and "psnr_permuted" in header
    assert (
        run_eval(
            "--weights",
            checkpoint,
            "--dataset",
            benchmark_set,
            "--scale",
            SCALE,
            "--out",
            out,
            "--probe-graph",
            "--tile",
            "40",
        )
        == 2
    )
    assert "--probe-graph compares whole-image forwards; drop --tile" in capsys.readouterr().err
    assert (
        run_eval("--weights", "bicubic", "--dataset", benchmark_set, "--scale", SCALE, "--out", out, "--probe-graph")
        == 2
    )
    assert "--probe-graph need a model" in capsys.readouterr().err


def test_eval_graph_weights(benchmark_set, tmp_path, capsys):
    # --weights graph: the library's graph SR of each LR file, scored like a model
    out = tmp_path / "graph"
    assert run_eval("--weights", "graph", "--dataset", benchmark_set, "--scale", SCALE, "--out", out) == 0
    results, _ = load_results(out)
    assert results["method"] == "graph-SR"
    for row in results["images"]:
        hr, lr = hr_and_lr(benchmark_set, row["name"])
        sr, _ = internal_sr(image_to_tensor(lr), InternalSRConfig(scale=SCALE))
        assert row["psnr"] == pytest.approx(psnr(sr, hr, SCALE), abs=1e-9)
    assert (
        run_eval("--weights", "graph", "--dataset", benchmark_set, "--scale", SCALE, "--self-ensemble", "--out", out)
        == 2
    )
    assert "--weights graph has none" in capsys.readouterr().err


def test_eval_image_too_small_for_the_model_is_one_line(tmp_path):
    """An HR-only folder whose 14 x 14 image gives a 7 x 7 LR input: through the CLI."""
    write_image(tmp_path / "Set" / "tiny.png", textured(14, 14, 0))
    weights = bundled_weights(2)
    result = run_cli(
        "eval", "--weights", weights, "--dataset", tmp_path / "Set", "--scale", 2, "--out", tmp_path / "o", "--strict"
    )
    assert result.returncode == 2
    side = load_weights(weights).min_input_side
    assert one_line_error(result) == (
        f"ignn-pyg eval: error: image 'tiny' ({tmp_path / 'Set' / 'tiny.png'}): an image of 7x7 pixels "
        "(height x width) is too small for this "
        f"IGNN at x2: it takes images of at least {side}x{side}, set by its graph (patch_size 3, stride 2, "
        "window 30, num_neighbors 5 at graph scale 2)"
    )


def test_an_earlier_run_needs_overwrite(benchmark_set, tmp_path, capsys):
    out = tmp_path / "bicubic"
    args = ("--weights", "bicubic", "--dataset", benchmark_set, "--scale", SCALE, "--out", out)
    assert run_eval(*args) == 0
    before = (out / "results.json").read_text()
    capsys.readouterr()
    assert run_eval(*args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "2 output file(s) exist already" in err and "--overwrite" in err
    assert (out / "results.json").read_text() == before
    assert run_eval(*args, "--overwrite") == 0


def test_a_bad_image_is_skipped_listed_and_fails_the_run(tmp_path, capsys):
    """An unreadable file and one too small for the metrics, among good ones: the good
    ones are evaluated and written, the others listed in results.json, status 2."""
    folder = tmp_path / "hr"
    write_image(folder / "a.png", textured(40, 40, 1))
    (folder / "b.png").write_bytes(b"not an image\n")
    write_image(folder / "c.png", textured(2, 2, 2))  # LR 1x1: too small for the metrics
    write_image(folder / "d.png", textured(36, 38, 3))
    out = tmp_path / "o"
    assert run_eval("--weights", "bicubic", "--dataset", folder, "--scale", SCALE, "--out", out) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1] == (
        f"ignn-pyg eval: error: 2 of 4 image(s) skipped (each named above and listed under "
        f"'skipped' in {out / 'results.json'}); the table holds the others"
    )
    payload = json.loads((out / "results.json").read_text())
    assert [row["name"] for row in payload["images"]] == ["a", "d"]
    assert [(entry["index"], entry["name"]) for entry in payload["skipped"]] == [(1, "b"), (2, "c")]
    assert str(folder / "b.png") in payload["skipped"][0]["error"]
    assert str(folder / "c.png") in payload["skipped"][1]["error"]  # the file, not only the name
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.png", "d.png"]
    assert any("skipped image 1" in line and "b.png" in line for line in err)


def test_strict_stops_at_the_first_bad_image(tmp_path, capsys):
    folder = tmp_path / "hr"
    write_image(folder / "a.png", textured(40, 40, 1))
    (folder / "b.png").write_bytes(b"not an image\n")
    out = tmp_path / "o"
    assert run_eval("--weights", "bicubic", "--dataset", folder, "--scale", SCALE, "--out", out, "--strict") == 2
    assert f"cannot read image {folder / 'b.png'}" in capsys.readouterr().err
    assert not (out / "results.json").exists()
