"""Measuring super-resolution: the metrics, the evaluation loop and the graph probe.

``metrics``        PSNR and SSIM on the Y channel, the one implementation of the protocol
``engine``         :func:`evaluate` a forward on a dataset, :func:`make_forward` for an
                   inference mode, :func:`probe_graph` (graph reliance), :func:`summarize`
``results_table``  the table of several models on several sets and scales, and its pair files
``dead_channels``  ReLU channels that never fire on a set of inputs
"""

from ignn_pyg.evaluation.dead_channels import DeadChannelCounter, dead_relu_channels
from ignn_pyg.evaluation.engine import evaluate, make_forward, probe_graph, summarize
from ignn_pyg.evaluation.metrics import psnr, psnr_ssim, rgb_to_y, ssim

__all__ = [
    "DeadChannelCounter",
    "dead_relu_channels",
    "evaluate",
    "make_forward",
    "probe_graph",
    "summarize",
    "psnr",
    "psnr_ssim",
    "rgb_to_y",
    "ssim",
]
