"""ignn-pyg: IGNN (cross-scale internal graph neural network for single-image
super-resolution, Zhou et al., NeurIPS 2020) in PyTorch Geometric.

Data flows through the sub-packages in this order:

* :mod:`ignn_pyg.graph`  -- image patches become nodes; the cross-scale k-NN graph
  is built as explicit PyG data (``edge_index``, ``edge_attr``, ranks, positions).
* :mod:`ignn_pyg.nn`     -- the ``MessagePassing`` aggregation layer and small blocks.
* :mod:`ignn_pyg.models` -- the IGNN network and its EDSR baseline.
* :mod:`ignn_pyg.data`, :mod:`ignn_pyg.evaluation.metrics`, :mod:`ignn_pyg.inference`,
  :mod:`ignn_pyg.inference.checkpoints` -- degradation, datasets, evaluation protocol, I/O.

Lower layers never import higher ones.
"""

__version__ = "0.1.0"
