from __future__ import annotations

import imageio.v3 as iio

from ignn_pyg.training.logs import COLUMNS, CSVLog, plot_progress


def test_csv_log_appends_and_drops_rows_past_the_resume_point(tmp_path):
    path = tmp_path / "log.csv"
    log = CSVLog(path)
    for it in (1, 2, 3):
        log.append({"iteration": it, "loss": 10.0 / it, "val_psnr": 30 + it if it == 2 else ""})
    rows = log.read()
    assert [r["iteration"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["val_psnr"] == "32" and rows[0]["val_psnr"] == "" and list(rows[0]) == list(COLUMNS)
    resumed = CSVLog(path, resume_from=2)
    assert [r["iteration"] for r in resumed.read()] == ["1", "2"]
    assert [r["iteration"] for r in CSVLog(path).read()] == []


def test_progress_plot_is_a_png(tmp_path):
    rows = [
        {"iteration": str(i), "loss": str(50.0 / i), "val_psnr": str(20 + i) if i % 2 == 0 else ""} for i in range(1, 7)
    ]
    plot_progress(rows, tmp_path / "progress.png", bicubic_psnr=24.0)
    image = iio.imread(tmp_path / "progress.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    assert [p.name for p in tmp_path.iterdir()] == ["progress.png"]
