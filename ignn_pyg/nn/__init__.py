"""Message passing and building blocks.

* :class:`CrossScaleAggregation` -- IGNN's aggregation, a ``MessagePassing`` layer.
* :mod:`.blocks` -- residual block, mean shift, sub-pixel upsampler.
"""

from ignn_pyg.nn.blocks import MeanShift, ResBlock, Upsampler
from ignn_pyg.nn.cross_scale_aggregation import CrossScaleAggregation

__all__ = ["CrossScaleAggregation", "MeanShift", "ResBlock", "Upsampler"]
