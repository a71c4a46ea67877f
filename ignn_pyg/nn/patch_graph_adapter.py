"""Run any bipartite PyG layer as IGNN's aggregation step."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.patches import extract_patches, fold_patches
from ignn_pyg.nn.cross_scale_aggregation import hr_source_patches, lr_branch

#: builds a PyG layer from ``(source_dim, target_dim, out_dim, edge_dim)``
LayerFactory = Callable[[int, int, int, int], nn.Module]


class PatchGraphAggregation(nn.Module):
    r"""Wrap a bipartite PyG layer so it can replace IGNN's aggregation.

    Patch features are large (``C (p s)^2`` per source node), so the feature map is first
    reduced to ``reduced_channels`` by a 1x1 convolution ``R``; then

    .. math::
        z = \mathrm{layer}\big((h^{R}_j)_{j},\ (x^{R}_i)_{i},\ \mathrm{edge\_index},\
            a / p^2\big), \qquad
        Y_{HR} = R'(\mathrm{fold}(z)), \qquad Y_{LR} = \psi(Y_{HR})

    where :math:`h^R_j` are the HR source patches and :math:`x^R_i` the LR query
    patches of the reduced map, :math:`a` the graph's edge features (divided by the
    patch area, i.e. mean absolute difference per pixel), ``fold`` averages the
    output patches into an ``s``-times larger map, :math:`R'` restores ``C`` channels
    (1x1 conv) and :math:`\psi` is the strided conv stack of
    :class:`~ignn_pyg.nn.CrossScaleAggregation`.

    Args:
        layer_factory: ``(source_dim, target_dim, out_dim, edge_dim) -> layer``; the
            layer is called as ``layer((x_src, x_dst), edge_index, edge_attr)`` and
            returns ``[N_dst, out_dim]``.
        channels: feature channels ``C``.
        scale: graph scale ``s``.
        patch_size: ``p`` of the graph.
        edge_dim: edge feature size.
        reduced_channels: ``C_r`` inside the layer.

    Shapes: ``x [B, C, H, W]`` and its graph ``-> (lr [B, C, H, W], hr [B, C, sH, sW])``;
    inside, ``x_src [B N, C_r (p s)^2]``, ``x_dst [B M, C_r p^2]``, output
    ``[B M, C_r (p s)^2]``.
    """

    def __init__(
        self,
        layer_factory: LayerFactory,
        channels: int,
        scale: int,
        patch_size: int = 3,
        edge_dim: int = 64,
        reduced_channels: int = 8,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.reduce = nn.Conv2d(channels, reduced_channels, 1)
        self.restore = nn.Conv2d(reduced_channels, channels, 1)
        source_dim = reduced_channels * (patch_size * scale) ** 2
        self.layer = layer_factory(source_dim, reduced_channels * patch_size**2, source_dim, edge_dim)
        self.downsample = lr_branch(channels, scale)

    def forward(self, x: Tensor, graph: CrossScaleGraph) -> tuple[Tensor, Tensor]:
        reduced = self.reduce(x)
        grid = graph.target_grid
        queries, _ = extract_patches(reduced, grid.patch_size, grid.stride)
        sources = hr_source_patches(reduced, graph.source_grid, self.scale)
        edge_attr = graph.edge_attr / grid.patch_size**2
        out = self.layer((sources.flatten(0, 1), queries.flatten(0, 1)), graph.edge_index, edge_attr)
        hr = self.restore(fold_patches(out.view(graph.batch_size, grid.num_patches, -1), grid.scaled(self.scale)))
        return self.downsample(hr), hr


class MeanPatchAggregation(MessagePassing):
    r"""The plain mean of the neighbours' HR patches, no weights:
    :math:`z_i = \frac{1}{|\mathcal{N}(i)|} \sum_{j \in \mathcal{N}(i)} h_j`.

    Shapes: ``((x_src [N_src, F], x_dst [N_dst, *]), edge_index [2, E]) -> [N_dst, F]``.
    """

    def __init__(self) -> None:
        super().__init__(aggr="mean", flow="source_to_target", node_dim=0)

    def forward(self, x: tuple[Tensor, Tensor], edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return self.propagate(edge_index, x=x, size=(x[0].shape[0], x[1].shape[0]))

    def message(self, x_j: Tensor) -> Tensor:
        return x_j


def mean_layer(source_dim: int, target_dim: int, out_dim: int, edge_dim: int) -> nn.Module:
    """Factory for :class:`MeanPatchAggregation` (output size = ``source_dim``)."""
    if out_dim != source_dim:
        raise ValueError(f"the mean keeps the source size {source_dim}, asked for {out_dim}")
    return MeanPatchAggregation()
