"""Message passing and building blocks.

* :class:`CrossScaleAggregation` -- IGNN's aggregation, a ``MessagePassing`` layer.
* :class:`PatchGraphAggregation` -- any bipartite PyG layer in its place.
* :mod:`.registry` -- aggregations by name (``"ignn"``, ``"gatv2"``, ``"transformer"``,
  ``"general"``, ``"mean"``); :func:`register_pyg_layer` adds one.
* :mod:`.blocks` -- residual block, mean shift, sub-pixel upsampler.
"""

from ignn_pyg.nn.blocks import MeanShift, ResBlock, Upsampler
from ignn_pyg.nn.cross_scale_aggregation import CrossScaleAggregation
from ignn_pyg.nn.patch_graph_adapter import MeanPatchAggregation, PatchGraphAggregation
from ignn_pyg.nn.registry import AGGREGATIONS, build_aggregation, register_aggregation, register_pyg_layer

__all__ = ["AGGREGATIONS", "CrossScaleAggregation", "MeanPatchAggregation", "MeanShift",
           "PatchGraphAggregation", "ResBlock", "Upsampler", "build_aggregation",
           "register_aggregation", "register_pyg_layer"]
