"""``ignn-pyg graph`` end to end: the study files, ``--weights``, errors, and the explorer
page in a real browser (headless Chromium, ``tests/browser.py``)."""

import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from ignn_pyg.commands.main import main
from ignn_pyg.data import image_to_tensor, photo_path, read_image, tensor_to_image
from ignn_pyg.data.resize import downsample_for_graph, modcrop
from ignn_pyg.graph import CrossScaleGraph
from ignn_pyg.graph.explorer_page import read_explorer_page
from ignn_pyg.graph.study import LEGEND_ROW
from ignn_pyg.inference.checkpoints import load_weights, save_checkpoint
from ignn_pyg.models import IGNN
from tests.browser import browser_unavailable, headless_chromium

BUNDLED_X2 = Path(__file__).resolve().parents[2] / "ignn_pyg" / "weights" / "ignn_x2_compact.pt"
EDSR_X2 = BUNDLED_X2.with_name("edsr_x2_compact.pt")


@pytest.fixture
def photo(tmp_path):
    """A 41x37 smooth colour image with some texture."""
    rows, cols = np.mgrid[0:41, 0:37]
    rng = np.random.default_rng(0)
    img = np.stack([rows * 5, cols * 6, (rows + cols) * 3], -1) + rng.integers(0, 40, (41, 37, 3))
    path = tmp_path / "photo.png"
    iio.imwrite(path, np.clip(img, 0, 255).astype(np.uint8))
    return path


