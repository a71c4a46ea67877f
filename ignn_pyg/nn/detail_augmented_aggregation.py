"""The authors' aggregation with a gated HR-detail path beside it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.nn.blocks import conv3x3
from ignn_pyg.nn.cross_scale_aggregation import CrossScaleAggregation
from ignn_pyg.nn.gated_detail_transfer import IMAGE_CHANNELS, GatedDetailTransfer


class DetailAugmentedAggregation(nn.Module):
    r"""IGNN's :class:`~ignn_pyg.nn.CrossScaleAggregation`, unchanged, plus a
    :class:`~ignn_pyg.nn.GatedDetailTransfer` on the same graph whose HR detail map
    :math:`D` goes both to the network's output and into its HR features:

    .. math::
        (Y_{LR}, Y_{HR}) = \mathrm{CrossScaleAggregation}(x, G), \qquad
        D = \mathrm{GatedDetailTransfer}(I, G),

    returns :math:`(Y_{LR},\ Y_{HR} + L(D),\ D)` with :math:`L` a 3x3 conv (3 to
    ``C`` channels); :class:`~ignn_pyg.models.IGNN` adds :math:`D` to its output, so
    :math:`y = \mathrm{bicubic}_s(I) + f(\cdot) + D` (with ``residual="bicubic"``; with
    the authors' ``"none"`` the network has to produce the bicubic part itself).  Where
    the graph holds the exact HR answer, open gates make :math:`\mathrm{bicubic}_s(I) + D`
    that answer without any learned mapping in the way; the rest of the network sees
    :math:`D` through :math:`L` and can correct or ignore it.

    Args:
        channels, scale, num_neighbors, edge_dim, res_scale, fusion: of the
            authors' layer (:class:`~ignn_pyg.nn.CrossScaleAggregation`).
        patch_size: ``p`` of the graph.
        rgb_range: the image range (255).

    Shapes: ``x [B, C, H, W]``, ``image [B, 3, H, W]`` and their graph ``-> (lr [B, C, H, W],
    hr [B, C, sH, sW], detail [B, 3, sH, sW])``.
    """

    #: the model adds the third output, an RGB detail map, to its output
    outputs_detail = True

    def __init__(
        self,
        channels: int,
        scale: int,
        num_neighbors: int = 5,
        edge_dim: int = 64,
        patch_size: int = 3,
        res_scale: float = 0.1,
        fusion: str = "reference",
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        self.features = CrossScaleAggregation(
            channels, scale, num_neighbors, edge_dim=edge_dim, res_scale=res_scale, fusion=fusion
        )
        self.detail = GatedDetailTransfer(scale, edge_dim, patch_size, rgb_range=rgb_range)
        self.lift = conv3x3(IMAGE_CHANNELS, channels)

    def forward(self, x: Tensor, graph: CrossScaleGraph, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        lr, hr = self.features(x, graph)
        detail = self.detail(image, graph)
        lifted = self.lift(detail).contiguous(memory_format=torch.channels_last)  # the layout of hr
        return lr, hr + lifted, detail
