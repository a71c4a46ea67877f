"""ignn-pyg upscale end to end on tiny checkpoints and synthetic images."""

import numpy as np
import pytest
import torch

from ignn_pyg.checkpoints import load_weights, save_checkpoint
from ignn_pyg.cli import main
from ignn_pyg.data import image_to_tensor, read_image, tensor_to_image, write_image
from ignn_pyg.inference import forward_whole
from ignn_pyg.internal_sr import InternalSRConfig, internal_sr
from ignn_pyg.models import EDSR
from ignn_pyg.upscale import bundled_weights


def photo(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    write_image(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


def test_single_image_matches_library_forward(tmp_path, checkpoint):
    src = photo(tmp_path / "in.png", 21, 18)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--weights", str(checkpoint)]) == 0
    out = read_image(tmp_path / "out.png")
    expected = tensor_to_image(forward_whole(load_weights(checkpoint), image_to_tensor(read_image(src))))
    assert out.shape == (42, 36, 3)
    np.testing.assert_array_equal(out, expected)


def test_folder_and_tiling(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "edsr.pt"
    save_checkpoint(ckpt, EDSR(2, n_feats=8, n_resblocks=1))
    folder = tmp_path / "photos"
    photo(folder / "a.png", 40, 30, 1)
    photo(folder / "b.jpg", 17, 23, 2)
    (folder / "notes.txt").write_text("not an image")
    whole = tmp_path / "whole"
    tiled = tmp_path / "tiled"
    assert main(["upscale", str(folder), "-o", str(whole), "--weights", str(ckpt)]) == 0
    assert main(["upscale", str(folder), "-o", str(tiled), "--weights", str(ckpt),
                 "--max-pixels", "100", "--tile", "24", "--overlap", "8"]) == 0
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
    with pytest.raises(ValueError, match="no bundled ignn model for x3"):
        bundled_weights(3)


def test_graph_method(tmp_path, capsys):
    src = photo(tmp_path / "in.png", 24, 20)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--method", "graph"]) == 0
    expected = tensor_to_image(internal_sr(image_to_tensor(read_image(src)), InternalSRConfig(scale=2))[0])
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), expected)
    assert main(["upscale", str(src), "--method", "graph", "--weights", "x.pt"]) == 2
    assert "--method graph uses no model" in capsys.readouterr().err
