"""The main job end to end on tiny checkpoints and the first installed eval photo."""

import numpy as np
import pytest
import torch

from ignn_pyg.commands.demo import centre_crops, crop_titles
from ignn_pyg.commands.main import main
from ignn_pyg.data import read_image
from ignn_pyg.evaluation.metrics import psnr
from ignn_pyg.graph.study import LEGEND_ROW, QUERY_COLOUR, RANK_COLOURS, WINDOW_COLOUR
from ignn_pyg.inference.checkpoints import save_checkpoint
from ignn_pyg.models import EDSR, IGNN


@pytest.mark.precision_default
def test_demo_writes_table_images_and_pictures(tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ignn.pt", IGNN(2, n_feats=8, n_resblocks=2))
    save_checkpoint(tmp_path / "edsr.pt", EDSR(2, n_feats=8, n_resblocks=2))
    save_checkpoint(tmp_path / "detail.pt", IGNN(2, n_feats=8, n_resblocks=2, aggregation="ignn_detail"))
    out = tmp_path / "out"
    assert (
        main(
            [
                "demo",
                "--out",
                str(out),
                "--ignn",
                str(tmp_path / "ignn.pt"),
                "--edsr",
                str(tmp_path / "edsr.pt"),
                "--ignn-detail",
                str(tmp_path / "detail.pt"),
                "--limit",
                "1",
            ]
        )
        == 0
    )
    table = (out / "table.md").read_text()
    assert "| photo | bicubic | EDSR | IGNN | IGNN-detail |" in table
    assert "| astronaut |" in table and "| mean |" in table
    assert table.strip() in capsys.readouterr().out
    for method in ("edsr", "ignn", "ignn-detail"):
        assert (out / "images" / method / "astronaut.png").is_file()
    picture = read_image(out / "comparison.png")
    assert picture.shape[1] > 2.5 * picture.shape[0]  # one row of five labelled crops
    overlay = read_image(out / "graph_overlay.png")  # the 256 x 256 LR photo at x2, the legend below
    assert overlay.shape[0] == 512 + 4 * LEGEND_ROW and overlay.shape[1] >= 512
    band = overlay[512:]
    for colour in (QUERY_COLOUR, WINDOW_COLOUR, *RANK_COLOURS[:5]):  # k = 5
        assert (band == np.array(colour, np.uint8)).all(-1).any()


def test_centre_crops_and_their_psnr_titles():
    hr = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    crops = centre_crops([hr, hr[::-1].copy()], (50, 60), 2)
    side = 48 * 2
    assert [c.shape for c in crops] == [(side, side, 3)] * 2
    np.testing.assert_array_equal(crops[0], hr[2 : 2 + side, 12 : 12 + side])
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    noisy = np.clip(truth + rng.normal(0, 5, truth.shape), 0, 255).astype(np.uint8)
    titles = crop_titles([noisy, truth, truth], ["EDSR", "IGNN", "ground truth"], 2)
    assert titles[0] == f"EDSR  {psnr(noisy, truth, 2):.2f} dB"
    assert titles[1] == "IGNN  inf dB" and titles[2] == "ground truth"
