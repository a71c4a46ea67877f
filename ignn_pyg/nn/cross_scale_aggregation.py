"""IGNN's cross-scale graph aggregation as a PyG ``MessagePassing`` layer."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.patches import (
    PatchGrid,
    cells_map,
    channel_major_patches,
    fold_patch_constants,
    fold_patches,
    pad_channels_last,
    patch_windows,
)
from ignn_pyg.nn.blocks import ResBlock, at_least_float32
from ignn_pyg.nn.gathered_patch_fold import fold_gathered_patches

FUSIONS = ("reference", "edge")


def hr_source_windows(x: Tensor, source_grid: PatchGrid, scale: int) -> Tensor:
    """The high-resolution counterpart of every downsampled-image patch, channels-last.

    Source patch ``(r, c)`` of the ``H//s x W//s`` grid covers, ``s`` times larger, the
    ``(p s) x (p s)`` region of ``x`` at ``s`` times its position (the authors'
    pixel-shuffle-down patch).  ``x`` is cropped to a multiple of ``s`` and padded by
    ``s`` times the source grid's padding.

    Args:
        x: LR feature map ``[B, C, H, W]``.
        source_grid: patch grid of the downsampled map (``H//s x W//s``).
        scale: ``s``.

    Returns:
        ``[B, rows, cols, p s, p s, C]``, a view of a padded channels-last copy of ``x``.
    """
    grid = source_grid.scaled(scale)
    padded = pad_channels_last(x[..., : grid.height, : grid.width], grid)
    return patch_windows(padded, grid.patch_size, grid.stride)


def hr_source_patches(x: Tensor, source_grid: PatchGrid, scale: int) -> Tensor:
    """:func:`hr_source_windows` as node features ``[B, N, C (p s)^2]`` in ``(c, row, col)``
    order, the layout :func:`~ignn_pyg.graph.patches.fold_patches` takes back."""
    return channel_major_patches(hr_source_windows(x, source_grid, scale))


def centered_patch_stats(windows: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    r"""Per-patch, per-channel mean and :math:`\sqrt{\mathrm{var} + \epsilon}` (unbiased
    variance) of patch windows ``[B, rows, cols, p, p, C]``, and the centred patches.

    Two passes (mean, then the squared deviations), each reducing the ``p x p`` pixels
    with channels innermost.

    Returns:
        ``(centered [B, rows, cols, p, p, C]`` contiguous, ``mean, std [B, rows, cols, 1, 1, C])``.
    """
    mean = windows.mean((3, 4), keepdim=True)
    # copy, then centre in place: a plain subtraction would lay its result out like the
    # image (overlaps duplicated) rather than patch by patch
    centered = windows.new_empty(windows.shape).copy_(windows).sub_(mean)
    var = (centered * centered).sum((3, 4), keepdim=True) / (windows.shape[3] * windows.shape[4] - 1)
    return centered, mean, (var + eps).sqrt()


def node_major(stat: Tensor) -> Tensor:
    """Per-patch statistics ``[B, rows, cols, 1, 1, C]`` as node features ``[B M, C]``."""
    return stat.view(-1, stat.shape[-1])


def repeat_pixels(x: Tensor, scale: int) -> Tensor:
    """Nearest-neighbour upscaling by an integer factor, ``[B, C, H, W] -> [B, C, sH, sW]``,
    in ``x``'s memory format.

    Folding patch constants on a grid scaled by ``s`` (:meth:`PatchGrid.scaled`) equals
    folding them on the grid itself and repeating every pixel ``s x s``: the scaled
    patches' borders fall on multiples of ``s``.  The fold then costs ``1/s^2``.
    """
    b, c, h, w = x.shape
    if c > 1 and x.is_contiguous(
        memory_format=torch.channels_last
    ):  # repeat with channels innermost, then view back as [B, C, sH, sW]
        x = x.permute(0, 2, 3, 1)[:, :, None, :, None, :].expand(b, h, scale, w, scale, c)
        return x.reshape(b, h * scale, w * scale, c).permute(0, 3, 1, 2)
    return x[:, :, :, None, :, None].expand(b, c, h, scale, w, scale).reshape(b, c, h * scale, w * scale)


def lr_branch(channels: int, scale: int) -> nn.Sequential:
    r"""The strided conv stack :math:`\psi` taking an HR map back to LR: 5x5 conv with
    stride ``s``, ReLU, 3x3 conv, ReLU, 3x3 conv.  Shapes: ``[B, C, sH, sW] -> [B, C, H, W]``."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 5, stride=scale, padding=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=1),
    )


