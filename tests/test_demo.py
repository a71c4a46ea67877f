"""The main job end to end on tiny checkpoints and the first installed eval photo."""


import numpy as np
import torch

from ignn_pyg.checkpoints import save_checkpoint
from ignn_pyg.cli import main
from ignn_pyg.data import read_image
from ignn_pyg.demo import comparison_strip
from ignn_pyg.models import EDSR, IGNN


def test_demo_writes_table_images_and_pictures(tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ignn.pt", IGNN(2, n_feats=8, n_resblocks=2))
    save_checkpoint(tmp_path / "edsr.pt", EDSR(2, n_feats=8, n_resblocks=2))
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--ignn", str(tmp_path / "ignn.pt"),
                 "--edsr", str(tmp_path / "edsr.pt"), "--limit", "1"]) == 0
    table = (out / "table.md").read_text()
    assert "| astronaut |" in table and "| mean |" in table
    assert table.strip() in capsys.readouterr().out
    assert (out / "images" / "ignn" / "astronaut.png").is_file()
    assert read_image(out / "comparison.png").shape == (2 * 96 + 8, 2 * (4 * 96 + 3 * 4), 3)
    assert read_image(out / "graph_overlay.png").shape == (256, 256, 3)


def test_comparison_strip_takes_centre_crops():
    hr = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    strip = comparison_strip([hr, hr], (50, 60), 2)
    side = 48 * 2
    assert strip.shape == (2 * side, 2 * (2 * side + 4), 3)
    np.testing.assert_array_equal(strip[::2, ::2][:, :side], hr[2:2 + side, 12:12 + side])
    assert (strip[:, 2 * side:2 * side + 8] == 255).all()
