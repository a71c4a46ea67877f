"""IGNN's cross-scale graph aggregation as a PyG ``MessagePassing`` layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.patches import PatchGrid, extract_patches, fold_patch_columns, fold_patch_constants
from ignn_pyg.nn.blocks import ResBlock

FUSIONS = ("reference", "edge")


def hr_source_patches(x: Tensor, source_grid: PatchGrid, scale: int) -> Tensor:
    """The high-resolution counterpart of every downsampled-image patch.

    Source patch ``(r, c)`` of the ``H//s x W//s`` grid covers, ``s`` times larger, the
    ``(p s) x (p s)`` region of ``x`` at ``s`` times its position (the authors'
    pixel-shuffle-down patch).  ``x`` is cropped to a multiple of ``s`` and padded by
    ``s`` times the source grid's padding.

    Args:
        x: LR feature map ``[B, C, H, W]``.
        source_grid: patch grid of the downsampled map (``H//s x W//s``).
        scale: ``s``.

    Returns:
        ``[B, N, C*(p s)^2]`` with features in ``(c, row, col)`` order.
    """
    grid = source_grid.scaled(scale)
    cropped = x[..., :grid.height, :grid.width]
    padded = F.pad(cropped, (grid.pad_left, grid.pad_right, grid.pad_top, grid.pad_bottom))
    return F.unfold(padded, grid.patch_size, stride=grid.stride).transpose(1, 2)


def channel_stats(patches: Tensor, channels: int, eps: float) -> tuple[Tensor, Tensor]:
    r"""Per-channel mean and :math:`\sqrt{\mathrm{var} + \epsilon}` (unbiased variance)
    of patches ``[..., C*P] -> ([..., C, 1], [..., C, 1])``."""
    x = patches.unflatten(-1, (channels, -1))
    var, mean = torch.var_mean(x, dim=-1, keepdim=True)
    return mean, (var + eps).sqrt()


class EdgeWeightNet(nn.Sequential):
    """Per-pixel (or per-edge) scorer: 1x1 conv (``in -> hidden``), a 1x1 residual block,
    1x1 conv (``hidden -> 1``).  Shapes: ``[B, in, H, W] -> [B, 1, H, W]``."""

    def __init__(self, in_channels: int, hidden: int = 64, res_scale: float = 0.1) -> None:
        super().__init__(nn.Conv2d(in_channels, hidden, 1),
                         ResBlock(hidden, kernel_size=1, res_scale=res_scale),
                         nn.Conv2d(hidden, 1, 1))


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

    Shapes:
        - input: feature map ``[B, C, H, W]`` and a graph built on ``H x W`` queries and
          ``H//s x W//s`` sources; internally ``x_src [B N, C (p s)^2]`` (HR source
          patches) and ``x_dst [B M, C p^2]`` (LR query patches), bipartite size
          ``(B N, B M)``.
        - output: ``(lr [B, C, H, W], hr [B, C, s H, s W])``.
    """

    def __init__(self, channels: int, scale: int, num_neighbors: int = 5, edge_dim: int = 64,
                 hidden: int = 64, res_scale: float = 0.1, fusion: str = "reference",
                 eps: float = 1e-5) -> None:
        super().__init__(aggr="sum", flow="source_to_target", node_dim=0)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.channels = channels
        self.scale = scale
        self.num_neighbors = num_neighbors
        self.edge_dim = edge_dim
        self.fusion = fusion
        self.eps = eps
        self.downsample = nn.Sequential(
            nn.Conv2d(channels, channels, 5, stride=scale, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1))
        self.hr_weight_net = EdgeWeightNet(edge_dim, hidden, res_scale)
        self.lr_weight_net = EdgeWeightNet(edge_dim, hidden, res_scale) if fusion == "reference" else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    def forward(self, x: Tensor, graph: CrossScaleGraph) -> tuple[Tensor, Tensor]:
        b, c = x.shape[:2]
        if c != self.channels:
            raise ValueError(f"expected {self.channels} feature channels, got {c}")
        if graph.num_neighbors != self.num_neighbors or graph.scale != self.scale:
            raise ValueError(f"graph has k={graph.num_neighbors}, scale={graph.scale}; this layer "
                             f"expects k={self.num_neighbors}, scale={self.scale}")
        queries, grid = extract_patches(x, graph.target_grid.patch_size, graph.target_grid.stride)
        if grid != graph.target_grid or graph.batch_size != b:
            raise ValueError(f"graph was built for {graph.batch_size} maps of "
                             f"{graph.target_grid.height}x{graph.target_grid.width}, got {tuple(x.shape)}")
        sources = hr_source_patches(x, graph.source_grid, self.scale)
        mean, std = channel_stats(queries.flatten(0, 1), c, self.eps)
        edge_weight = None
        if self.fusion == "edge":
            score = self.hr_weight_net(graph.edge_attr[:, :, None, None]).view(-1, 1)
            edge_weight = softmax(score, graph.edge_index[1], num_nodes=graph.num_target_nodes)
        out = self.propagate(graph.edge_index, x=(sources.flatten(0, 1), None), target_mean=mean,
                             target_std=std, edge_weight=edge_weight, size=graph.size)
        hr_grid = graph.target_grid.scaled(self.scale)
        if self.fusion == "edge":
            hr = fold_patch_columns(out.view(b, -1, out.shape[-1]).transpose(1, 2), hr_grid)
            return self.downsample(hr), hr
        return self._fuse_per_rank(out.view(b, -1, self.num_neighbors, out.shape[-1]),
                                   graph.edge_attr.view(b, -1, self.num_neighbors, graph.edge_attr.shape[-1]),
                                   hr_grid)

    def message(self, x_j: Tensor, target_mean_i: Tensor, target_std_i: Tensor,
                edge_weight: Tensor | None) -> Tensor:
        source_mean, source_std = channel_stats(x_j, self.channels, self.eps)
        normalized = (x_j.unflatten(-1, (self.channels, -1)) - source_mean) / source_std
        msg = (normalized * target_std_i + target_mean_i).flatten(-2)
        return msg if edge_weight is None else msg * edge_weight

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Tensor | None = None,
                  dim_size: int | None = None) -> Tensor:
        if self.fusion == "reference":
            # keep ranks apart: edges are grouped by target, nearest first
            return inputs.view(dim_size, self.num_neighbors, inputs.shape[-1])
        return super().aggregate(inputs, index, ptr=ptr, dim_size=dim_size)

    def _fuse_per_rank(self, messages: Tensor, edge_attr: Tensor, hr_grid: PatchGrid) -> tuple[Tensor, Tensor]:
        """The authors' per-pixel weighting.

        Args:
            messages: ``[B, M, k, C (p s)^2]`` aggregated per rank.
            edge_attr: ``[B, M, k, C_e]``.
            hr_grid: the LR query grid scaled by ``s``.

        Returns:
            ``(lr [B, C, H, W], hr [B, C, s H, s W])``.
        """
        b, m, k, f = messages.shape
        columns = messages.permute(0, 2, 3, 1).reshape(b * k, f, m)
        rank_maps = fold_patch_columns(columns, hr_grid)  # [B k, C, sH, sW]
        attr_maps = fold_patch_constants(edge_attr.transpose(1, 2).reshape(b * k, m, -1), hr_grid)
        hr_weight = self.hr_weight_net(attr_maps).view(b, k, 1, *rank_maps.shape[-2:]).softmax(dim=1)
        hr = (rank_maps.view(b, k, *rank_maps.shape[1:]) * hr_weight).sum(dim=1)
        lr_maps = self.downsample(rank_maps)
        lr_weight = self.lr_weight_net(F.avg_pool2d(attr_maps, self.scale))
        lr_weight = lr_weight.view(b, k, 1, *lr_maps.shape[-2:]).softmax(dim=1)
        lr = (lr_maps.view(b, k, *lr_maps.shape[1:]) * lr_weight).sum(dim=1)
        return lr, hr

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(channels={self.channels}, scale={self.scale}, "
                f"num_neighbors={self.num_neighbors}, edge_dim={self.edge_dim}, fusion={self.fusion!r})")
