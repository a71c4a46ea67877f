"""``ignn-pyg eval --benchmark``: the results table of several models on every set of a
folder at several scales.  Each cell against the single-set ``ignn-pyg eval`` of that set,
the table's layout in both files, resuming after an interruption, and the one-line errors."""

import csv
import json

import pytest
import torch

import ignn_pyg.commands.eval as eval_command
from ignn_pyg.commands.main import main
from ignn_pyg.data import (
    PhotoDataset,
    PhotoNotInstalledError,
    write_image,
)
from ignn_pyg.data.photos import load_photo
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import save_checkpoint
from ignn_pyg.models import EDSR
from tests.cli_process import one_line_error, run_cli
from tests.commands.test_eval import error_line, textured, write_paired_set

SCALES = (2, 3)
# "Set5": HR/ + LR_bicubic/X2/ (x3: HR only); "Alpha": images in the folder itself.  The
# literature's sets come first, so Set5 precedes Alpha.
SETS = {"Set5": {"apple": (48, 42), "pear": (37, 55)}, "Alpha": {"plum": (36, 54), "fig": (42, 30)}}
COLUMNS = ["Set5 x2", "Set5 x3", "Alpha x2", "Alpha x3"]


@pytest.fixture
def root(tmp_path):
    """Two sets (one paired at x2, one HR-only), a hidden folder and a folder without images."""
    root = tmp_path / "benchmark"
    write_paired_set(root / "Set5", SETS["Set5"], 2)
    for seed, (name, (h, w)) in enumerate(SETS["Alpha"].items(), start=5):
        write_image(root / "Alpha" / f"{name}.png", textured(h, w, seed))
    write_image(root / ".cache" / "stale.png", textured(12, 12, 0))
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a set")
    return root


@pytest.fixture
def edsr(tmp_path):
    """A tiny x2 EDSR checkpoint."""
    torch.manual_seed(0)
    path = tmp_path / "edsr_x2.pt"
    save_checkpoint(path, EDSR(2, n_feats=8, n_resblocks=1))
    return path


def run_table(root, out, *weights, extra=()):
    return main(
        ["eval", "--benchmark", str(root), "--scales", *map(str, SCALES), "--weights", *map(str, weights)]
        + ["--out", str(out), *extra]
    )


