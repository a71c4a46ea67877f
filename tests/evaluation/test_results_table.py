"""The results table on hand-made cells, and the pair files' settings check."""

import csv

from ignn_pyg.evaluation.results_table import (
    FAILED,
    NOT_MADE_FOR_SCALE,
    ResultsTable,
    TableColumn,
    changed_settings,
    pair_file,
    read_pair,
    write_pair,
)

SET5_X2, SET5_X3 = TableColumn("Set5", 2), TableColumn("Set5", 3)


def test_markdown_and_csv_of_hand_made_cells(tmp_path):
    table = ResultsTable(
        models=["bicubic", "ignn"],
        columns=[SET5_X2, SET5_X3],
        cells={
            ("bicubic", SET5_X2): (33.664999, 0.92994),
            ("bicubic", SET5_X3): (30.39, 0.8682),
            ("ignn", SET5_X2): (38.24, 0.1 + 0.2),
            ("ignn", SET5_X3): NOT_MADE_FOR_SCALE,
        },
        title="title",
        notes=[f"{FAILED}: never"],
    )
    assert table.to_markdown().splitlines() == [
        "title",
        "",
        "| model | Set5 x2 | Set5 x3 |",
        "| --- | ---: | ---: |",
        "| bicubic | 33.66 / 0.9299 | 30.39 / 0.8682 |",
        "| ignn | 38.24 / 0.3000 | — |",
        "",
        "- failed: never",
    ]
    table.write(tmp_path)
    assert (tmp_path / "table.md").read_text() == table.to_markdown() + "\n"
    with open(tmp_path / "table.csv", newline="") as handle:
        header, bicubic, ignn = list(csv.reader(handle))
    assert header == ["model", "Set5 x2 PSNR", "Set5 x2 SSIM", "Set5 x3 PSNR", "Set5 x3 SSIM"]
    assert bicubic == ["bicubic", "33.664999", "0.92994", "30.39", "0.8682"]
    assert ignn[:3] == ["ignn", "38.24", repr(0.1 + 0.2)] and float(ignn[2]) == 0.1 + 0.2  # reads back exactly
    assert ignn[3:] == ["", ""]


def test_a_pair_is_finished_when_its_file_holds_the_same_settings(tmp_path):
    path = pair_file(tmp_path, "ignn", SET5_X2)
    assert path == tmp_path / "pairs" / "ignn" / "Set5" / "x2.json"
    assert read_pair(path) is None
    settings = {"scale": 2, "image_names": ("baby", "bird"), "limit": None}
    write_pair(path, {**settings, "mean": {"psnr": 1.0}})
    stored = read_pair(path)
    assert changed_settings(stored, settings) == []  # the tuple is stored as a list
    assert changed_settings(stored, {**settings, "limit": 1, "tile": None}) == ["limit", "tile"]
    path.write_text("{ half written")
    assert read_pair(path) is None
    path.write_text("[1, 2]")
    assert read_pair(path) is None
