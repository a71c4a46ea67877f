"""Patch extraction and folding against brute-force loops and hand-computed cases."""

import pytest
import torch
import torch.nn.functional as F

from ignn_pyg.graph.patches import PatchGrid, extract_patch_rows, extract_patches, fold_patch_constants, fold_patches


@pytest.mark.parametrize(
    "size,patch,stride,expected",
    [
        (10, 3, 2, (0, 1)),  # even size, p=3, t=2: one zero row at the bottom
        (11, 3, 2, (0, 0)),  # odd size tiles exactly
        (10, 5, 3, (0, 1)),  # (-(10-5)) % 3 = 1
        (12, 5, 3, (1, 1)),  # (-(12-5)) % 3 = 2 -> split floor/ceil
        (7, 3, 1, (0, 0)),
    ],
)
def test_padding_rule_hand_computed(size, patch, stride, expected):
    grid = PatchGrid.of(size, size + 1, patch, stride)
    assert (grid.pad_top, grid.pad_bottom) == expected
    assert (grid.rows - 1) * stride + patch == size + sum(expected)


def brute_patches(x, p, t):
    grid = PatchGrid.of(x.shape[-2], x.shape[-1], p, t)
    xp = F.pad(x, (grid.pad_left, grid.pad_right, grid.pad_top, grid.pad_bottom))
    out = []
    for r in range(grid.rows):
        for c in range(grid.cols):
            out.append(xp[:, :, r * t : r * t + p, c * t : c * t + p].reshape(x.shape[0], -1))
    return torch.stack(out, 1), grid


@pytest.mark.parametrize("shape,p,t", [((2, 3, 10, 7), 3, 2), ((1, 2, 9, 12), 3, 1), ((1, 1, 13, 8), 5, 3)])
def test_extract_matches_brute_force(shape, p, t):
    x = torch.randn(shape)
    patches, grid = extract_patches(x, p, t)
    expected, _ = brute_patches(x, p, t)
    assert patches.shape == (shape[0], grid.rows * grid.cols, shape[1] * p * p)
    torch.testing.assert_close(patches, expected, rtol=0, atol=0)


@pytest.mark.parametrize("shape,p,t", [((2, 3, 10, 7), 3, 2), ((1, 2, 9, 12), 3, 1), ((1, 1, 13, 8), 5, 3)])
def test_patch_rows_are_the_brute_force_patches_pixel_major(shape, p, t):
    x = torch.randn(shape)
    rows, grid = extract_patch_rows(x, p, t)
    expected, _ = brute_patches(x, p, t)  # (c, dy, dx) order
    expected = expected.view(shape[0], -1, shape[1], p * p).transpose(2, 3).reshape(shape[0], -1, shape[1] * p * p)
    assert rows.is_contiguous() and grid == extract_patches(x, p, t)[1]
    torch.testing.assert_close(rows, expected, rtol=0, atol=0)


def test_positions_hand_computed():
    grid = PatchGrid.of(6, 5, 3, 2)  # pad bottom 1 (rows), none for cols
    pos = grid.positions()
    assert grid.rows == 3 and grid.cols == 2
    assert pos.tolist() == [[0, 0], [0, 2], [2, 0], [2, 2], [4, 0], [4, 2]]


@pytest.mark.parametrize("shape,p,t", [((2, 3, 10, 7), 3, 2), ((1, 2, 11, 12), 6, 4), ((1, 1, 13, 8), 5, 3)])
def test_fold_matches_brute_force_average(shape, p, t):
    grid = PatchGrid.of(shape[-2], shape[-1], p, t)
    patches = torch.randn(shape[0], grid.num_patches, shape[1] * p * p, dtype=torch.float64)
    hp, wp = shape[-2] + grid.pad_top + grid.pad_bottom, shape[-1] + grid.pad_left + grid.pad_right
    acc = torch.zeros(shape[0], shape[1], hp, wp, dtype=torch.float64)
    cnt = torch.zeros(hp, wp, dtype=torch.float64)
    for r in range(grid.rows):
        for c in range(grid.cols):
            block = patches[:, r * grid.cols + c].reshape(shape[0], shape[1], p, p)
            acc[:, :, r * t : r * t + p, c * t : c * t + p] += block
            cnt[r * t : r * t + p, c * t : c * t + p] += 1
    expected = (acc / cnt)[:, :, grid.pad_top : grid.pad_top + shape[-2], grid.pad_left : grid.pad_left + shape[-1]]
    torch.testing.assert_close(fold_patches(patches, grid), expected)


def test_extract_then_fold_round_trip():
    x = torch.randn(2, 4, 15, 10)
    patches, grid = extract_patches(x, 3, 2)
    torch.testing.assert_close(fold_patches(patches, grid), x)


def test_scaled_grid_folds_hr_patches_back():
    """The LR grid scaled by s cuts an s-times larger map into the same rows x cols
    patches (LR padding times s) and folds them back to it."""
    s = 3
    lr_grid = PatchGrid.of(8, 9, 3, 2)
    hr_grid = lr_grid.scaled(s)
    hr = torch.randn(1, 2, 8 * s, 9 * s)
    padded = F.pad(hr, (hr_grid.pad_left, hr_grid.pad_right, hr_grid.pad_top, hr_grid.pad_bottom))
    hr_patches = F.unfold(padded, 3 * s, stride=2 * s).transpose(1, 2)
    assert hr_patches.shape[1] == lr_grid.num_patches
    torch.testing.assert_close(fold_patches(hr_patches, hr_grid), hr)


def test_fold_patch_constants_equals_fold_of_repeated_values():
    grid = PatchGrid.of(9, 6, 3, 2).scaled(2)
    values = torch.randn(2, grid.num_patches, 5)
    repeated = values[..., None].expand(-1, -1, -1, grid.patch_size**2).reshape(2, grid.num_patches, -1)
    torch.testing.assert_close(fold_patch_constants(values, grid), fold_patches(repeated, grid))


@pytest.mark.parametrize("bad", [(2, 5), (5, 2)])
def test_bad_geometry_raises(bad):
    h, w = bad
    with pytest.raises(ValueError, match="smaller than"):
        PatchGrid.of(h, w, 3, 2)
    with pytest.raises(ValueError, match="stride"):
        PatchGrid.of(10, 10, 3, 4)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        extract_patches(torch.zeros(3, 10, 10), 3, 2)


def test_fold_gradient_is_the_adjoint():
    grid = PatchGrid.of(7, 6, 3, 2).scaled(2)
    patches = torch.randn(1, grid.num_patches, 2 * 36, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: fold_patches(p, grid), (patches,))
