"""Inference helpers: tiling against whole-image runs, the authors' chop against a literal
transcription of its arithmetic, the x8 ensemble on exactly equivariant models, and the
authors' process-wide window switch-off."""

import pytest
import torch
import torch.nn.functional as F

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.inference.forward import (
    ReferenceWindowState,
    _tile_spans,
    dihedral,
    dihedral_inverse,
    forward_tiled,
    forward_whole,
    reference_chop,
    self_ensemble_x8,
)
from ignn_pyg.models import EDSR, IGNN, graph_scale_for
from tests.models.test_ignn import randomize, textured_image


def tiny_ignn(scale: int, window: int = 4) -> IGNN:
    return randomize(IGNN(scale, n_feats=8, n_resblocks=2, window=window)).eval()


class CountingModel:
    """Forwards to ``model`` and records the batch size of every call."""

    def __init__(self, model):
        self.model, self.batches = model, []

    @property
    def scale(self) -> int:
        return self.model.scale

    def eval(self):
        self.model.eval()
        return self

    def __call__(self, lr, lr_down=None):
        self.batches.append(lr.shape[0])
        return self.model(lr, lr_down)


# ---------------------------------------------------------------------------------------
# forward_tiled


@pytest.mark.parametrize("tile,overlap", [(10, 0), (10, 4), (17, 3), (25, 12)])
def test_tile_spans_partition_with_margins(tile, overlap):
    for length in range(1, 80):
        spans = _tile_spans(length, tile, overlap)
        assert spans[0][2] == 0 and spans[-1][3] == length
        sides = {stop - start for start, stop, _, _ in spans}
        assert len(sides) == 1 and max(sides) <= min(tile, length)  # one shape: one set of kernels
        if length > tile:  # the fewest tiles, and the shortest side that covers with them
            count, side = len(spans), sides.pop()
            assert (count - 1) * (tile - 2 * overlap) >= length - tile > (count - 2) * (tile - 2 * overlap)
            assert (count - 1) * (side - 1 - 2 * overlap) < length - (side - 1)
            assert all(b[0] - a[1] <= -2 * overlap for a, b in zip(spans, spans[1:]))  # overlaps of >= 2 overlap
        for (start, stop, keep0, keep1), nxt in zip(spans, spans[1:] + [None]):
            assert 0 <= start <= keep0 < keep1 <= stop <= length
            assert keep0 == 0 or keep0 - start >= overlap  # inner left margin
            assert keep1 == length or stop - keep1 >= overlap  # inner right margin
            if nxt is not None:
                assert nxt[2] == keep1  # kept ranges tile the axis


def test_tiled_edsr_equals_whole_beyond_receptive_field():
    # receptive radius in LR pixels: head 1 + 2 blocks x 2 + body 1 + upsampler 1 + tail 1 = 8
    model = randomize(EDSR(2, n_feats=8, n_resblocks=2)).double().eval()
    lr = textured_image(37, 29).double()
    whole = forward_whole(model, lr)
    tiled = forward_tiled(model, lr, tile=24, overlap=9)
    assert tiled.shape == whole.shape == (1, 3, 74, 58)
    assert float((tiled - whole).abs().max()) < 1e-4
    too_thin = forward_tiled(model, lr, tile=24, overlap=2)  # the test can fail
    assert float((too_thin - whole).abs().max()) > 1e-3


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_ignn_shape_and_single_tile(scale):
    model = tiny_ignn(scale)
    lr = textured_image(41, 35)
    tiled = forward_tiled(model, lr, tile=24, overlap=4)
    assert tiled.shape == (1, 3, 41 * scale, 35 * scale)
    assert bool(torch.isfinite(tiled).all())
    whole = forward_whole(model, lr)
    assert torch.equal(forward_tiled(model, lr, tile=41, overlap=4), whole)


def test_tiled_rejects_bad_arguments():
    model = tiny_ignn(2)
    lr = textured_image(20, 20)
    with pytest.raises(ValueError, match="must exceed"):
        forward_tiled(model, lr, tile=8, overlap=4)
    with pytest.raises(ValueError, match="tile"):
        forward_tiled(model, lr, tile=0)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        forward_tiled(model, lr[0], tile=16, overlap=2)


# ---------------------------------------------------------------------------------------
# reference_chop against a transcription of the authors' Chop.forward


