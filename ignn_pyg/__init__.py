"""ignn-pyg: IGNN (cross-scale internal graph neural network for single-image
super-resolution, Zhou et al., NeurIPS 2020) in PyTorch Geometric.

Data flows up through the sub-packages; each imports only those below it
(``docs/architecture.md``, checked by ``lint-imports``):

* :mod:`ignn_pyg.data`, :mod:`ignn_pyg.graph`, :mod:`ignn_pyg.runtime` -- images and
  the MATLAB-bicubic degradation; image patches become nodes and the cross-scale k-NN
  graph is built as explicit PyG data (``edge_index``, ``edge_attr``, ranks,
  positions); the device, precision and memory settings a model runs with.
* :mod:`ignn_pyg.nn`         -- the ``MessagePassing`` aggregation layer and small blocks.
* :mod:`ignn_pyg.models`     -- the IGNN network, its EDSR baseline, training-free graph SR.
* :mod:`ignn_pyg.inference`  -- checkpoints; whole-image, tiled, chopped, ensembled forwards.
* :mod:`ignn_pyg.evaluation` -- PSNR/SSIM, the evaluation loop, the graph probe.
* :mod:`ignn_pyg.training`   -- the training loop.
* :mod:`ignn_pyg.commands`   -- the ``ignn-pyg`` command line.
"""

__version__ = "0.1.0"
