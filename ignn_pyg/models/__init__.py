"""Super-resolution networks: :class:`IGNN` and its baseline :class:`EDSR`."""

from ignn_pyg.models.edsr import EDSR, EDSRConfig
from ignn_pyg.models.ignn import IGNN, IGNNConfig, downsample_for_graph, graph_scale_for

__all__ = ["EDSR", "EDSRConfig", "IGNN", "IGNNConfig", "downsample_for_graph", "graph_scale_for"]