def chop_transcription(model, x_son, x, scale, scale_s, shave, min_size, n_gpus):
    """Their arithmetic, variable by variable (``h_0``: LR remainder, ``*_s``: graph scale)."""
    b, c, h_s, w_s = x_son.shape
    _, _, h, w = x.shape
    h_0, w_0 = h % scale_s, w % scale_s
    h_half_s, w_half_s = h_s // 2, w_s // 2
    h_half, w_half = h_half_s * scale_s, w_half_s * scale_s
    shave_s = shave // scale_s
    h_size_s, w_size_s = h_half_s + shave_s, w_half_s + shave_s
    h_size, w_size = h_size_s * scale_s, w_size_s * scale_s
    son_tiles = [
        x_son[:, :, 0:h_size_s, 0:w_size_s],
        x_son[:, :, 0:h_size_s, w_s - w_size_s : w_s],
        x_son[:, :, h_s - h_size_s : h_s, 0:w_size_s],
        x_son[:, :, h_s - h_size_s : h_s, w_s - w_size_s : w_s],
    ]
    tiles = [
        x[:, :, 0 : h_size + h_0, 0 : w_size + w_0],
        x[:, :, 0 : h_size + h_0, w - w_size - w_0 : w],
        x[:, :, h - h_size - h_0 : h, 0 : w_size + w_0],
        x[:, :, h - h_size - h_0 : h, w - w_size - w_0 : w],
    ]
    if w_size * h_size < min_size:
        outs = []
        for i in range(0, 4, n_gpus):
            out = model(torch.cat(tiles[i : i + n_gpus]), torch.cat(son_tiles[i : i + n_gpus]))
            outs.extend(out.chunk(n_gpus))
    else:
        outs = [
            chop_transcription(model, s, t, scale, scale_s, shave, min_size, n_gpus) for s, t in zip(son_tiles, tiles)
        ]
    h, w, h_half, w_half = scale * h, scale * w, scale * h_half, scale * w_half
    h_size, w_size, h_0, w_0 = scale * h_size, scale * w_size, scale * h_0, scale * w_0
    result = torch.full((b, c, h, w), float("nan"))
    result[:, :, 0:h_half, 0:w_half] = outs[0][:, :, 0:h_half, 0:w_half]
    result[:, :, 0:h_half, w_half:w] = outs[1][:, :, 0:h_half, w_size - w + w_half + w_0 : w_size + w_0]
    result[:, :, h_half:h, 0:w_half] = outs[2][:, :, h_size - h + h_half + h_0 : h_size + h_0, 0:w_half]
    result[:, :, h_half:h, w_half:w] = outs[3][
        :, :, h_size - h + h_half + h_0 : h_size + h_0, w_size - w + w_half + w_0 : w_size + w_0
    ]
    return result


@pytest.mark.parametrize(
    "scale,size,min_size",
    [
        (2, (50, 47), 1000),  # top-level tile area 36*34 = 1224, children 30*28 = 840
        (3, (61, 56), 1200),  # remainders 1 and 2: 42*39 = 1638, then 33*30 = 990
        (4, (45, 51), 1000),  # graph scale 2, output scale 4: 34*36 = 1224, then 28*30 = 840
    ],
)
def test_reference_chop_matches_transcription(scale, size, min_size):
    model = tiny_ignn(scale)
    lr = textured_image(*size)
    lr_down = downsample_for_graph(lr, graph_scale_for(scale))
    ours = CountingModel(model)
    result = reference_chop(ours, lr, min_size=min_size)
    assert ours.batches == [2] * 8  # one level of recursion: 4 quadrants x 2 batches of 2 tiles
    theirs = CountingModel(model)
    with torch.no_grad():
        expected = chop_transcription(theirs, lr_down, lr, scale, graph_scale_for(scale), 12, min_size, 2)
    assert theirs.batches == ours.batches
    assert result.shape == expected.shape == (1, 3, size[0] * scale, size[1] * scale)
    assert not bool(expected.isnan().any())
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("scale", [2, 3])
def test_reference_chop_of_local_model_equals_whole(scale):
    # every kept pixel lies >= 9 LR pixels from an inner tile edge; EDSR's radius is 8
    model = randomize(EDSR(scale, n_feats=8, n_resblocks=2)).double().eval()
    lr = textured_image(47, 52).double()
    chopped = reference_chop(model, lr, min_size=1000, tiles_per_batch=1)
    assert float((chopped - forward_whole(model, lr)).abs().max()) < 1e-4


