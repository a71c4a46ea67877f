"""fold_gathered_patches against the unfused composition: gather, scale, fold_patches."""

import pytest
import torch

from ignn_pyg.graph.patches import PatchGrid, fold_patches
from ignn_pyg.nn import gathered_patch_fold
from ignn_pyg.nn.gathered_patch_fold import fold_gathered_patches


def unfused(sources, index, gain, base, grid):
    """Materialise every scaled patch, fold each term with fold_patches, add the base."""
    b, q, c = base.shape[0], grid.patch_size, sources.shape[-1]
    total = base.permute(0, 3, 1, 2)
    for r in range(index.shape[0]):
        patches = sources[index[r]] * gain[min(r, gain.shape[0] - 1)][:, None, None, :]  # [B M, q, q, C]
        patches = patches.permute(0, 3, 1, 2).reshape(b, grid.num_patches, c * q * q)
        total = total + fold_patches(patches, grid)
    return total.permute(0, 2, 3, 1)


def random_case(height, width, q, t, terms, shared_gain, batch=2, channels=3, sources=7, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    grid = PatchGrid.of(height, width, q, t)
    queries = batch * grid.num_patches
    args = (
        torch.randn(sources, q, q, channels, generator=gen, dtype=dtype),
        torch.randint(0, sources, (terms, queries), generator=gen),
        torch.rand(1 if shared_gain else terms, queries, channels, generator=gen, dtype=dtype) + 0.5,
        torch.randn(batch, height, width, channels, generator=gen, dtype=dtype),
    )
    return args, grid


@pytest.mark.parametrize("height,width,q,t", [(26, 30, 6, 4), (9, 7, 3, 2), (8, 12, 4, 4), (11, 13, 5, 2)])
@pytest.mark.parametrize("terms,shared_gain", [(1, True), (3, False), (3, True)])
def test_equals_unfused_fold(height, width, q, t, terms, shared_gain):
    args, grid = random_case(height, width, q, t, terms, shared_gain)
    torch.testing.assert_close(fold_gathered_patches(*args, grid), unfused(*args, grid))


@pytest.mark.parametrize("height,width,q,t", [(26, 30, 6, 4), (11, 13, 5, 2), (9, 7, 3, 2), (8, 12, 4, 4)])
@pytest.mark.parametrize("rows_per_chunk", [1, 2, 3])
def test_chunking_does_not_change_the_result(monkeypatch, height, width, q, t, rows_per_chunk):
    """Chunks of one patch row (fewer than the cell rows a patch reaches below its own
    with q = 5, t = 2), two or three (a short last chunk): the map is written band by
    band as the chunks finish, and is the unfused fold's."""
    args, grid = random_case(height, width, q, t, 2, False)
    patch_bytes = q * q * args[0].shape[-1] * args[0].element_size()
    monkeypatch.setattr(gathered_patch_fold, "CHUNK_BYTES", rows_per_chunk * grid.cols * patch_bytes)
    torch.testing.assert_close(fold_gathered_patches(*args, grid), unfused(*args, grid))


@pytest.mark.parametrize("shared_gain", [True, False])
def test_gradients_match_numerical(monkeypatch, shared_gain):
    monkeypatch.setattr(gathered_patch_fold, "CHUNK_BYTES", 1)  # several chunks per map
    args, grid = random_case(10, 9, 4, 2, 2, shared_gain, channels=2, sources=3, dtype=torch.float64)
    args = tuple(a.requires_grad_() if a.is_floating_point() else a for a in args)
    assert torch.autograd.gradcheck(
        lambda s, g, b: fold_gathered_patches(s, args[1], g, b, grid), (args[0], args[2], args[3])
    )


def test_bad_shapes_are_named():
    args, grid = random_case(9, 7, 3, 2, 1, True)
    sources, index, gain, base = args
    with pytest.raises(ValueError, match="sources"):
        fold_gathered_patches(sources[:, :2], index, gain, base, grid)
    with pytest.raises(ValueError, match="index"):
        fold_gathered_patches(sources, index[:, :-1], gain, base, grid)
    with pytest.raises(ValueError, match="gain"):
        fold_gathered_patches(sources, index, gain.expand(2, -1, -1), base, grid)
    with pytest.raises(ValueError, match="base"):
        fold_gathered_patches(sources, index, gain, base[:, 1:], grid)


def test_low_precision_sources_get_their_gradient_summed_in_float32():
    """Under autocast the sources are bf16 while the map and its gradient are float32.
    Here every query takes source 0, so its gradient sums hundreds of terms: summed in
    bf16 (8 significant bits) it would drift far off; summed in float32 and rounded once
    it is the float64 adjoint to one bf16 step."""
    args, grid = random_case(26, 30, 6, 4, 3, False, sources=1)
    sources, index, gain, base = args
    low = sources.bfloat16().requires_grad_()
    exact = sources.bfloat16().double().requires_grad_()
    grad = torch.randn(base.shape, generator=torch.Generator().manual_seed(5))
    fold_gathered_patches(low, index, gain, base, grid).backward(grad)
    fold_gathered_patches(exact, index, gain.double(), base.double(), grid).backward(grad.double())
    assert low.grad.dtype == torch.bfloat16
    torch.testing.assert_close(low.grad.double(), exact.grad.bfloat16().double(), rtol=2**-7, atol=0)
