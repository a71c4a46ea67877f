"""The bundled x2 models reproduce the eval-photo numbers docs/model_zoo.md documents
(``experiments/results/model_zoo.json``, written by ``experiments/zoo_report.py``): PSNR on
Y of two eval photos, exact float32 path, within 0.01 dB of the documented values."""

import json
from pathlib import Path

import pytest

from ignn_pyg.data import PhotoDataset
from ignn_pyg.evaluation import evaluate, make_forward
from ignn_pyg.inference.bundled import BUNDLED, bundled_weights
from ignn_pyg.inference.checkpoints import load_weights

ZOO = Path(__file__).resolve().parents[2] / "experiments" / "results" / "model_zoo.json"
PHOTOS = ("chelsea", "coffee")  # the two smallest eval photos


def documented(model: str) -> dict[str, float]:
    """``{photo: psnr}`` of ``model``'s row in model_zoo.json."""
    row = next(row for row in json.loads(ZOO.read_text()) if row["model"] == model)
    return {image["name"]: image["psnr"] for image in row["images"]}


@pytest.mark.parametrize("arch", sorted(arch for arch, scale in BUNDLED if scale == 2))
def test_a_bundled_model_reproduces_its_documented_psnr(arch, tmp_path):
    dataset = PhotoDataset("eval", 2)
    chosen = [dataset[dataset.names.index(name)] for name in PHOTOS]
    model = load_weights(bundled_weights(2, arch), 2)
    rows = evaluate(chosen, make_forward(model), 2, tmp_path, progress=False)
    expected = documented(f"{arch}_x2")
    for row in rows:
        assert row["psnr"] == pytest.approx(expected[row["name"]], abs=0.01), row["name"]
