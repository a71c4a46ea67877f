"""``benchmarks/authors_code.py``: its CPU stand-ins for the authors' CUDA-only modules
against brute force, and the authors' unmodified network under them against ours
(the script's ``--smoke`` comparison; no timing is asserted)."""

from __future__ import annotations

import pytest
import torch

from tests.experiment_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    """``benchmarks/authors_code.py`` as a module."""
    return load_benchmark("authors_code")


@pytest.fixture(scope="module")
def authors(bench):
    """The authors' code from the mirror; skipped where the mirror is absent."""
    if not (bench.MIRROR / "HEAD").is_file():
        pytest.skip(
            f"no mirror of the authors' repository (github:sczhou/IGNN) at {bench.MIRROR}: "
            "the comparison needs their code, which this repository does not ship"
        )
    return bench.load_authors_code()


def test_im2col_standin_is_pyinn_layout(bench):
    """``[B, C, kh, kw, oh, ow]``: entry ``[b, c, i, j, y, x]`` is pixel
    ``(y t + i - pad, x t + j - pad)``, zero outside the image."""
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    k, t, pad = 3, 2, 1
    cols = bench._pyinn_im2col(x, [k, k], [t, t], [pad, pad])
    oh, ow = (7 + 2 * pad - k) // t + 1, (6 + 2 * pad - k) // t + 1
    assert cols.shape == (2, 3, k, k, oh, ow)
    for i in range(k):
        for j in range(k):
            for y in range(oh):
                for xx in range(ow):
                    r, c = y * t + i - pad, xx * t + j - pad
                    inside = 0 <= r < 7 and 0 <= c < 6
                    expected = x[:, :, r, c] if inside else torch.zeros(2, 3, dtype=x.dtype)
                    assert torch.equal(cols[:, :, i, j, y, xx], expected)


def test_col2im_standin_is_the_adjoint_of_im2col(bench):
    """pyinn's col2im sums overlaps: <im2col(x), z> = <x, col2im(z)>, and the output
    side is ``(o - 1) t - 2 pad + k``."""
    x = torch.randn(1, 2, 9, 8, dtype=torch.float64)
    args = ([3, 3], [2, 2], [0, 0])
    cols = bench._pyinn_im2col(x, *args)
    z = torch.randn_like(cols)
    back = bench._pyinn_col2im(z, *args)
    assert back.shape == (1, 2, 9, 7)  # the last column is not covered at stride 2
    assert torch.allclose((cols * z).sum(), (x[..., :7] * back).sum(), rtol=1e-12)


def test_matmul1_standins_match_dense_truth(bench, monkeypatch):
    """``matmul1``: ``out[b, i, j] = <y[b, i], x[b, I[b, i, j]]>``; ``matmul1_bwd``: its
    gradients, checked against autograd of that dense formula."""
    gen = torch.Generator().manual_seed(0)
    b, n, m, e, o = 2, 11, 7, 5, 4
    x = torch.randn(b, n, e, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randn(b, m, e, dtype=torch.float64, generator=gen, requires_grad=True)
    index = torch.randint(0, n, (b, m, o), generator=gen)
    dense = torch.stack(
        [
            torch.stack([torch.stack([y[bb, i] @ x[bb, index[bb, i, j]] for j in range(o)]) for i in range(m)])
            for bb in range(b)
        ]
    )
    out = torch.zeros(b, m, o, dtype=torch.float64)
    monkeypatch.setattr(bench, "_MATMUL1_CHUNK_BYTES", 3 * o * e * 8)  # several chunks
    bench._matmul1(x.detach(), y.detach(), index, out, n, m, e, o, b)
    assert torch.allclose(out, dense.detach(), rtol=1e-12)

    grad = torch.randn(b, m, o, dtype=torch.float64, generator=gen)
    grad_x_true, grad_y_true = torch.autograd.grad(dense, (x, y), grad)
    grad_x, grad_y = torch.zeros_like(x), torch.zeros_like(y)
    bench._matmul1_bwd(grad, x.detach(), y.detach(), index, grad_x, grad_y, m, n, e, o, b)
    assert torch.allclose(grad_x, grad_x_true, rtol=1e-12)
    assert torch.allclose(grad_y, grad_y_true, rtol=1e-12)


@pytest.mark.parametrize(
    "window,windowed",
    [
        (30, False),  # the authors' window covers the 10x10 grid of the 20x20 downsampled image: global search
        (6, True),  # windowed search: their distances go through the matmul1 stand-in
    ],
)
def test_smoke_comparison_agrees_to_float32_rounding(bench, authors, monkeypatch, window, windowed):
    calls = []
    matmul1 = authors.ops.matmul_cuda.matmul1
    monkeypatch.setattr(authors.ops.matmul_cuda, "matmul1", lambda *args: calls.append(1) or matmul1(*args))
    result = bench.compare(window=window)  # the --smoke sizes: 16 features, 2 blocks, LR 40x40, x2
    assert bool(calls) == windowed
    assert result["output_std"] > 10.0  # the output depends strongly on the weights
    assert result["same_neighbor_sets"] == 1.0
    assert result["max_abs_diff"] <= result["tolerance"]


def test_a_wrong_standin_is_caught(bench, authors, monkeypatch):
    """The check can fail: a matmul1 that pairs each query with the wrong candidate
    (the window's order reversed) changes the authors' neighbours."""
    matmul1 = authors.ops.matmul_cuda.matmul1
    monkeypatch.setattr(
        authors.ops.matmul_cuda, "matmul1", lambda x, y, index, *rest: matmul1(x, y, index.flip(-1).contiguous(), *rest)
    )
    result = bench.compare(window=6)
    assert result["same_neighbor_sets"] < 1.0
    assert result["max_abs_diff"] > result["tolerance"]
