"""Gated cross-scale detail transfer: a ``MessagePassing`` layer whose messages are the
neighbours' high-frequency RGB detail, weighted by a confidence that an exact match
opens and a poor one closes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax

from ignn_pyg.data.resize import bicubic_upsample, downsample_for_graph, modcrop
from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph
from ignn_pyg.graph.patches import PatchGrid, fold_patches
from ignn_pyg.nn.blocks import at_least_float32
from ignn_pyg.nn.cross_scale_aggregation import hr_source_patches

IMAGE_CHANNELS = 3
#: LR pixels the MATLAB-bicubic upsampling of a pixel reaches on each side (kernel width 4)
BICUBIC_SUPPORT = 2


def image_detail(image: Tensor, scale: int, rgb_range: float = 255.0) -> tuple[Tensor, Tensor]:
    r"""The image downsampled by the graph scale and the detail that downsampling removes.

    With :math:`x` the LR image, :math:`d = \mathrm{down}_s(x)` the graph's downsampled
    image (:func:`~ignn_pyg.data.downsample_for_graph`) and :math:`U_s` MATLAB-bicubic
    upsampling,

    .. math::
        e = x - U_s(d),

    the part of :math:`x` that bicubic upsampling of :math:`d` does not restore (Freedman
    and Fattal's example detail; :mod:`ignn_pyg.models.internal_sr` uses the same).

    Shapes: ``image [B, 3, H, W]`` in ``[0, rgb_range]`` ``-> (down [B, 3, H//s, W//s],
    detail [B, 3, s (H//s), s (W//s)])``.
    """
    down = downsample_for_graph(image * (255.0 / rgb_range), scale) * (rgb_range / 255.0)
    return down, modcrop(image, scale) - bicubic_upsample(down, scale, rgb_range)


def support_patches(x: Tensor, grid: PatchGrid, margin: int) -> Tensor:
    """Each patch of ``grid`` widened by ``margin`` pixels on every side: the
    ``(p + 2 margin)^2`` window centred on it, read from ``x`` padded by repeating its
    edge pixels (the grid's own zero rows included).

    Shapes: ``x [B, C, H, W]`` (the grid's map size) ``-> [B, M, C (p + 2 margin)^2]`` in
    ``(c, row, col)`` order, ``M = rows * cols``.
    """
    if tuple(x.shape[-2:]) != (grid.height, grid.width):
        raise ValueError(f"expected a {grid.height}x{grid.width} map, got shape {tuple(x.shape)}")
    m = margin
    padded = F.pad(x, (grid.pad_left + m, grid.pad_right + m, grid.pad_top + m, grid.pad_bottom + m), mode="replicate")
    return F.unfold(padded, grid.patch_size + 2 * m, stride=grid.stride).transpose(1, 2)


class GatedDetailTransfer(MessagePassing):
    r"""Each LR query receives its cross-scale neighbours' HR detail, weighted by how far
    it can trust each match.

    For an edge :math:`j \to i` of the :class:`~ignn_pyg.graph.CrossScaleGraph`, the
    message is :math:`e_j`, the ``(p s) x (p s)`` RGB patch of the image's own detail map
    :math:`e = x - U_s(d)` (:func:`image_detail`) at ``s`` times source :math:`j`'s
    position.  The network's output is the bicubic upsampling plus a correction,
    :math:`U_s(x) + f`; adding the folded messages :math:`D` to it gives, in query
    :math:`i`'s HR patch,

    .. math::
        U_s(x)_i + e_j = h_j + \bigl(U_s(x)_i - U_s(d)_j\bigr),

    :math:`h_j` being :math:`j`'s HR source region (the LR image at ``s`` times its
    position).  Bicubic upsampling of a patch depends on the pixels around it, so the
    bracket vanishes -- the exact HR example arrives unchanged -- when query :math:`i`
    and source :math:`j` agree on their patch *widened by the bicubic support*
    (:data:`BICUBIC_SUPPORT` pixels on each side, a ``(p + 4) x (p + 4)`` window), not
    only on the ``p x p`` patch the graph compares.  The layer therefore measures the
    match on that window itself, in RGB:

    .. math::
        \delta_{ji} = \tfrac{1}{\text{rgb\_range}}\,\operatorname{mean}_{\text{window}}
        |x_i - d_j| \in \mathbb{R}^3, \qquad
        u_{ji} = \log\bigl(\operatorname{mean}_c \delta_{ji} + \epsilon\bigr).

    Scores come from a prior in :math:`u` (learned slopes :math:`\beta_s, \beta_g` and
    threshold :math:`\tau`) plus a small MLP :math:`\phi` of the per-channel log
    distances and the graph's edge features :math:`a_{ji}` (never the rank: the output
    does not depend on the order of a query's neighbours):

    .. math::
        (r^s_{ji}, r^g_{ji}) = \phi\bigl([\log(\delta_{ji} + \epsilon),\
        \log(1 + a_{ji} / p^2)]\bigr), \\
        w_{ji} = \operatorname{softmax}_{j \in \mathcal{N}(i)}\bigl(-\beta_s u_{ji} + r^s_{ji}\bigr)
        \cdot \sigma\bigl(\beta_g (\log\tau - u_{ji}) + r^g_{ji}\bigr), \qquad
        z_i = \sum_{j \in \mathcal{N}(i)} w_{ji}\, e_j,

    and the output folds the :math:`z_i` into an HR detail map :math:`D` (overlaps
    averaged: a pixel gets the mean of its covering queries' :math:`z_i`, so it gets the
    full detail where all of them trust their match).  The softmax picks among the
    neighbours, the sigmoid gate says whether to trust the pick at all: at
    initialisation (:math:`\tau = 10^{-2}`, :math:`\beta_g = 5`) the gate is 1/2 at a
    mean absolute difference over the window of about 2.3 grey levels, above 0.999 for an
    exact match (:math:`\delta` within rounding) and 0.03 at 5 grey levels.
    Without that prior the gate would start at 1/2 on every edge, and Adam at the study's
    learning rate moves each weight by about ``lr`` per step: too slow to learn a sharp
    gate in a short run.  :math:`\phi`'s last layer starts near zero
    (``init_scale``-sized by the training engine); the engine re-initialises
    ``Linear`` layers but not the three scalars.  Matching, messages and fold are
    float32 also under autocast (three channels: cheap).

    Args:
        scale: graph scale ``s``.
        edge_dim: edge feature size :math:`C_e` of the graph (64 for the VGG embedding).
        patch_size: ``p`` of the graph.
        hidden: width of :math:`\phi` (Linear, ReLU, Linear to 2 outputs).
        rgb_range: the image range (255).
        eps: :math:`\epsilon` of the log distance (about a quarter of a grey level).
        threshold: initial :math:`\tau`.
        gate_slope: initial :math:`\beta_g`.
        choice_slope: initial :math:`\beta_s` (the weight of a neighbour twice as far is
            :math:`2^{-\beta_s}` of the nearer one's).

    Shapes:
        - input: ``image [B, 3, H, W]`` in ``[0, rgb_range]`` and its graph (queries on
          ``H x W``, sources on ``H//s x W//s``, patch ``p``); inside, ``x_src [B N,
          3 (p s)^2 + 3 w^2]`` (detail patch, then the window of the downsampled image,
          ``w = p + 4``), ``x_dst [B M, 3 w^2]`` (the query's window), bipartite size
          ``(B N, B M)``.
        - output: ``[B, 3, s H, s W]``, to be added to the bicubic upsampling.
    """

    def __init__(
        self,
        scale: int,
        edge_dim: int = 64,
        patch_size: int = 3,
        hidden: int = 32,
        rgb_range: float = 255.0,
        eps: float = 1e-3,
        threshold: float = 1e-2,
        gate_slope: float = 5.0,
        choice_slope: float = 4.0,
    ) -> None:
        super().__init__(aggr="sum", flow="source_to_target", node_dim=0)
        if not (eps > 0 and threshold > 0):
            raise ValueError(f"eps and threshold must be positive, got {eps} and {threshold}")
        self.scale = scale
        self.edge_dim = edge_dim
        self.patch_size = patch_size
        self.rgb_range = rgb_range
        self.eps = eps
        self.initial = {"log_threshold": math.log(threshold), "gate_slope": gate_slope, "choice_slope": choice_slope}
        self.weight_net = nn.Sequential(
            nn.Linear(IMAGE_CHANNELS + edge_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2)
        )
        self.log_threshold = nn.Parameter(torch.empty(()))
        self.gate_slope = nn.Parameter(torch.empty(()))
        self.choice_slope = nn.Parameter(torch.empty(()))
        self.reset_parameters()

    @property
    def window(self) -> int:
        """Side of the window the match is measured on, ``p + 2`` :data:`BICUBIC_SUPPORT`."""
        return self.patch_size + 2 * BICUBIC_SUPPORT

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for layer in self.weight_net:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        with torch.no_grad():
            self.weight_net[-1].weight.mul_(0.01)  # the prior decides at the start
            self.weight_net[-1].bias.zero_()
            for name, value in self.initial.items():
                getattr(self, name).fill_(value)

    def forward(self, image: Tensor, graph: CrossScaleGraph) -> Tensor:
        with torch.autocast(image.device.type, enabled=False):
            x_src, x_dst = self.node_features(at_least_float32(image), graph)
            out = self.propagate(
                graph.edge_index, x=(x_src, x_dst), edge_attr=at_least_float32(graph.edge_attr), size=graph.size
            )
            return fold_patches(
                out.view(graph.batch_size, graph.target_grid.num_patches, -1), graph.target_grid.scaled(self.scale)
            )

    def node_features(self, image: Tensor, graph: CrossScaleGraph) -> tuple[Tensor, Tensor]:
        """``(x_src [B N, 3 q^2 + 3 w^2], x_dst [B M, 3 w^2])`` of :meth:`forward`,
        ``q = p s``, ``w = p + 4``: each source's detail patch and its window of the
        downsampled image, each query's window of the LR image."""
        if image.dim() != 4 or image.shape[1] != IMAGE_CHANNELS:
            raise ValueError(f"expected an RGB image [B, 3, H, W], got shape {tuple(image.shape)}")
        tgrid, sgrid = graph.target_grid, graph.source_grid
        h, w = image.shape[-2:]
        if (
            graph.scale != self.scale
            or tgrid.patch_size != self.patch_size
            or (tgrid.height, tgrid.width) != (h, w)
            or (sgrid.height, sgrid.width) != (h // self.scale, w // self.scale)
            or graph.batch_size != image.shape[0]
        ):
            raise ValueError(
                f"graph was built for {graph.batch_size} images of {tgrid.height}x{tgrid.width} at "
                f"scale {graph.scale} (patch {tgrid.patch_size}); this layer has scale {self.scale}, "
                f"patch_size {self.patch_size} and got an image of shape {tuple(image.shape)}"
            )
        down, detail = image_detail(image, self.scale, self.rgb_range)
        margin = BICUBIC_SUPPORT
        sources = torch.cat([hr_source_patches(detail, sgrid, self.scale), support_patches(down, sgrid, margin)], -1)
        return sources.flatten(0, 1), support_patches(image, tgrid, margin).flatten(0, 1)

    def match_distance(self, x_j: Tensor, x_i: Tensor) -> Tensor:
        r""":math:`\delta_{ji}` ``[E, 3]`` from the edges' source and query features (layouts
        of :meth:`node_features`)."""
        windows = x_i.shape[-1]
        return (x_j[:, -windows:] - x_i).abs().view(-1, IMAGE_CHANNELS, windows // IMAGE_CHANNELS).mean(
            -1
        ) / self.rgb_range

    def edge_weights(
        self, delta: Tensor, edge_attr: Tensor, index: Tensor, ptr: Tensor | None = None, size_i: int | None = None
    ) -> tuple[Tensor, Tensor]:
        r"""``(choice, gate)``, each ``[E]``: :math:`\operatorname{softmax}_j(-\beta_s u_{ji}
        + r^s_{ji})` over each query's neighbours and :math:`\sigma(\beta_g(\log\tau - u_{ji})
        + r^g_{ji})`, from :math:`\delta` ``[E, 3]`` (:meth:`match_distance`), ``edge_attr
        [E, C_e]`` and the edges' targets ``index``."""
        u = torch.log(delta.mean(-1) + self.eps)
        features = torch.cat([torch.log(delta + self.eps), torch.log1p(edge_attr / self.patch_size**2)], -1)
        score, gate = self.weight_net(features).unbind(-1)
        score = score - self.choice_slope * u
        gate = gate + self.gate_slope * (self.log_threshold - u)
        return softmax(score, index, ptr, size_i), torch.sigmoid(gate)

    def match_weights(self, image: Tensor, graph: CrossScaleGraph) -> tuple[Tensor, Tensor]:
        """``(choice, gate)`` of every edge of ``graph``, ``[E]`` each, in edge order: the
        numbers :meth:`forward` weighs the messages with (for diagnostics)."""
        with torch.autocast(image.device.type, enabled=False):
            x_src, x_dst = self.node_features(at_least_float32(image), graph)
            src, dst = graph.edge_index
            delta = self.match_distance(x_src[src], x_dst[dst])
            return self.edge_weights(delta, at_least_float32(graph.edge_attr), dst, None, graph.num_target_nodes)

    def message(
        self, x_j: Tensor, x_i: Tensor, edge_attr: Tensor, index: Tensor, ptr: Tensor | None, size_i: int | None
    ) -> Tensor:
        choice, gate = self.edge_weights(self.match_distance(x_j, x_i), edge_attr, index, ptr, size_i)
        detail_j = x_j[:, : -x_i.shape[-1]]
        return detail_j * (choice * gate)[:, None]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(scale={self.scale}, edge_dim={self.edge_dim}, "
            f"patch_size={self.patch_size}, window={self.window})"
        )
