"""Aggregation layers selectable by name (in configs and in the ``IGNN`` constructor).

Every entry builds a module with ``forward(x [B, C, H, W], graph) -> (lr [B, C, H, W],
hr [B, C, sH, sW])``.  ``"ignn"`` is the authors' edge-conditioned layer;
``"ignn_detail"`` adds a gated HR-detail path beside it
(:class:`~ignn_pyg.nn.DetailAugmentedAggregation`): a module whose ``outputs_detail`` is
true is called as ``forward(x, graph, image [B, 3, H, W])`` and returns a third output,
an RGB detail map ``[B, 3, sH, sW]`` that the model adds to its output.  The others run
a standard bipartite PyG layer through :class:`~ignn_pyg.nn.PatchGraphAggregation`.

Adding a layer is one line: a factory ``(source_dim, target_dim, out_dim, edge_dim) ->
layer`` passed to :func:`register_pyg_layer` (see ``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch_geometric.nn import GATv2Conv, GeneralConv, TransformerConv

from ignn_pyg.nn.cross_scale_aggregation import CrossScaleAggregation
from ignn_pyg.nn.detail_augmented_aggregation import DetailAugmentedAggregation
from ignn_pyg.nn.patch_graph_adapter import LayerFactory, PatchGraphAggregation, mean_layer

#: name -> builder(channels, scale, num_neighbors, patch_size, edge_dim, res_scale, fusion,
#: reduced_channels, rgb_range) -> module
AGGREGATIONS: dict[str, Callable[..., nn.Module]] = {}


def register_aggregation(name: str, builder: Callable[..., nn.Module]) -> None:
    """Register a builder taking the keyword arguments of :func:`build_aggregation`."""
    if name in AGGREGATIONS:
        raise ValueError(f"aggregation {name!r} is already registered")
    AGGREGATIONS[name] = builder


def register_pyg_layer(name: str, factory: LayerFactory) -> None:
    """Register a bipartite PyG layer, wrapped in :class:`PatchGraphAggregation`."""

    def builder(
        channels: int, scale: int, patch_size: int, edge_dim: int, reduced_channels: int, **_: object
    ) -> nn.Module:
        return PatchGraphAggregation(factory, channels, scale, patch_size, edge_dim, reduced_channels)

    register_aggregation(name, builder)


def build_aggregation(
    name: str,
    *,
    channels: int,
    scale: int,
    num_neighbors: int,
    patch_size: int,
    edge_dim: int,
    res_scale: float,
    fusion: str,
    reduced_channels: int,
    rgb_range: float = 255.0,
) -> nn.Module:
    """The registered aggregation ``name`` for a ``channels``-wide map at graph scale ``scale``."""
    if name not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {name!r}; registered: {sorted(AGGREGATIONS)}")
    return AGGREGATIONS[name](
        channels=channels,
        scale=scale,
        num_neighbors=num_neighbors,
        patch_size=patch_size,
        edge_dim=edge_dim,
        res_scale=res_scale,
        fusion=fusion,
        reduced_channels=reduced_channels,
        rgb_range=rgb_range,
    )


register_aggregation(
    "ignn",
    lambda channels, scale, num_neighbors, edge_dim, res_scale, fusion, **_: CrossScaleAggregation(
        channels, scale, num_neighbors, edge_dim=edge_dim, res_scale=res_scale, fusion=fusion
    ),
)
register_aggregation(
    "ignn_detail",
    lambda channels, scale, num_neighbors, patch_size, edge_dim, res_scale, fusion, rgb_range, **_: (
        DetailAugmentedAggregation(
            channels,
            scale,
            num_neighbors,
            edge_dim=edge_dim,
            patch_size=patch_size,
            res_scale=res_scale,
            fusion=fusion,
            rgb_range=rgb_range,
        )
    ),
)
register_pyg_layer("gatv2", lambda src, dst, out, edge: GATv2Conv((src, dst), out, edge_dim=edge, add_self_loops=False))
register_pyg_layer("transformer", lambda src, dst, out, edge: TransformerConv((src, dst), out, edge_dim=edge))
register_pyg_layer("general", lambda src, dst, out, edge: GeneralConv((src, dst), out, in_edge_channels=edge))
register_pyg_layer("mean", mean_layer)
