"""Message passing and building blocks.

* :class:`CrossScaleAggregation` -- IGNN's aggregation, a ``MessagePassing`` layer.
* :class:`GatedDetailTransfer` -- the neighbours' HR RGB detail under a learned gate;
  :class:`DetailAugmentedAggregation` -- the authors' layer with it beside
  (``"ignn_detail"``).
* :class:`PatchGraphAggregation` -- any bipartite PyG layer in its place.
* :mod:`.registry` -- aggregations by name (``"ignn"``, ``"ignn_detail"``, ``"gatv2"``, ``"transformer"``,
  ``"general"``, ``"mean"``); :func:`register_pyg_layer` adds one.
* :mod:`.blocks` -- residual block, mean shift, sub-pixel upsampler.
"""

from ignn_pyg.nn.blocks import MeanShift, ResBlock, Upsampler
from ignn_pyg.nn.cross_scale_aggregation import CrossScaleAggregation
from ignn_pyg.nn.detail_augmented_aggregation import DetailAugmentedAggregation
from ignn_pyg.nn.gated_detail_transfer import GatedDetailTransfer
from ignn_pyg.nn.patch_graph_adapter import MeanPatchAggregation, PatchGraphAggregation
from ignn_pyg.nn.registry import AGGREGATIONS, build_aggregation, register_aggregation, register_pyg_layer

__all__ = [
    "AGGREGATIONS",
    "CrossScaleAggregation",
    "DetailAugmentedAggregation",
    "GatedDetailTransfer",
    "MeanPatchAggregation",
    "MeanShift",
    "PatchGraphAggregation",
    "ResBlock",
    "Upsampler",
    "build_aggregation",
    "register_aggregation",
    "register_pyg_layer",
]