class EdgeWeightNet(nn.Sequential):
    r"""Per-pixel (or per-edge) scorer: 1x1 conv (``in -> hidden``), a 1x1 residual block,
    1x1 conv (``hidden -> 1``).  Shapes: ``[B, in, H, W] -> [B, 1, H, W]``.

    Every layer is a 1x1 convolution, so the net is the same affine-ReLU map applied to
    each pixel's feature vector :math:`a`:

    .. math::
        h = W_0 a + b_0, \qquad h' = h + \rho\,(W_2 \operatorname{ReLU}(W_1 h + b_1) + b_2),
        \qquad \phi(a) = W_3 h' + b_3.

    Its one ReLU makes it a net of one hidden layer (:meth:`one_hidden_layer`), what
    :meth:`score_rows` computes:

    .. math::
        \phi(a) = v^\top \operatorname{ReLU}(A a + c) + g^\top a + d, \qquad
        A = W_1 W_0,\; c = W_1 b_0 + b_1,\; g^\top = W_3 W_0,\; v^\top = \rho\, W_3 W_2,\;
        d = W_3 (b_0 + \rho\, b_2) + b_3.
    """

    def __init__(self, in_channels: int, hidden: int = 64, res_scale: float = 0.1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, hidden, 1),
            ResBlock(hidden, kernel_size=1, res_scale=res_scale),
            nn.Conv2d(hidden, 1, 1),
        )

    def one_hidden_layer(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The net as one hidden layer (class docstring): ``(A [hidden, in], c [hidden],
        g [in], v [hidden], d [])``, products of the weights taken in float32 also under
        :func:`torch.autocast`; differentiable in the weights."""
        first, block, last = self
        w0, w1, w2, w3 = (conv.weight.flatten(1) for conv in (first, block.conv1, block.conv2, last))
        rho = block.res_scale
        with torch.autocast(w0.device.type, enabled=False):
            return (
                w1 @ w0,
                torch.addmv(block.conv1.bias, w1, first.bias),
                (w3 @ w0)[0],
                rho * (w3 @ w2)[0],
                (w3 @ (first.bias + rho * block.conv2.bias))[0] + last.bias[0],
            )

    def score_rows(self, rows: Tensor, chunk: int = 16384) -> Tensor:
        """The net on feature vectors ``[P, in] -> [P]``: :func:`score_rows_jointly` of
        this net alone."""
        return score_rows_jointly((self,), rows, chunk).view(-1)

    def score_map(self, x: Tensor) -> Tensor:
        """:meth:`forward` computed by :meth:`score_rows`: ``[B, in, H, W] -> [B, 1, H, W]``
        (no copy when ``x`` is channels-last)."""
        b, c, h, w = x.shape
        return self.score_rows(x.permute(0, 2, 3, 1).reshape(-1, c)).view(b, h, w, 1).permute(0, 3, 1, 2)


def stacked_hidden_layer(nets: Sequence[EdgeWeightNet]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Several nets' one hidden layers (:meth:`EdgeWeightNet.one_hidden_layer`) side by
    side: ``(inner_weight [in, n h], inner_bias [n h], skip_weight [in, n],
    out_weight [n h, n], out_bias [n])``, so that the ``n`` scores of rows ``a`` are
    ``relu(a W_in + b_in) W_out + a W_skip + b_out``."""
    forms = [net.one_hidden_layer() for net in nets]
    return (
        torch.cat([form[0] for form in forms]).t(),
        torch.cat([form[1] for form in forms]),
        torch.stack([form[2] for form in forms], 1),
        torch.block_diag(*(form[3][:, None] for form in forms)),
        torch.stack([form[4] for form in forms]),
    )


def score_rows_jointly(nets: Sequence[EdgeWeightNet], rows: Tensor, chunk: int = 16384) -> Tensor:
    """Several :class:`EdgeWeightNet` on the same feature vectors, ``[P, in] -> [P, n]``
    (column ``i``: ``nets[i]``).

    Each net runs as one hidden layer (:meth:`EdgeWeightNet.one_hidden_layer`): one
    ``hidden x in`` matrix product per row and net instead of three ``hidden x hidden``
    ones, the nets' hidden layers stacked into one product (:func:`stacked_hidden_layer`),
    ``chunk`` rows at a time (faster on CPU than the 1x1 convolutions over a whole map,
    whose every layer is a pass over memory; 16,384 rows measured fastest of 1,024-16,384
    on a 2-core AMD EPYC).  The same numbers as each net's
    :meth:`~EdgeWeightNet.forward` to float rounding, and their gradients."""
    inner_weight, inner_bias, skip_weight, out_weight, out_bias = stacked_hidden_layer(nets)
    scores = [
        torch.addmm(
            torch.addmm(out_bias, part, skip_weight),
            torch.relu_(torch.addmm(inner_bias, part, inner_weight)),
            out_weight,
        )
        for part in rows.split(chunk)
    ]
    return torch.cat(scores) if scores else rows.new_empty(0, len(nets))


def _cover_classes(patch_size: int, stride: int) -> list[tuple[int, int, int]]:
    """Along one axis, the offsets ``a`` in a ``stride``-long cell grouped by how many
    patches cover them: ``(first, last + 1, n)``, where offset ``a`` of cell ``R`` lies in
    patches ``R - u`` for ``u < n = ceil((p - a) / t)`` (``n`` falls with ``a``, so each
    group is a run of offsets)."""
    classes: list[tuple[int, int, int]] = []
    for a in range(stride):
        n = -(-(patch_size - a) // stride)
        if classes and classes[-1][2] == n:
            classes[-1] = (classes[-1][0], a + 1, n)
        else:
            classes.append((a, a + 1, n))
    return classes


def _cover_sums(padded: Tensor, dim: int, start: int, length: int, pieces: int, classes) -> Iterator[tuple]:
    """For each class ``(first, last, n)`` of :func:`_cover_classes`: ``(first, last,
    sum_{u < n} padded.narrow(dim, start - u, length))``, the sums built one term at a
    time (each class adds to the previous one's)."""
    total = None
    for u in range(max(n for _, _, n in classes)):
        term = padded.narrow(dim, start + pieces - 1 - u, length)
        total = term if total is None else total + term
        for first, last, n in classes:
            if n == u + 1:
                yield first, last, total


def _cover_weights(patches: int, pieces: int, classes, like: Tensor) -> dict[int, Tensor]:
    """Along one axis of ``patches`` patches (``patches + pieces - 1`` cells), for each
    class of :func:`_cover_classes` (keyed by its first offset): ``1 / count`` per cell,
    the count of the patches covering that class's offsets, and 0 for a cell that no
    patch covers (it lies beyond the padded map and is cropped away)."""
    padded = F.pad(like.new_ones(patches), (pieces - 1, pieces - 1))
    return {
        first: count.clamp(min=1).reciprocal() * (count > 0)
        for first, _, count in _cover_sums(padded, 0, 0, patches + pieces - 1, pieces, classes)
    }


def score_folded_patch_constants(
    nets: Sequence[EdgeWeightNet], values: Tensor, grid: PatchGrid, band_bytes: int = 2 << 20
) -> Tensor:
    r"""Several :class:`EdgeWeightNet` on every pixel of the fold of patch-constant
    vectors: ``score_rows_jointly(nets, fold_patch_constants(values, grid))`` pixel by
    pixel, ``[B, M, D] -> [B, H, W, n]``, to float rounding, with the nets' first layer
    run on the ``M`` patches instead of the ``H W`` pixels.

    A pixel's folded vector is the mean of the patch vectors covering it,
    :math:`a(x) = \sum_P w_P(x)\, a_P` with :math:`\sum_P w_P(x) = 1`, so each net's
    affine first layer and skip term (:meth:`EdgeWeightNet.one_hidden_layer`) pass into the
    mean: :math:`A a(x) + c = \sum_P w_P(x) (A a_P) + c` and likewise :math:`g^\top a(x)`.
    The products :math:`z_P = [A; g^\top] a_P` are taken once per patch (``M`` rows, a
    quarter of the pixels at stride 2) and averaged per pixel; only the ReLU and the output
    row run per pixel.  Patches cover the ``t x t`` cells of the map in a grid, so the
    average is separable: along each axis, offset ``a`` of cell ``R`` lies in the patches
    ``R - u`` with ``u t + a < p`` (:func:`_cover_classes`).  The map is done in bands of
    cell rows whose sums fill about ``band_bytes``.

    All in at least float32, also under :func:`torch.autocast` (the first product is a quarter of
    the rows, the rest is small); differentiable in ``values`` and the nets' weights.
    """
    b, m, d = values.shape
    if m != grid.num_patches:
        raise ValueError(f"expected {grid.num_patches} patches, got {m}")
    t, pieces, rows, cols = grid.stride, math.ceil(grid.patch_size / grid.stride), grid.rows, grid.cols
    classes = _cover_classes(grid.patch_size, t)
    cell_rows, cell_cols = rows + pieces - 1, cols + pieces - 1
    with torch.autocast(values.device.type, enabled=False):
        inner_weight, inner_bias, skip_weight, out_weight, out_bias = stacked_hidden_layer(nets)
        hidden = inner_weight.shape[1]
        first = torch.cat([inner_weight, skip_weight], 1)  # [D, n h + n]
        # [n h, n] with its n h inner: the product over thin columns runs 4-5x faster
        out_weight = out_weight.t().contiguous().t()
        z = (at_least_float32(values).reshape(b * m, d) @ first).view(b, rows, cols, -1)
        # zero patches beyond every border
        padded = F.pad(z, (0, 0, pieces - 1, pieces - 1, pieces - 1, pieces - 1))
        row_weight = _cover_weights(rows, pieces, classes, z)
        col_weight = _cover_weights(cols, pieces, classes, z)
        cells = z.new_empty(b, cell_rows, t, cell_cols, t, len(nets))
        band = max(1, band_bytes // (padded.shape[2] * padded.shape[3] * padded.element_size() * b))
        for r0 in range(0, cell_rows, band):
            length = min(band, cell_rows - r0)
            for a0, a1, row_sum in _cover_sums(padded, 1, r0, length, pieces, classes):
                for b0, b1, cell_sum in _cover_sums(row_sum, 2, 0, cell_cols, pieces, classes):
                    weight = row_weight[a0][r0 : r0 + length, None, None] * col_weight[b0][None, :, None]
                    # the mean of [B, length, cell_cols, n h + n] sums, through the output layer
                    inner = torch.addcmul(inner_bias, cell_sum[..., :hidden], weight).relu_()
                    skip = torch.addcmul(out_bias, cell_sum[..., hidden:], weight)
                    scores = torch.addmm(skip.view(-1, len(nets)), inner.view(-1, hidden), out_weight)
                    cells[:, r0 : r0 + length, a0:a1, :, b0:b1] = scores.view(*skip.shape)[:, :, None, :, None]
    return cells_map(cells, grid)


class CrossScaleAggregation(MessagePassing):
    r"""Cross-scale aggregation of IGNN (`Zhou et al., NeurIPS 2020
    <https://arxiv.org/abs/2006.16673>`_) on the bipartite graph of
    :func:`~ignn_pyg.graph.build_cross_scale_graph`.

    For an edge :math:`j \to i` from a downsampled-image patch :math:`j` to an LR query
    patch :math:`i`, the message is :math:`j`'s high-resolution counterpart
    :math:`h_j` (the ``(p s) x (p s)`` region of the LR feature map at ``s`` times its
    position) renormalised per channel to the query patch's statistics (AdaIN):

    .. math::
        m_{j \to i} = \frac{h_j - \mu(h_j)}{\sigma(h_j)} \, \sigma(x_i) + \mu(x_i),
        \qquad \sigma(\cdot) = \sqrt{\mathrm{Var}(\cdot) + 10^{-5}}

    (unbiased variance over the patch's pixels).  Two fusions:

    ``fusion="edge"`` -- graph-native edge-conditioned weights,

    .. math::
        \alpha_{ji} = \operatorname{softmax}_{j \in \mathcal{N}(i)} \phi(a_{ji}), \qquad
        z_i = \sum_{j \in \mathcal{N}(i)} \alpha_{ji}\, m_{j \to i},

    then the HR output folds the :math:`z_i` (overlaps averaged) and the LR output is
    the strided conv stack :math:`\psi` applied to it.

    ``fusion="reference"`` -- the authors' weighting (default for their checkpoints):
    messages are aggregated per neighbour rank :math:`r` and folded into maps
    :math:`Z_r`; the edge features are folded likewise into :math:`A_r`, and per pixel

    .. math::
        Y_{HR} = \sum_r \operatorname{softmax}_r(\phi_{HR}(A_r)) \, Z_r, \qquad
        Y_{LR} = \sum_r \operatorname{softmax}_r(\phi_{LR}(\mathrm{AvgPool}_s A_r))\, \psi(Z_r).

    Args:
        channels: feature channels ``C`` of the map being aggregated.
        scale: graph scale ``s``.
        num_neighbors: ``k`` (edges per target; needed by the reference fusion).
        edge_dim: edge feature size ``C_e`` (64 for the VGG embedding).
        hidden: width of the weight networks :math:`\phi`.
        res_scale: residual scale inside :math:`\phi`.
        fusion: ``"reference"`` or ``"edge"``.
        eps: AdaIN epsilon.
        fused: compute message, aggregation and fold in one pass over the edges without
            materialising the messages (:mod:`~ignn_pyg.nn.gathered_patch_fold`; about 2x
            faster on CPU).  ``False`` runs PyG's ``propagate`` (:meth:`message` then
            :meth:`aggregate`) one rank at a time, so message hooks and explainers see every
            message; both give the same output to float rounding.

    Shapes:
        - input: feature map ``[B, C, H, W]`` and a graph built on ``H x W`` queries and
          ``H//s x W//s`` sources; internally ``x_src [B N, C (p s)^2]`` (HR source
          patches) and ``x_dst [B M, C p^2]`` (LR query patches), bipartite size
          ``(B N, B M)``.
        - output: ``(lr [B, C, H, W], hr [B, C, s H, s W])``.
    """

    def __init__(
        self,
        channels: int,
        scale: int,
        num_neighbors: int = 5,
        edge_dim: int = 64,
        hidden: int = 64,
        res_scale: float = 0.1,
        fusion: str = "reference",
        eps: float = 1e-5,
        fused: bool = True,
    ) -> None:
        super().__init__(aggr="sum", flow="source_to_target", node_dim=0)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.channels = channels
        self.scale = scale
        self.num_neighbors = num_neighbors
        self.edge_dim = edge_dim
        self.fusion = fusion
        self.eps = eps
        self.fused = fused
        # the fused fold's forward through the compiled kernel of native_fold (set by
        # ignn_pyg.inference.compilation.use_native_fold; not a weight, not saved)
        self.native_fold = False
        self.downsample = lr_branch(channels, scale)
        self.hr_weight_net = EdgeWeightNet(edge_dim, hidden, res_scale)
        self.lr_weight_net = EdgeWeightNet(edge_dim, hidden, res_scale) if fusion == "reference" else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    def forward(self, x: Tensor, graph: CrossScaleGraph, source_map: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``source_map`` is the map the sources' ``(p s) x (p s)`` patches are cut from at
        ``s`` times their grid position: ``x`` itself by default (a cross-scale source is a
        region of the LR map); for a same-scale graph (``graph.same_scale``) ``x`` repeated
        ``s x s`` per pixel (``[B, C, sH, sW]``, :func:`repeat_pixels`)."""
        self._check(x, graph)
        # branched on, not compared: torch.compile decides a test of symbolic sizes only in an `if`
        if (source_map is None) if graph.same_scale else (source_map is not None):
            raise ValueError(
                "a same-scale graph needs source_map (the map repeated s x s), and only a same-scale graph takes one"
            )
        grid = graph.target_grid
        # Statistics, normalisation and weights in float32 even when x is a lower-precision
        # autocast output; the fold then runs in x's dtype (a no-op cast in float32).
        x32 = at_least_float32(x)
        queries = patch_windows(pad_channels_last(x32, grid), grid.patch_size, grid.stride)
        _, target_mean, target_std = centered_patch_stats(queries, self.eps)
        sources = hr_source_windows(
            x32 if source_map is None else at_least_float32(source_map), graph.source_grid, self.scale
        )  # [B, rows, cols, q, q, C]
        edge_weight = self.edge_weights(graph)[:, None] if self.fusion == "edge" else None
        if self.fused:
            rank_maps = self._fused_rank_maps(sources, target_mean, target_std, graph, edge_weight, x.dtype)
        else:
            rank_maps = self._propagated_rank_maps(sources, target_mean, target_std, graph, edge_weight)
        if self.fusion == "edge":
            hr = next(rank_maps)
            return self.downsample(hr), hr

        # The softmax is float32; the weighted sum runs in the rank maps' dtype (x's), so a
        # bf16 fold's maps are not cast to float32 only for fuse_hr's bf16 convolution to
        # cast them back (a no-op in float32: the exact path is unchanged).
        hr_weight, lr_weight = (weight.to(x.dtype) for weight in self._rank_weights(graph))
        for r, rank_map in enumerate(rank_maps):
            if r == 0:
                hr = hr_weight[:, 0] * rank_map
                lr = lr_weight[:, 0] * self.downsample(rank_map)
            else:
                hr = hr.addcmul_(hr_weight[:, r], rank_map)
                lr = lr.addcmul_(lr_weight[:, r], self.downsample(rank_map))
            del rank_map  # freed before the next map is folded: one HR map less at the peak
        return lr, hr

    def _propagated_rank_maps(
        self,
        source_windows: Tensor,
        target_mean: Tensor,
        target_std: Tensor,
        graph: CrossScaleGraph,
        edge_weight: Tensor | None,
    ) -> Iterator[Tensor]:
        """PyG's ``propagate`` (message, then aggregate) one rank at a time, each result
        folded: the rank maps ``[B, C, sH, sW]``, or with edge weights their sum (one map).

        ``source_windows`` from :func:`hr_source_windows`, query statistics from
        :func:`centered_patch_stats`.  The rank-``r`` edges give every query exactly one
        message, so propagating one rank at a time holds ``1/k`` of the messages in memory.
        Messages are float32 also under autocast (this path serves hooks and explainers,
        not speed)."""
        b, k = graph.batch_size, self.num_neighbors
        hr_grid = graph.target_grid.scaled(self.scale)
        _, source_mean, source_std = centered_patch_stats(source_windows, self.eps)
        # node features [B N, C (p s)^2] in (c, row, col) order, as fold_patches takes them
        sources = channel_major_patches(source_windows).flatten(0, 1)
        stats = {
            name: node_major(stat)[:, :, None]
            for name, stat in (
                ("source_mean", source_mean),
                ("source_std", source_std),
                ("target_mean", target_mean),
                ("target_std", target_std),
            )
        }
        total = 0
        for r in range(k):
            out = self.propagate(
                graph.edge_index[:, r::k],
                x=(sources, None),
                size=graph.size,
                **stats,
                edge_weight=None if edge_weight is None else edge_weight[r::k],
            )
            rank_map = fold_patches(out.view(b, -1, out.shape[-1]), hr_grid)
            if edge_weight is None:
                yield rank_map
            else:
                total = total + rank_map
        if edge_weight is not None:
            yield total

    def _fused_rank_maps(
        self,
        source_windows: Tensor,
        target_mean: Tensor,
        target_std: Tensor,
        graph: CrossScaleGraph,
        edge_weight: Tensor | None,
        dtype: torch.dtype,
    ) -> Iterator[Tensor]:
        r"""The same maps as :meth:`_propagated_rank_maps` without materialising the
        messages.  AdaIN splits into a source part and a query part,
        :math:`m_{j \to i} = \hat h_j \, \sigma(x_i) + \mu(x_i)` with
        :math:`\hat h_j = (h_j - \mu(h_j)) / \sigma(h_j)` normalised once per source; the
        query means fold into one map (weighted by :math:`\sum_j \alpha_{ji}` with edge
        weights) and :func:`~ignn_pyg.nn.gathered_patch_fold.fold_gathered_patches`
        adds the gathered, gain-scaled :math:`\hat h_j` into it.  Maps are channels-last
        in memory; the normalisation is float32 and the fold runs in ``dtype``."""
        b, c, k = graph.batch_size, self.channels, self.num_neighbors
        q = source_windows.shape[3]
        hr_grid = graph.target_grid.scaled(self.scale)
        centered, _, source_std = centered_patch_stats(source_windows, self.eps)
        normalized = (centered / source_std).view(-1, q, q, c).to(dtype)  # [B N, q, q, C]
        index = graph.edge_index[0].view(-1, k).t()  # [k, B M]: rank r's source of every query
        gain, offset = node_major(target_std)[None], node_major(target_mean)
        if edge_weight is not None:
            weight = edge_weight.view(-1, k)
            gain, offset = gain * weight.t()[:, :, None], offset * weight.sum(1, keepdim=True)
        gain = gain.to(dtype)
        base = repeat_pixels(fold_patch_constants(offset.view(b, -1, c), graph.target_grid), self.scale)
        base = base.permute(0, 2, 3, 1).to(dtype)  # [B, sH, sW, C]
        if edge_weight is not None:
            yield fold_gathered_patches(normalized, index, gain, base, hr_grid, self.native_fold).permute(0, 3, 1, 2)
            return
        for r in range(k):
            yield fold_gathered_patches(normalized, index[r : r + 1], gain, base, hr_grid, self.native_fold).permute(
                0, 3, 1, 2
            )

    def _check(self, x: Tensor, graph: CrossScaleGraph) -> None:
        """The graph fits this layer and this feature map, with ``k`` edges per target
        grouped by target, nearest first (the layout of ``build_cross_scale_graph``)."""
        if x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} feature channels, got {x.shape[1]}")
        if graph.num_neighbors != self.num_neighbors or graph.scale != self.scale:
            raise ValueError(
                f"graph has k={graph.num_neighbors}, scale={graph.scale}; this layer "
                f"expects k={self.num_neighbors}, scale={self.scale}"
            )
        grid = graph.target_grid
        if (grid.height, grid.width) != tuple(x.shape[-2:]) or graph.batch_size != x.shape[0]:
            raise ValueError(
                f"graph was built for {graph.batch_size} maps of {grid.height}x{grid.width}, got {tuple(x.shape)}"
            )
        if torch.compiler.is_compiling():
            return  # the layout is a value test, which a traced graph cannot branch on
        targets = torch.arange(graph.num_target_nodes, device=x.device).repeat_interleave(self.num_neighbors)
        if not torch.equal(graph.edge_index[1], targets):
            raise ValueError("graph edges must be grouped by target, k per target, nearest first")

    def message(
        self,
        x_j: Tensor,
        source_mean_j: Tensor,
        source_std_j: Tensor,
        target_mean_i: Tensor,
        target_std_i: Tensor,
        edge_weight: Tensor | None,
    ) -> Tensor:
        # AdaIN as one affine map per edge and channel: m = h * (s_i / s_j) + (mu_i - mu_j s_i / s_j)
        gain = target_std_i / source_std_j
        offset = target_mean_i - source_mean_j * gain
        if edge_weight is not None:
            gain, offset = gain * edge_weight[:, :, None], offset * edge_weight[:, :, None]
        return torch.addcmul(offset, x_j.view(*gain.shape[:2], -1), gain).flatten(1)

    def aggregate(
        self, inputs: Tensor, index: Tensor, ptr: Tensor | None = None, dim_size: int | None = None
    ) -> Tensor:
        # one rank at a time: each target has exactly one incoming edge, in target order
        return inputs

    def edge_weights(self, graph: CrossScaleGraph) -> Tensor:
        r"""The edge fusion's weights :math:`\alpha_{ji} = \operatorname{softmax}_{j \in
        \mathcal{N}(i)} \phi(a_{ji})`, ``[E]``: each query's ``k`` weights sum to 1.
        The numbers :meth:`forward` uses (``fusion="edge"`` only)."""
        if self.fusion != "edge":
            raise ValueError(f"edge_weights belong to fusion='edge', this layer has fusion={self.fusion!r}")
        score = at_least_float32(self.hr_weight_net.score_rows(graph.edge_attr))[:, None]  # also under autocast
        return softmax(score, graph.edge_index[1], num_nodes=graph.num_target_nodes).view(-1)

    def rank_weights(self, graph: CrossScaleGraph) -> tuple[Tensor, Tensor]:
        """The reference fusion's per-pixel softmax over ranks at LR resolution
        (``fusion="reference"`` only): ``(hr_weight, lr_weight)``, each ``[B, k, H, W]``
        summing to 1 over ``k``.  ``hr_weight`` weighs the HR rank maps (:meth:`forward`
        repeats it ``s x s``), ``lr_weight`` the LR ones; the numbers of
        :meth:`_rank_weights`, which :meth:`forward` uses."""
        if self.fusion != "reference":
            raise ValueError(f"rank_weights belong to fusion='reference', this layer has fusion={self.fusion!r}")
        hr_weight, lr_weight = self._rank_weights(graph)
        return hr_weight[:, :, 0, :: self.scale, :: self.scale], lr_weight[:, :, 0]

    def _rank_weights(self, graph: CrossScaleGraph) -> tuple[Tensor, Tensor]:
        """The authors' per-pixel weights: edge features folded per rank, scored by the
        weight nets, softmax over ranks.

        The authors fold the edge features at high resolution.  High-resolution patch
        borders fall on multiples of ``s`` (patch ``p s``, stride ``t s``), so that map is
        constant on aligned ``s x s`` blocks: it equals the LR-resolution fold (patch ``p``,
        stride ``t``) repeated ``s x s``, and its ``s``-average-pool equals the LR fold
        itself.  The 1x1 weight nets therefore run once per LR pixel and the HR scores
        are repeated -- the same numbers for ``1/s^2`` of the work -- and their affine
        first layer once per query patch, before the fold
        (:func:`score_folded_patch_constants`).

        Returns:
            ``(hr_weight [B, k, 1, sH, sW], lr_weight [B, k, 1, H, W])``.
        """
        b, k, c = graph.batch_size, self.num_neighbors, graph.edge_attr.shape[-1]
        grid = graph.target_grid
        attr = graph.edge_attr.view(b, -1, k, c)
        nets = (self.hr_weight_net, self.lr_weight_net)
        # [B, k, H, W, 2], float32 also under autocast; one rank at a time
        scores = torch.stack([score_folded_patch_constants(nets, attr[:, :, r], grid) for r in range(k)], 1)
        hr_weight = repeat_pixels(scores[..., 0].softmax(1), self.scale).unsqueeze(2)
        return hr_weight, scores[..., 1].softmax(1).unsqueeze(2)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(channels={self.channels}, scale={self.scale}, "
            f"num_neighbors={self.num_neighbors}, edge_dim={self.edge_dim}, fusion={self.fusion!r})"
        )