@pytest.mark.parametrize("embedding", ["vgg", "pixel"])
def test_cli_end_to_end(tmp_path, photo, capsys, embedding):
    out = tmp_path / "study"
    status = main(
        [
            "graph",
            str(photo),
            "--scale",
            "2",
            "--window",
            "4",
            "--num-neighbors",
            "3",
            "--embedding",
            embedding,
            "--sample",
            "7",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    g = CrossScaleGraph.load(out / "graph.pt")
    assert summary["lr_size"] == [40, 36] and summary["down_size"] == [20, 18]  # cropped to even
    assert g.num_edges == summary["edges"] == 20 * 18 * 3  # 40x36 -> 20x18 (pad) patches
    assert g.num_source_nodes == summary["down_patches"] == 10 * 9
    assert g.edge_attr.shape[1] == (64 if embedding == "vgg" else 3)
    overlay = iio.imread(out / "overlay.png")
    assert overlay.shape[0] == 13 * 40 + 4 * LEGEND_ROW and overlay.shape[1] >= 13 * 36  # x13 to >= 512 px, legend
    data, arrays = read_explorer_page((out / "explorer.html").read_text())
    np.testing.assert_array_equal(arrays["source"], g.neighbors().numpy())
    assert data["weights"] is None and data["title"] == "photo.png"
    assert f"{summary['edges']:,}" in capsys.readouterr().out


def test_cli_vgg_seed_is_reproducible(tmp_path, photo):
    for name in ("a", "b"):
        assert main(["graph", str(photo), "--seed", "3", "--out", str(tmp_path / name)]) == 0
    a, b = (CrossScaleGraph.load(tmp_path / name / "graph.pt") for name in ("a", "b"))
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_attr, b.edge_attr)


def one_line_error(capsys, argv):
    """Run ``argv``; expect exit status 2 and stderr ending in one ``error:`` line.  Returns
    that line.  Errors found before any work starts are all of stderr."""
    status = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert lines[-1].startswith("ignn-pyg graph: error:")
    assert not any("error" in line for line in lines[:-1])
    return lines[-1], len(lines)


def test_cli_missing_file(tmp_path, capsys):
    err, num_lines = one_line_error(capsys, ["graph", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o")])
    assert "nope.png" in err and num_lines == 1
    assert not (tmp_path / "o").exists()


def test_cli_image_smaller_than_a_patch(tmp_path, capsys):
    path = tmp_path / "tiny.png"
    iio.imwrite(path, np.full((5, 9, 3), 128, np.uint8))  # 4x8 after crop, 2x4 downsampled
    err, num_lines = one_line_error(capsys, ["graph", str(path), "--out", str(tmp_path / "o")])
    assert "4x8" in err and "6x6" in err and num_lines == 1


def test_cli_bad_values(tmp_path, photo, capsys):
    assert one_line_error(capsys, ["graph", str(photo), "--scale", "1", "--out", str(tmp_path / "o")])[1] == 1
    err, _ = one_line_error(capsys, ["graph", str(photo), "--num-neighbors", "0", "--out", str(tmp_path / "o")])
    assert "num_neighbors" in err  # found by the graph builder, after the progress lines


def test_cli_cluster_backend_without_torch_cluster(tmp_path, photo, capsys, monkeypatch):
    """Without the optional `cluster` extra, --backend cluster is one line that says what
    to install, and nothing is written."""
    from ignn_pyg.graph import knn

    monkeypatch.setattr(knn, "cluster_available", lambda: False)
    err, num_lines = one_line_error(capsys, ["graph", str(photo), "--backend", "cluster", "--out", str(tmp_path / "o")])
    assert "torch-cluster" in err and "pip install" in err and num_lines == 1
    assert not (tmp_path / "o").exists()


def write_photo_crop(path, rows=slice(40, 136), cols=slice(150, 262)):
    """A crop of scikit-image's astronaut (helmet and face), a real photo."""
    iio.imwrite(path, read_image(photo_path("astronaut"))[rows, cols])
    return path


def test_weights_build_the_models_graph(tmp_path, capsys):
    image = write_photo_crop(tmp_path / "astronaut.png")
    out = tmp_path / "study"
    assert main(["graph", str(image), "--weights", str(BUNDLED_X2), "--out", str(out)]) == 0
    model = load_weights(BUNDLED_X2)
    graph = CrossScaleGraph.load(out / "graph.pt")
    expected = model.build_graph(modcrop(image_to_tensor(read_image(image)), 2))
    assert torch.equal(graph.edge_index, expected.edge_index) and torch.equal(graph.distance, expected.distance)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["num_neighbors"], summary["window"]) == (model.config.num_neighbors, model.config.window)
    data, arrays = read_explorer_page((out / "explorer.html").read_text())
    assert data["weights"] == {"label": BUNDLED_X2.name, "per_pixel": True, "nets": ["HR", "LR"]}
    with torch.no_grad():
        hr, lr = model.aggregation.rank_weights(graph)
    for name, weights in (("HR", hr[0]), ("LR", lr[0])):
        np.testing.assert_allclose(arrays[f"weights/{name}"] / 65535, weights.numpy(), atol=1e-5)
    assert {m["key"] for m in data["maps"]} >= {"entropy/HR", "entropy/LR"}


def test_weights_with_edge_fusion(tmp_path, photo):
    torch.manual_seed(0)
    path = tmp_path / "edge.pt"
    save_checkpoint(path, IGNN(2, n_feats=8, n_resblocks=2, window=4, fusion="edge"))
    assert main(["graph", str(photo), "--weights", str(path), "--out", str(tmp_path / "o")]) == 0
    graph = CrossScaleGraph.load(tmp_path / "o" / "graph.pt")
    data, arrays = read_explorer_page((tmp_path / "o" / "explorer.html").read_text())
    assert data["weights"]["nets"] == ["edge"] and not data["weights"]["per_pixel"]
    with torch.no_grad():
        expected = load_weights(path).aggregation.edge_weights(graph).view(-1, graph.num_neighbors)
    np.testing.assert_allclose(arrays["weights/edge"] / 65535, expected.numpy(), atol=1e-5)


def test_weights_errors(tmp_path, photo, checkpoint, capsys):
    out = ["--out", str(tmp_path / "o")]
    err, _ = one_line_error(capsys, ["graph", str(photo), "--weights", str(checkpoint), "--window", "30", *out])
    assert "--window 30 differs from the checkpoint's 4" in err
    # the tiny checkpoint's own values may be repeated
    assert main(["graph", str(photo), "--weights", str(checkpoint), "--window", "4", "--num-neighbors", "5", *out]) == 0
    capsys.readouterr()
    err, num_lines = one_line_error(capsys, ["graph", str(photo), "--weights", str(EDSR_X2), *out])
    assert "EDSR" in err and num_lines == 1
    err, _ = one_line_error(capsys, ["graph", str(photo), "--weights", str(checkpoint), "--scale", "3", *out])
    assert "x2 model, not x3" in err
    err, _ = one_line_error(capsys, ["graph", str(photo), "--weights", str(tmp_path / "none.pt"), *out])
    assert "none.pt" in err and "does not exist" in err


# ---- the page in a real browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    reason = browser_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    with headless_chromium() as driver:
        yield driver


def wait_for(driver, condition, what, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(condition), message=what)


def shown_neighbours(driver, query):
    wait_for(
        driver, f"return document.getElementById('neighbors').dataset.query === '{query}'", f"query {query} selected"
    )
    return driver.execute_script(
        "return Array.from(document.getElementById('neighbors').children, el => "
        "[el.dataset.source, el.dataset.rank, el.dataset.distance])"
    )


def check_neighbours(driver, graph, query):
    k = graph.num_neighbors
    shown = shown_neighbours(driver, query)
    assert [int(source) for source, _, _ in shown] == graph.neighbors()[query].tolist()
    assert [int(rank) for _, rank, _ in shown] == list(range(k))
    # the float32 distance, printed so that it reads back exactly
    assert [float(d) for _, _, d in shown] == graph.distance[query * k : (query + 1) * k].tolist()


def shown_patches(driver, sizes):
    """The pixels of each neighbour's two enlarged patches, ``[k, 2, size, size, 3]``, read
    at the centre of each enlarged pixel (sizes: downsampled patch, LR region)."""
    return driver.execute_script(
        """
        const sizes = arguments[0];
        return Array.from(document.getElementById('neighbors').children, row =>
          Array.from(row.querySelectorAll('canvas'), (canvas, i) => {
            const n = canvas.width, size = sizes[i];
            const data = canvas.getContext('2d').getImageData(0, 0, n, n).data, out = [];
            for (let y = 0; y < size; y++) {
              const line = [];
              for (let x = 0; x < size; x++) {
                const o = 4 * (Math.floor((y + 0.5) * n / size) * n + Math.floor((x + 0.5) * n / size));
                line.push([data[o], data[o + 1], data[o + 2]]);
              }
              out.push(line);
            }
            return out;
          }));""",
        sizes,
    )


def image_patch(image, top, left, size):
    """``image[top:top+size, left:left+size]`` with black where it reaches past the image."""
    out = np.zeros((size, size, 3), np.uint8)
    h, w = image.shape[:2]
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + size, h), min(left + size, w)
    out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_page_in_browser(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    image = write_photo_crop(tmp_path / "astronaut.png")
    out = tmp_path / "study"
    assert main(["graph", str(image), "--weights", str(BUNDLED_X2), "--out", str(out)]) == 0
    graph = CrossScaleGraph.load(out / "graph.pt")
    with torch.no_grad():
        hr, lr = load_weights(BUNDLED_X2).aggregation.rank_weights(graph)
    weights = {"HR": hr[0], "LR": lr[0]}
    page = (out / "explorer.html").as_uri()
    m, p = graph.num_target_nodes, graph.target_grid.patch_size
    queries = [0, m // 2 + 7, m - 1]  # a corner (its patch reaches into the padding), the middle, the last

    browser.get(f"{page}#query={queries[0]}")
    wait_for(browser, "return document.body.dataset.ready === 'true'", "page ready")
    lr_image = read_image(image)
    down_image = tensor_to_image(downsample_for_graph(image_to_tensor(lr_image), 2))
    s = graph.scale
    for i, query in enumerate(queries):
        if i:
            browser.execute_script("location.hash = arguments[0]", f"query={query}")
        check_neighbours(browser, graph, query)
        # each neighbour's downsampled patch and the s-times larger LR region it stands for
        for source, (down_patch, region) in zip(graph.neighbors()[query].tolist(), shown_patches(browser, [p, s * p])):
            top, left = graph.source_pos[source].tolist()
            np.testing.assert_array_equal(np.array(down_patch), image_patch(down_image, top, left, p))
            np.testing.assert_array_equal(np.array(region), image_patch(lr_image, s * top, s * left, s * p))
        cells = browser.execute_script(
            "return Array.from(document.querySelectorAll('#weights td'), td => "
            "[td.dataset.net, td.dataset.rank, td.dataset.row, td.dataset.col, td.dataset.weight])"
        )
        top, left = graph.target_pos[query].tolist()
        pixels = {
            (y, x)
            for y in range(top, top + p)
            for x in range(left, left + p)
            if 0 <= y < graph.target_grid.height and 0 <= x < graph.target_grid.width
        }
        assert {(int(y), int(x)) for _, _, y, x, _ in cells} == pixels
        assert len(cells) == 2 * graph.num_neighbors * len(pixels)
        for net, rank, y, x, w in cells:
            assert float(w) == pytest.approx(float(weights[net][int(rank), int(y), int(x)]), abs=1e-5)

    # hovering selects the query whose patch is centred under the pointer, once unpinned
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    overlay = browser.find_element(By.ID, "overlay")
    zoom = overlay.size["width"] / graph.target_grid.width
    target = 3 * graph.target_grid.cols + 5
    cy, cx = (graph.target_pos[target].double() + p / 2).tolist()
    ActionChains(browser).move_to_element_with_offset(
        overlay, round(cx * zoom - overlay.size["width"] / 2), round(cy * zoom - overlay.size["height"] / 2)
    ).perform()
    check_neighbours(browser, graph, target)

    # every map draws; the legend names it
    select = Select(browser.find_element(By.ID, "map-select"))
    labels = [option.text for option in select.options[1:]]
    assert len(labels) == 5  # distance, displacement, border, HR and LR entropy
    for label in labels:
        select.select_by_visible_text(label)
        assert label in browser.find_element(By.ID, "legend").text
    assert browser.find_element(By.ID, "status").text == ""
    assert console_errors(browser) == []


def test_page_without_weights_in_browser(browser, tmp_path):
    image = write_photo_crop(tmp_path / "astronaut.png", slice(200, 264), slice(220, 300))
    out = tmp_path / "study"
    assert main(["graph", str(image), "--num-neighbors", "4", "--window", "8", "--out", str(out)]) == 0
    graph = CrossScaleGraph.load(out / "graph.pt")
    browser.get((out / "explorer.html").as_uri() + "#query=17")
    check_neighbours(browser, graph, 17)
    assert browser.execute_script("return document.getElementById('weights-section').hidden")
    assert console_errors(browser) == []


def test_an_earlier_run_needs_overwrite(tmp_path, photo, capsys):
    out = tmp_path / "o"
    args = ["graph", str(photo), "--embedding", "pixel", "--out", str(out)]
    assert main(args) == 0
    before = (out / "graph.pt").read_bytes()
    capsys.readouterr()
    err, _ = one_line_error(capsys, args)
    assert "4 output file(s) exist already" in err and "--overwrite" in err
    assert (out / "graph.pt").read_bytes() == before
    assert main([*args, "--overwrite", "--seed", "1"]) == 0


def test_a_folder_is_no_image(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    err, num_lines = one_line_error(capsys, ["graph", str(tmp_path / "photos"), "--out", str(tmp_path / "o")])
    assert num_lines == 1 and err == f"ignn-pyg graph: error: {tmp_path / 'photos'} is a folder, not an image file"