def read_csv(out):
    with open(out / "table.csv", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def md_rows(out):
    """The markdown table's lines as lists of cells (the header first, the rule left out)."""
    lines = [line for line in (out / "table.md").read_text().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for i, line in enumerate(lines) if i != 1]


def test_every_cell_is_the_single_set_eval(root, edsr, tmp_path):
    out = tmp_path / "table"
    assert run_table(root, out, f"tiny={edsr}", "bicubic") == 0
    header, rows = read_csv(out)
    cells = {row[0]: dict(zip(header[1:], row[1:])) for row in rows}
    for model, weights, scales in (("tiny", edsr, (2,)), ("bicubic", "bicubic", SCALES)):
        for set_name in SETS:
            for scale in scales:
                single = tmp_path / f"single_{model}_{set_name}_{scale}"
                argv = ["eval", "--weights", str(weights), "--dataset", str(root / set_name), "--scale", str(scale)]
                assert main([*argv, "--out", str(single)]) == 0
                results = json.loads((single / "results.json").read_text())
                label = f"{set_name} x{scale}"
                assert float(cells[model][f"{label} PSNR"]) == results["mean"]["psnr"]
                assert float(cells[model][f"{label} SSIM"]) == results["mean"]["ssim"]
                # the pair's file holds what results.json holds, image by image
                pair = json.loads((out / "pairs" / model / set_name / f"x{scale}.json").read_text())
                assert pair["dataset_description"] == results["dataset_description"]
                for ours, theirs in zip(pair["images"], results["images"], strict=True):
                    assert (ours["name"], ours["psnr"], ours["ssim"]) == (
                        theirs["name"],
                        theirs["psnr"],
                        theirs["ssim"],
                    )
    # Set5 has LR files at x2 only: at x3 its LR images are made with MATLAB bicubic, as for Alpha
    described = {
        scale: json.loads((out / "pairs" / "bicubic" / "Set5" / f"x{scale}.json").read_text())["dataset_description"]
        for scale in SCALES
    }
    assert (
        "LR_bicubic/X2" in described[2] and described[3] == f"HR images in {root / 'Set5' / 'HR'} (LR: MATLAB bicubic)"
    )
    # the x2 EDSR has no x3 cells
    assert cells["tiny"]["Set5 x3 PSNR"] == cells["tiny"]["Alpha x3 SSIM"] == ""
    assert not (out / "pairs" / "tiny" / "Set5" / "x3.json").exists()
    assert sorted(path.name for path in out.iterdir()) == ["pairs", "table.csv", "table.md"]  # no SR images


def test_table_layout_md_and_csv_agree(root, edsr, tmp_path, capsys):
    out = tmp_path / "table"
    assert run_table(root, out, "bicubic", edsr) == 0
    printed = capsys.readouterr().out
    header, rows = read_csv(out)
    assert header == ["model", *(f"{column} {metric}" for column in COLUMNS for metric in ("PSNR", "SSIM"))]
    assert [row[0] for row in rows] == ["bicubic", "edsr_x2"]  # the order given, named by the file's stem
    md_header, *md_body = md_rows(out)
    assert md_header == ["model", *COLUMNS]
    assert len(md_body) == len(rows)
    for md_row, csv_row in zip(md_body, rows):
        assert md_row[0] == csv_row[0]
        for cell, psnr, ssim in zip(md_row[1:], csv_row[1::2], csv_row[2::2]):
            assert cell == ("—" if psnr == "" else f"{float(psnr):.2f} / {float(ssim):.4f}")
    assert md_body[1][1:] == [md_body[1][1], "—", md_body[1][3], "—"]
    assert "—: the model is made for another scale" in (out / "table.md").read_text()
    assert (out / "table.md").read_text().strip() in printed


def counting_evaluate(monkeypatch, interrupt_at=None):
    """Count the command's calls of ``evaluate``; ``interrupt_at``: the call that raises
    ``KeyboardInterrupt`` instead (as Ctrl-C in the middle of the run)."""
    calls = []
    real = eval_command.evaluate

    def spy(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(eval_command, "evaluate", spy)
    return calls


def skipped_lines(printed):
    return [line for line in printed.splitlines() if line.startswith("finished earlier, skipped:")]


def test_interrupted_run_resumes_with_the_unfinished_pairs(root, edsr, tmp_path, monkeypatch, capsys):
    pairs = 2 + 4  # the x2 EDSR on two sets at x2, bicubic on two sets at x2 and x3
    whole = tmp_path / "whole"
    assert run_table(root, whole, edsr, "bicubic") == 0

    out = tmp_path / "interrupted"
    counting_evaluate(monkeypatch, interrupt_at=3)
    assert run_table(root, out, edsr, "bicubic") == 130
    assert len(list((out / "pairs").rglob("*.json"))) == 2
    assert not (out / "table.md").exists()
    capsys.readouterr()

    calls = counting_evaluate(monkeypatch)
    assert run_table(root, out, edsr, "bicubic") == 0
    assert len(calls) == pairs - 2
    assert len(skipped_lines(capsys.readouterr().out)) == 2
    for name in ("table.md", "table.csv"):
        assert (out / name).read_text() == (whole / name).read_text()

    # a lost pair file: that pair alone is computed again
    (out / "pairs" / "bicubic" / "Alpha" / "x3.json").unlink()
    calls = counting_evaluate(monkeypatch)
    assert run_table(root, out, edsr, "bicubic") == 0
    assert calls == [3]
    printed = capsys.readouterr().out
    assert len(skipped_lines(printed)) == pairs - 1
    assert "finished earlier, skipped: edsr_x2 on Set5 x2" in printed
    assert (out / "table.csv").read_text() == (whole / "table.csv").read_text()


def test_pairs_of_other_settings_are_refused_or_recomputed(root, edsr, tmp_path, monkeypatch, capsys):
    out = tmp_path / "table"
    assert run_table(root, out, edsr, "bicubic") == 0
    capsys.readouterr()
    calls = counting_evaluate(monkeypatch)
    assert run_table(root, out, edsr, "bicubic", extra=["--limit", "1"]) == 2
    line = error_line(capsys)
    assert "6 finished pair(s)" in line and "hold other settings (limit, image_names;" in line
    assert "give --overwrite" in line and calls == []
    # a retrained checkpoint under the same name is no finished pair either
    save_checkpoint(edsr, EDSR(2, n_feats=8, n_resblocks=1))
    assert run_table(root, out, edsr, "bicubic") == 2
    assert "2 finished pair(s)" in error_line(capsys) and calls == []
    assert run_table(root, out, edsr, "bicubic", extra=["--limit", "1", "--overwrite"]) == 0
    assert len(calls) == 6
    assert "the first 1 images of each set (--limit)" in (out / "table.md").read_text()
    pair = json.loads((out / "pairs" / "bicubic" / "Set5" / "x2.json").read_text())
    assert pair["limit"] == 1 and pair["image_names"] == ["apple"] and len(pair["images"]) == 1


def test_a_failing_set_fails_its_pairs_only(root, tmp_path, capsys):
    (root / "Alpha" / "fig.png").write_text("not an image")
    out = tmp_path / "table"
    assert run_table(root, out, "bicubic") == 2
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if "bicubic on Alpha" in line and "failed" in line]
    assert len(failures) == 2 and all("fig.png" in line for line in failures)
    assert "2 of 4 pair(s) failed" in err
    _, (row,) = read_csv(out)
    assert row[5:] == ["", "", "", ""] and all(row[1:5])
    assert md_rows(out)[1][3:] == ["failed", "failed"]
    assert run_table(root, tmp_path / "strict", "bicubic", extra=["--strict"]) == 2
    line = error_line(capsys)
    assert "bicubic on Alpha x2: " in line and "fig.png" in line


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--benchmark", "{missing}", "--scales", "2"], "benchmark folder not found: "),
        (["--benchmark", "{root}/notes", "--scales", "2"], "no sets in "),
        (["--benchmark", "{root}", "--scales", "2", "--weights", "{missing}"], "weights file not found: "),
        (["--benchmark", "{root}", "--scales", "2", "--dataset", "{root}/Alpha"], "not both"),
        (["--benchmark", "{root}", "--scale", "2"], "--benchmark takes --scales (one or more), not --scale"),
        (["--benchmark", "{root}"], "--benchmark needs --scales"),
        (["--benchmark", "{root}", "--scales", "2", "--probe-graph"], "--probe-graph is for one set"),
        (["--dataset", "{root}/Alpha", "--scales", "2"], "--scales goes with --benchmark"),
        (
            ["--dataset", "{root}/Alpha", "--scale", "2", "--weights", "bicubic", "graph"],
            "evaluates one --weights, got 2",
        ),
        (["--scale", "2"], "give --dataset DIR|photos|held_out (one set) or --benchmark ROOT"),
        (
            ["--benchmark", "{root}", "--scales", "2", "--weights", "bicubic", "graph", "bicubic"],
            "two --weights make the row 'bicubic'",
        ),
        (["--benchmark", "{root}", "--scales", "2", "--weights", "a/b=graph"], "cannot name a row 'a/b'"),
        (["--benchmark", "{root}", "--scales", "3", "--weights", "{authors}"], "fits no IGNN at x3"),
    ],
)
def test_bad_input_is_one_line(root, tmp_path, capsys, argv, message):
    authors = tmp_path / "IGNN_x9.pth"
    torch.save({"net_state_dict": {"head.0.weight": torch.zeros(1)}}, authors)
    argv = [arg.format(root=root, missing=tmp_path / "missing", authors=authors) for arg in argv]
    weights = [] if "--weights" in argv else ["--weights", "bicubic"]
    assert main(["eval", *weights, *argv, "--out", str(tmp_path / "out")]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_bad_input_is_one_line_from_the_process(root, tmp_path):
    result = run_cli(
        "eval", "--weights", "bicubic", "--benchmark", root, "--scales", 2, "--dataset", root, "--out", tmp_path / "o"
    )
    assert result.returncode == 2
    assert one_line_error(result) == (
        "ignn-pyg eval: error: give --dataset (one set) or --benchmark (every set under a folder), not both"
    )


def test_eval_photos_as_a_set_give_the_demo_row(tmp_path):
    """The eval photos written losslessly as ``Photos/HR/*.png``: the LR images are made by
    the same MATLAB bicubic, so the bundled IGNN x2 and bicubic cells are the documented
    rows of ``make demo`` (docs/model_zoo.md: 31.34 / 0.9000 and 33.41 / 0.9298)."""
    try:
        names = PhotoDataset("eval", 2).names
    except PhotoNotInstalledError as err:
        pytest.skip(f"eval photos not installed: {err}")
    root, out = tmp_path / "root", tmp_path / "table"
    for name in names:
        write_image(root / "Photos" / "HR" / f"{name}.png", load_photo(name))
    weights = bundled_weights(2, "ignn")
    assert (
        main(
            ["eval", "--benchmark", str(root), "--scales", "2", "--weights", str(weights), "bicubic"]
            + ["--out", str(out)]
        )
        == 0
    )
    _, rows = read_csv(out)
    cells = {row[0]: (float(row[1]), float(row[2])) for row in rows}
    assert abs(cells[weights.stem][0] - 33.41) <= 0.005
    assert md_rows(out)[1:] == [[weights.stem, "33.41 / 0.9298"], ["bicubic", "31.34 / 0.9000"]]
