"""The native fold kernel (ignn_pyg.nn.native_fold) against the unfused composition and
the torch path: float32, float64 and bf16, odd sizes, one term or three, a batch of 2,
gradients, and the aggregation layer with the kernel on and off.  Skipped where the
kernel cannot be built (no C++ compiler or ninja); the first test builds it (seconds,
then cached)."""

import warnings

import pytest
import torch

from ignn_pyg.inference import compilation
from ignn_pyg.models import IGNN
from ignn_pyg.nn import native_fold
from ignn_pyg.nn.gathered_patch_fold import fold_gathered_patches
from tests.nn.test_gathered_patch_fold import random_case, unfused

GEOMETRIES = [(26, 30, 6, 4), (9, 7, 3, 2), (8, 12, 4, 4), (11, 13, 5, 2)]
built = pytest.mark.skipif(
    native_fold.missing_toolchain() is not None, reason=f"cannot build the kernel: {native_fold.missing_toolchain()}"
)


@built
@pytest.mark.parametrize("height,width,q,t", GEOMETRIES)
@pytest.mark.parametrize("terms,shared_gain", [(1, True), (3, False), (3, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_the_unfused_fold(height, width, q, t, terms, shared_gain, dtype):
    assert native_fold.load() is not None, native_fold.failure()
    args, grid = random_case(height, width, q, t, terms, shared_gain, dtype=dtype)
    torch.testing.assert_close(fold_gathered_patches(*args, grid, native=True), unfused(*args, grid))


@built
@pytest.mark.parametrize("height,width,q,t", GEOMETRIES)
def test_kernel_in_bf16_within_its_rounding(height, width, q, t):
    """bf16 in and out, float32 sums: within one bf16 rounding of the float32 fold of the
    same bf16 numbers (the torch path rounds every partial sum, so it is further off)."""
    args, grid = random_case(height, width, q, t, 3, False, dtype=torch.bfloat16)
    ours = fold_gathered_patches(*args, grid, native=True)
    assert ours.dtype == torch.bfloat16
    expected = unfused(*(a.double() if a.is_floating_point() else a for a in args), grid)
    torch.testing.assert_close(ours.double(), expected, rtol=2**-8, atol=2**-8 * float(expected.abs().max()))


@built
@pytest.mark.parametrize("shared_gain", [True, False])
def test_gradients_through_the_kernel_match_numerical(shared_gain):
    args, grid = random_case(10, 9, 4, 2, 2, shared_gain, channels=2, sources=3, dtype=torch.float64)
    args = tuple(a.requires_grad_() if a.is_floating_point() else a for a in args)
    assert torch.autograd.gradcheck(
        lambda s, g, b: fold_gathered_patches(s, args[1], g, b, grid, native=True), (args[0], args[2], args[3])
    )


@built
@pytest.mark.parametrize("batch", [1, 2])
def test_aggregation_with_the_kernel_equals_the_torch_path(batch):
    """A whole IGNN with use_native_fold: the same output as without, in float32 and under
    bf16 autocast (within its rounding), on an odd-sized input."""
    torch.manual_seed(0)
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4).eval()
    lr = torch.rand(batch, 3, 27, 22) * 255
    with torch.no_grad():
        expected = model(lr)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected_bf16 = model(lr).float()
        assert compilation.use_native_fold(model) and model.aggregation.native_fold
        torch.testing.assert_close(model(lr), expected, rtol=1e-5, atol=1e-3)  # 0-255 scale
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours = model(lr).float()
    torch.testing.assert_close(ours, expected_bf16, rtol=0, atol=4.0)  # bf16 on the 0-255 scale


def test_no_toolchain_is_one_warning_and_the_torch_fold(monkeypatch):
    """Where the kernel cannot be built, use_native_fold says why in one warning and the
    layers keep the torch path."""
    monkeypatch.setattr(native_fold, "load", lambda: None)
    monkeypatch.setattr(native_fold, "failure", lambda: "no C++ compiler found (c++)")
    model = IGNN(2, n_feats=8, n_resblocks=2, window=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not compilation.use_native_fold(model)
    assert [str(w.message) for w in caught] == ["--compile: no C++ compiler found (c++); the fold runs in torch"]
    assert not model.aggregation.native_fold


@built
def test_kernel_refuses_mixed_dtypes():
    """The kernel reads every tensor as the base's dtype, so it checks that they agree."""
    (sources, index, gain, base), grid = random_case(9, 7, 3, 2, 1, True)
    with pytest.raises(RuntimeError, match="share a dtype"):
        native_fold.native_fold_forward(native_fold.load(), sources.double(), index, gain, base, grid, base[0, ..., 0])
