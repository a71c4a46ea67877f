"""Super-resolution networks: :class:`IGNN` and its baseline :class:`EDSR`.

:mod:`.internal_sr` is the model without weights: training-free super-resolution from
an image's own cross-scale graph (``upscale --method graph``, ``eval --weights graph``).
"""

from ignn_pyg.models.edsr import EDSR, EDSRConfig
from ignn_pyg.models.ignn import IGNN, IGNNConfig, graph_scale_for

__all__ = ["EDSR", "EDSRConfig", "IGNN", "IGNNConfig", "graph_scale_for"]
