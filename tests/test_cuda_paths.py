"""The CUDA paths against the CPU paths and brute force (skipped without a GPU).

* The graph built on the GPU, by either k-NN backend, has the brute-force neighbours of
  the CPU's float32 embeddings, also when the caller allowed TF32 everywhere.
* The exact path (fp32) on the GPU matches the CPU to float32 rounding with TF32
  allowed: its error bound is 32x below what TF32's 10-bit mantissas would leave.
* bf16 and fp16 on the GPU stay within the rounding of their depth, on the fp32 graph.
* ``ignn-pyg upscale --device cuda`` writes the CPU's image.
"""

from __future__ import annotations

import pytest
import torch

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.graph.knn import cluster_available
from ignn_pyg.graph.patches import extract_patches
from ignn_pyg.graph.windows import search_windows
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.precision import resolve_precision, tf32
from tests.graph.test_knn import assert_same_neighbours
from tests.models.test_autocast import astronaut_crop
from tests.models.test_ignn import randomize, textured_image

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

BACKEND_PARAMS = [
    "dense",
    pytest.param(
        "cluster",
        marks=pytest.mark.skipif(not cluster_available(), reason="torch-cluster not installed (extra 'cluster')"),
    ),
]
#: relative step of each low precision's significand
EPS = {"bf16": 2**-8, "fp16": 2**-11}


@pytest.fixture
def tf32_allowed():
    """What a user chasing speed sets: TF32 in every float32 convolution and matmul."""
    with tf32(True):
        yield


def learned_part(model: IGNN, out: torch.Tensor) -> float:
    """Largest magnitude of the output less its constant mean shift."""
    return float((out - model.output_shift(torch.zeros_like(out))).abs().max())


def conv_depth(model: IGNN) -> int:
    """Convolutions an output passes through, less the shifts and the VGG normalisation."""
    return sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) - 3


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_graph_on_cuda_has_the_brute_force_neighbours_with_tf32_allowed(backend, tf32_allowed):
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=6, backend=backend).eval()
    lr = astronaut_crop()
    cpu_graph = model.build_graph(lr)
    gpu_graph = model.cuda().build_graph(lr.cuda())
    assert gpu_graph.edge_index.device.type == "cuda"

    with torch.no_grad():  # brute force (float64) over every window of the CPU's float32 embeddings
        query, tg = extract_patches(model.embedding.cpu()(lr), 3, 2)
        source, sg = extract_patches(model.embedding(downsample_for_graph(lr, 2)), 3, 2)
    windows = search_windows((tg.rows, tg.cols), (sg.rows, sg.cols), 6, 2, "reference")
    assert_same_neighbours(gpu_graph.neighbors().cpu().view(1, -1, 5), query, source, windows, (sg.rows, sg.cols), 5)
    same = (gpu_graph.neighbors().cpu() == cpu_graph.neighbors()).all(1)
    assert float(same.float().mean()) > 0.99
    rows = same.repeat_interleave(5)  # edges are grouped by query, nearest first
    torch.testing.assert_close(gpu_graph.distance.cpu()[rows], cpu_graph.distance[rows], rtol=1e-5, atol=1e-3)


def test_exact_path_on_cuda_matches_the_cpu_to_float32_rounding(tf32_allowed):
    """Both devices run the network on the same (CPU-built) graph; float32 differs only
    in summation order, about 2^-24 per operation.  TF32 would round every convolution
    to 2^-11, so the bound sqrt(L) 2^-16 of the output's learned part tells them apart."""
    model = randomize(IGNN(2, n_feats=16, n_resblocks=4, window=6)).eval()
    lr = textured_image(40, 36)
    graph = model.build_graph(lr)
    with torch.no_grad():
        exact = model(lr, graph=graph)
        bound = conv_depth(model) ** 0.5 * 2**-16 * learned_part(model, exact)
        fp32 = resolve_precision("fp32", "cuda")
        gpu = fp32.run(lambda x: model.cuda()(x, graph=graph.to("cuda")), lr.cuda()).cpu()
    assert float((gpu - exact).abs().max()) <= bound


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_low_precision_on_cuda_within_the_rounding_of_its_depth(name):
    model = randomize(IGNN(2, n_feats=16, n_resblocks=4, window=6)).eval().cuda()
    lr = textured_image(40, 36).cuda()
    precision = resolve_precision(name, "cuda")
    assert precision.dtype in (torch.bfloat16, torch.float16)
    with torch.no_grad():
        exact = model(lr)
        with precision.autocast("cuda"):
            graph = model.build_graph(lr)
        fast = precision.run(model, lr)
    assert torch.equal(graph.edge_index, model.build_graph(lr).edge_index)
    assert graph.edge_attr.dtype == torch.float32
    assert fast.dtype == torch.float32 and fast.is_contiguous()
    error = float((fast - exact).abs().max())
    assert 0 < error <= conv_depth(model) ** 0.5 * EPS[name] * learned_part(model, exact)


def test_upscale_command_on_cuda_matches_the_cpu(tmp_path, checkpoint):
    """``ignn-pyg upscale --device cuda`` in the exact path writes the CPU's image, up to
    one 8-bit level where float32 summation order tips a rounding."""
    from ignn_pyg.commands.main import main
    from ignn_pyg.data import read_image, write_image

    write_image(tmp_path / "in.png", (textured_image(30, 26)[0].permute(1, 2, 0)).round().byte().numpy())
    for device in ("cpu", "cuda"):
        assert (
            main(
                [
                    "upscale",
                    str(tmp_path / "in.png"),
                    "-o",
                    str(tmp_path / f"{device}.png"),
                    "--weights",
                    str(checkpoint),
                    "--device",
                    device,
                    "--precision",
                    "fp32",
                ]
            )
            == 0
        )
    cpu, gpu = (read_image(tmp_path / f"{device}.png").astype(int) for device in ("cpu", "cuda"))
    assert cpu.shape == gpu.shape == (60, 52, 3)
    assert abs(cpu - gpu).max() <= 1 and (cpu == gpu).mean() > 0.999
