"""Super-resolution networks: :class:`IGNN` and its baseline :class:`EDSR`."""

from ignn_pyg.models.edsr import EDSR, EDSRConfig
from ignn_pyg.models.ignn import IGNN, IGNNConfig, graph_scale_for

__all__ = ["EDSR", "EDSRConfig", "IGNN", "IGNNConfig", "graph_scale_for"]