def test_reference_chop_rejects_small_images_and_bad_lr_down():
    model = tiny_ignn(2)
    with pytest.raises(ValueError, match="too small for the reference chop"):
        reference_chop(model, textured_image(20, 40))
    lr = textured_image(40, 40)
    with pytest.raises(ValueError, match="lr_down must be"):
        reference_chop(model, lr, lr_down=lr[..., :19, :20])
    with pytest.raises(ValueError, match="tiles_per_batch"):
        reference_chop(model, lr, tiles_per_batch=5)


# ---------------------------------------------------------------------------------------
# self-ensemble


def test_dihedral_transforms_are_distinct_and_inverted():
    square = torch.arange(16.0).view(1, 1, 4, 4)
    images = [dihedral(square, i) for i in range(8)]
    assert len({tuple(img.flatten().tolist()) for img in images}) == 8
    # the authors' list order: id, flip W, flip H, both, then the same four transposed
    assert torch.equal(images[1], square.flip(-1))
    assert torch.equal(images[2], square.flip(-2))
    assert torch.equal(images[6], square.flip(-2).transpose(-2, -1))
    rect = torch.rand(2, 3, 5, 7)
    for i in range(8):
        assert torch.equal(dihedral_inverse(dihedral(rect, i), i), rect)


def nearest_sr(lr, lr_down):
    """Exactly flip/transpose-equivariant when ``lr_down`` is the 2x2 mean of ``lr`` and
    transformed like it (nearest upsampling x2 of ``lr`` plus x4 of ``lr_down``)."""
    return lr.repeat_interleave(2, -1).repeat_interleave(2, -2) + lr_down.repeat_interleave(4, -1).repeat_interleave(
        4, -2
    )


def test_self_ensemble_of_equivariant_model_is_plain_output():
    lr = torch.randint(0, 256, (2, 3, 6, 10)).float()  # integers: every mean below is exact
    lr_down = F.avg_pool2d(lr, 2)
    plain = nearest_sr(lr, lr_down)
    assert torch.equal(self_ensemble_x8(nearest_sr, lr, lr_down), plain)
    # the ensemble is not trivially the plain output: with a position-dependent model it differs
    ramp = torch.arange(20.0).view(1, 1, 1, 20)
    skewed = self_ensemble_x8(lambda x, d: nearest_sr(x, d) + ramp[..., : 2 * x.shape[-1]], lr, lr_down)
    assert not torch.allclose(skewed, plain + ramp)


def test_self_ensemble_without_lr_down_passes_none():
    seen = []

    def upsample(lr, lr_down):
        seen.append(lr_down)
        return lr.repeat_interleave(3, -1).repeat_interleave(3, -2)

    lr = torch.randint(0, 256, (1, 3, 5, 4)).float()
    assert torch.equal(self_ensemble_x8(upsample, lr), upsample(lr, None))
    assert all(d is None for d in seen)


# ---------------------------------------------------------------------------------------
# the authors' window switch-off


def test_reference_window_state_latches_global_search():
    model = tiny_ignn(2, window=4)
    wrapper = ReferenceWindowState(model)
    small, large = textured_image(12, 12, seed=2), textured_image(40, 40, seed=3)
    # before any small image the wrapper behaves like the model
    assert not wrapper.build_graph(large).global_search and not wrapper.latched
    assert torch.equal(wrapper(large), forward_whole(model, large))
    # 12x12 LR -> 6x6 downsampled -> 3x3 patch grid, covered by the window of 4
    assert model.build_graph(small).global_search
    wrapper(small)
    assert wrapper.latched
    assert wrapper.build_graph(large).global_search
    assert not model.build_graph(large).global_search
    # after latching, the output is that of the same weights with an unbounded window
    unbounded = IGNN(2, n_feats=8, n_resblocks=2, window=10_000)
    unbounded.load_state_dict(model.state_dict())
    latched_out = wrapper(large)
    assert torch.equal(latched_out, forward_whole(unbounded, large))
    assert not torch.allclose(latched_out, forward_whole(model, large))


def test_reference_window_state_inside_chop_latches_on_small_tiles():
    # a 44x44 LR image at x4: chop tiles of 34x34 LR, 17x17 downsampled, patch grid 9x9
    model = tiny_ignn(4, window=10)
    wrapper = ReferenceWindowState(model)
    reference_chop(wrapper, textured_image(44, 44))
    assert wrapper.latched


def test_reference_window_state_needs_ignn():
    with pytest.raises(TypeError, match="IGNN"):
        ReferenceWindowState(EDSR(2, n_feats=8, n_resblocks=1))
