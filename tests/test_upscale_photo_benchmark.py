"""``benchmarks/upscale_photo.py``: its mosaic is made of crops of the eval photos as its
docstring says, and it runs end to end on a tiny photo (no timing is asserted)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from ignn_pyg.data import read_image
from ignn_pyg.data.photos import list_photos, load_photo
from tests.experiment_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    """``benchmarks/upscale_photo.py`` as a module."""
    return load_benchmark("upscale_photo")


def test_mosaic_cells_are_crops_of_the_eval_photos(bench):
    """Full HD is 5x4 cells of 384x270, row by row: cell n is eval photo n mod 8, from its
    top-left corner, then (second appearance) its bottom-right, then its top-right."""
    mosaic = bench.photo_mosaic(1920, 1080)
    assert mosaic.shape == (1080, 1920, 3) and mosaic.dtype == np.uint8
    names = list_photos("eval")

    def cell(n):
        row, col = divmod(n, 5)
        return mosaic[270 * row : 270 * (row + 1), 384 * col : 384 * (col + 1)]

    astronaut, chelsea, coffee = (load_photo(name) for name in names[:3])
    np.testing.assert_array_equal(cell(0), astronaut[:270, :384])
    np.testing.assert_array_equal(cell(9), chelsea[-270:, -384:])
    np.testing.assert_array_equal(cell(18), coffee[:270, -384:])
    np.testing.assert_array_equal(bench.photo_mosaic(1900, 1000), mosaic[:1000, :1900])  # same 5x4 cells, cut


@pytest.mark.parametrize("text", ["1920", "0x10", "axb"])
def test_size_must_be_width_x_height(bench, text):
    with pytest.raises(Exception, match="size must be"):
        bench.parse_size(text)


def test_worker_runs_the_command_and_times_its_parts(bench, tmp_path):
    """In this process: the command writes its output, one forward (no tiles below 512x512),
    and every part of ``upscale_breakdown`` is timed."""
    image = tmp_path / "mosaic.png"
    bench.write_image(image, bench.photo_mosaic(96, 64))
    measured = bench.worker(
        {
            "image": str(image),
            "output": str(tmp_path / "out.png"),
            "scale": 2,
            "model": "ignn",
            "precision": "fp32",
            "device": "cpu",
            "threads": 1,
            "breakdown": True,
        }
    )
    assert read_image(tmp_path / "out.png").shape == (128, 192, 3)
    assert measured["tiles"] == 1 and measured["precision"] == "fp32"
    assert measured["peak_rss"] >= measured["rss_before"] > 0
    assert {"graph: search", "graph: embedding", "aggregation: fold", "aggregation: psi", "tail"} <= set(
        measured["parts"]
    )
    rows = dict(sys.modules["upscale_breakdown"].part_rows(measured["parts"], measured["seconds"]))
    assert sum(rows.values()) == pytest.approx(measured["seconds"])  # the rows partition the upscale


def test_end_to_end_on_a_tiny_photo(bench, tmp_path, capsys):
    """Each configuration in its own process; the table, the ratio and the JSON."""
    report = bench.main(
        [
            "--size",
            "96x64",
            "--scales",
            "2",
            "--models",
            "ignn",
            "edsr",
            "--threads",
            "1",
            "--precisions",
            "fp32",
            "--no-breakdown",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    printed = capsys.readouterr().out
    assert "IGNN/EDSR time, x2 fp32 default:" in printed and "AVX512-BF16" in printed
    assert [(run["model"], run["tiles"]) for run in report["runs"]] == [("ignn", 1), ("edsr", 1)]
    assert json.loads((tmp_path / "r.json").read_text())["mosaic_sha256"] == report["mosaic_sha256"]


def test_tilings_run_side_by_side_with_their_ratio_to_the_whole_image(bench, tmp_path, capsys):
    """A 96x64 photo: ``whole`` is one forward, ``tile=40`` several; the ratio line names both."""
    report = bench.main(
        ["--size", "96x64", "--scales", "2", "--models", "edsr", "--threads", "1", "--precisions", "fp32"]
        + ["--tilings", "whole", "tile=40", "--no-breakdown"]
    )
    tiles = {run["tiling"]: run["tiles"] for run in report["runs"]}
    assert tiles["whole"] == 1 and tiles["tile=40"] > 1
    assert "EDSR x2 fp32: tile=40 tiling / whole image time:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--tilings", "tile=0"])
