"""Every k-NN backend against brute force over the window's candidates (float64)."""

import pytest
import torch

from ignn_pyg.graph import knn
from ignn_pyg.graph.knn import cluster_available, cluster_knn, dense_knn, resolve_backend
from ignn_pyg.graph.patches import extract_patches
from ignn_pyg.graph.windows import search_windows, window_candidates

BACKENDS = {"dense": dense_knn, "cluster": cluster_knn}
# torch-cluster is the optional `cluster` extra (make test installs it)
BACKEND_PARAMS = [
    "dense",
    pytest.param(
        "cluster",
        marks=pytest.mark.skipif(not cluster_available(), reason="torch-cluster not installed (extra 'cluster')"),
    ),
]
DEVICE_PARAMS = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")),
]


def brute_force(query, source, windows, source_grid):
    """Sorted float64 distances and the candidate lists, per query."""
    m = query.shape[1]
    cands = torch.arange(source.shape[1]).expand(m, -1) if windows is None else window_candidates(windows, source_grid)
    q, s = query.double(), source.double()
    d = ((q[:, :, None, :] - s[:, cands]) ** 2).sum(-1)  # [B, M, O]
    return d.sort(-1).values, cands, d


def assert_same_neighbours(idx, query, source, windows, source_grid, k):
    """Returned neighbours lie in the window and have the brute-force k smallest
    distances; sets are equal wherever the k-th and (k+1)-th distance are not a near-tie."""
    sorted_d, cands, full_d = brute_force(query, source, windows, source_grid)
    b, m, _ = query.shape
    got = ((query.double()[:, :, None, :] - source.double()[torch.arange(b)[:, None, None], idx]) ** 2).sum(-1)
    in_window = (idx[..., None] == cands[None, :, None, :]).any(-1)
    assert bool(in_window.all()), "a neighbour lies outside its search window"
    assert bool((got[..., 1:] >= got[..., :-1] - 1e-4 * got[..., 1:].abs()).all()), "not nearest first"
    torch.testing.assert_close(got, sorted_d[..., :k], rtol=1e-5, atol=1e-4)
    if sorted_d.shape[-1] > k:
        gap = sorted_d[..., k] - sorted_d[..., k - 1]
        clear = gap > 1e-4 * sorted_d[..., k].abs().clamp_min(1)
        ref_sets = full_d.topk(k, -1, largest=False).indices
        ref_ids = cands[torch.arange(m)[None, :, None], ref_sets] if windows is not None else ref_sets
        same = (idx.sort(-1).values == ref_ids.sort(-1).values).all(-1)
        assert bool(same[clear].all())
        assert float(clear.float().mean()) > 0.9


CASES = [
    # (B, C, H, W, scale, window, indexing)
    (1, 3, 24, 24, 2, 4, "reference"),
    (2, 4, 21, 17, 2, 3, "reference"),  # batch > 1, odd and non-square
    (1, 2, 30, 19, 3, 3, "reference"),  # x3 off-centre windows
    (1, 3, 26, 33, 2, 5, "centered"),
    (2, 2, 18, 14, 2, 50, "reference"),  # window larger than the grid: global
    (1, 2, 40, 12, 2, 6, "reference"),  # window > one side only
]


@pytest.mark.parametrize("device", DEVICE_PARAMS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("case", CASES)
def test_backend_matches_brute_force_random(backend, case, device):
    b, c, h, w, s, window, indexing = case
    torch.manual_seed(0)
    lr = torch.randn(b, c, h, w)
    down = torch.randn(b, c, h // s, w // s)
    query, tg = extract_patches(lr, 3, 2)
    source, sg = extract_patches(down, 3, 2)
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), window, s, indexing)
    k = 4
    idx = BACKENDS[backend](query.to(device), source.to(device), (tg.rows, tg.cols), (sg.rows, sg.cols), windows, k)
    assert idx.shape == (b, tg.num_patches, k) and idx.device.type == device
    idx = idx.cpu()
    assert_same_neighbours(idx, query, source, windows, (sg.rows, sg.cols), k)


