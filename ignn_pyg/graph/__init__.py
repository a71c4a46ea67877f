"""Image -> patch nodes -> cross-scale k-NN graph (explicit PyG data).

* :mod:`.patches`  -- patch extraction with the authors' padding, and the averaging fold.
* :mod:`.windows`  -- where each query patch searches (reference / centred windows).
* :mod:`.knn`      -- windowed k-NN backends (``dense`` blocked GEMM, ``torch_cluster``).
* :mod:`.cross_scale_graph` -- :func:`build_cross_scale_graph` and :class:`CrossScaleGraph`.
* :mod:`.embedding` -- the VGG and raw-pixel patch embeddings.
"""

from ignn_pyg.graph.cross_scale_graph import (
    CrossScaleGraph,
    build_cross_scale_graph,
    candidates_per_query,
    edge_features,
    min_map_side,
)
from ignn_pyg.graph.embedding import PixelEmbedding, VGGEmbedding
from ignn_pyg.graph.knn import windowed_knn
from ignn_pyg.graph.patches import PatchGrid, extract_patch_rows, extract_patches, fold_patch_constants, fold_patches
from ignn_pyg.graph.windows import SearchWindows, search_windows

__all__ = [
    "CrossScaleGraph",
    "build_cross_scale_graph",
    "edge_features",
    "candidates_per_query",
    "min_map_side",
    "PixelEmbedding",
    "VGGEmbedding",
    "windowed_knn",
    "PatchGrid",
    "extract_patches",
    "extract_patch_rows",
    "fold_patches",
    "fold_patch_constants",
    "SearchWindows",
    "search_windows",
]