def test_dense_tiles_do_not_change_result():
    torch.manual_seed(1)
    query, tg = extract_patches(torch.randn(1, 3, 45, 38), 3, 2)
    source, sg = extract_patches(torch.randn(1, 3, 22, 19), 3, 2)
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 5, 2)
    a = dense_knn(query, source, (tg.rows, tg.cols), (sg.rows, sg.cols), windows, 3, tile=16)
    b = dense_knn(query, source, (tg.rows, tg.cols), (sg.rows, sg.cols), windows, 3, tile=3)
    assert torch.equal(a.sort(-1).values, b.sort(-1).values)


@pytest.mark.parametrize("tile", [1, 4])
def test_dense_widened_candidate_rows_match_brute_force(tile):
    """A 9-of-10-column window: each tile's block is widened to whole source rows (extra
    columns masked); the neighbours stay the brute-force ones."""
    torch.manual_seed(2)
    query, tg = extract_patches(torch.randn(1, 3, 40, 44), 3, 2)
    source, sg = extract_patches(torch.randn(1, 3, 20, 22), 3, 2)
    assert sg.cols == 11
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 10, 2)
    idx = dense_knn(query, source, (tg.rows, tg.cols), (sg.rows, sg.cols), windows, 4, tile=tile)
    assert_same_neighbours(idx, query, source, windows, (sg.rows, sg.cols), 4)


@pytest.mark.parametrize("device", DEVICE_PARAMS)
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_backend_matches_brute_force_real_image(backend, device):
    """A real photograph (scikit-image's astronaut) through the VGG embedding."""
    from ignn_pyg.data import image_to_tensor, imresize, photo_path, read_image
    from ignn_pyg.graph import VGGEmbedding

    torch.manual_seed(0)
    lr = image_to_tensor(read_image(photo_path("astronaut")))[:, :, 100:164, 180:236]
    down = (imresize(lr / 255, 0.5) * 255).clamp(0, 255)
    embed = VGGEmbedding()
    with torch.no_grad():
        query, tg = extract_patches(embed(lr), 3, 2)
        source, sg = extract_patches(embed(down), 3, 2)
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 6, 2, "reference")
    idx = BACKENDS[backend](
        query.to(device), source.to(device), (tg.rows, tg.cols), (sg.rows, sg.cols), windows, 5
    ).cpu()
    assert_same_neighbours(idx, query, source, windows, (sg.rows, sg.cols), 5)


@pytest.mark.skipif(not (torch.cuda.is_available() and cluster_available()), reason="needs CUDA and torch-cluster")
def test_cluster_on_cuda_refuses_distances_its_kernel_drops():
    """torch_cluster's CUDA kernel starts from a best distance of 1e10 and returns fewer
    than k neighbours beyond it; the backend raises instead of returning garbage."""
    torch.manual_seed(3)
    query, tg = extract_patches(torch.randn(1, 3, 16, 16) * 1e5, 3, 2)
    source, sg = extract_patches(torch.randn(1, 3, 8, 8) * 1e5, 3, 2)
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 3, 2)
    with pytest.raises(RuntimeError, match="sqrt\\(1e10\\)"):
        cluster_knn(query.cuda(), source.cuda(), (tg.rows, tg.cols), (sg.rows, sg.cols), windows, 3)
    assert_same_neighbours(
        dense_knn(query.cuda(), source.cuda(), (tg.rows, tg.cols), (sg.rows, sg.cols), windows, 3).cpu(),
        query,
        source,
        windows,
        (sg.rows, sg.cols),
        3,
    )


def test_auto_backend_without_torch_cluster(monkeypatch):
    """Without the optional extra, asking for "cluster" is one ImportError that names the
    package and the alternative; "auto" needs nothing."""
    monkeypatch.setattr(knn, "cluster_available", lambda: False)
    assert resolve_backend("auto") == "dense"
    with pytest.raises(ImportError, match="torch-cluster.*backend 'dense'"):
        resolve_backend("cluster")


def test_auto_backend_with_torch_cluster(monkeypatch):
    """ "auto" is the dense search also where torch-cluster is installed (measured faster
    on CPU and on GPU: docs/cuda.md); "cluster" must be asked for."""
    monkeypatch.setattr(knn, "cluster_available", lambda: True)
    assert resolve_backend("auto") == "dense"
    assert resolve_backend("cluster") == "cluster"
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("kdtree")
