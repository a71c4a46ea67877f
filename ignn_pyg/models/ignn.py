"""The IGNN super-resolution network (Zhou et al., NeurIPS 2020)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ignn_pyg.data.resize import downsample_for_graph
from ignn_pyg.graph.controls import GRAPH_CONTROLS, permuted_neighbors, random_neighbors
from ignn_pyg.graph.cross_scale_graph import (
    CrossScaleGraph,
    build_cross_scale_graph,
    candidates_per_query,
    min_map_side,
)
from ignn_pyg.graph.embedding import make_embedding
from ignn_pyg.graph.same_scale_graph import build_same_scale_graph
from ignn_pyg.nn.blocks import (
    MeanShift,
    ResBlock,
    Upsampler,
    at_least_float32,
    check_residual,
    conv3x3,
    output_residual,
)
from ignn_pyg.nn.cross_scale_aggregation import repeat_pixels
from ignn_pyg.nn.registry import build_aggregation
from ignn_pyg.runtime.precision import exact_float32


def graph_scale_for(scale: int) -> int:
    """The scale the graph works at: ``s`` itself, except 2 at x4 (the tail then adds a
    second x2 upsampler)."""
    if scale not in (2, 3, 4):
        raise ValueError(f"IGNN supports scales 2, 3 and 4, got {scale!r}")
    return 2 if scale == 4 else scale


@dataclass(frozen=True)
class IGNNConfig:
    """Hyper-parameters that define an :class:`IGNN` (stored beside its weights)."""

    scale: int
    n_feats: int = 256
    n_resblocks: int = 32
    num_neighbors: int = 5
    window: int = 30
    patch_size: int = 3
    stride: int = 2
    res_scale: float = 0.1
    fusion: str = "reference"
    window_indexing: str = "reference"
    backend: str = "auto"
    rgb_range: float = 255.0
    aggregation: str = "ignn"
    reduced_channels: int = 8
    embedding: str = "vgg"
    residual: str = "none"
    graph: str = "cross_scale"


#: what the aggregation receives (``graph`` option; all but the first are controls for studies)
GRAPH_MODES = ("cross_scale", "random", "same_scale", "none")
#: the neighbour sets :meth:`IGNN.build_graph` can build
NEIGHBOR_CHOICES = ("cross_scale", "same_scale", *GRAPH_CONTROLS)


class IGNN(nn.Module):
    r"""Cross-scale internal graph neural network for single-image super-resolution.

    Structure (LR features ``C = n_feats``, graph scale ``s``, output scale ``S``)::

        lr ─ input_shift ─ head ─┬─ body_pre ─┬──────────── fuse_lr ─ body_post ─(+)─ upsample ─ fuse_hr ─ tail ─ output_shift
                                 │            └ aggregation ┤ (lr branch)          │              │
                                 └──────────────────────────┼──────────────────────┘              │
                                                            └ (hr branch, s H x s W) ─────────────┘

    The graph is built on the frozen VGG embedding of ``lr`` (queries) and of
    ``lr_down``, the image downsampled by ``s`` (sources), and the
    :class:`~ignn_pyg.nn.CrossScaleAggregation` passes each neighbour's ``s``-times
    larger patch of the ``body_pre`` features to its query.  ``fuse_lr`` ends without
    ReLU, ``fuse_hr`` with one; no output clamp.

    Args:
        scale: output scale ``S`` in ``{2, 3, 4}``; the graph works at 2 for ``S = 4``.
        n_feats, n_resblocks: width and depth of the EDSR backbone (``n_resblocks // 2``
            blocks before the graph block, the rest after).
        num_neighbors, window, patch_size, stride: graph construction (see
            :func:`~ignn_pyg.graph.build_cross_scale_graph`).
        res_scale: residual scale of every residual block.
        fusion: ``"reference"`` (the authors') or ``"edge"`` (per-edge softmax weights).
        window_indexing: ``"reference"`` or ``"centered"``.
        backend: k-NN backend, ``"auto"``, ``"dense"`` or ``"cluster"``.
        rgb_range: input/output range (255).
        aggregation: registered aggregation name (:mod:`ignn_pyg.nn.registry`); ``"ignn"``
            is the authors' layer, others swap in a standard PyG layer.
        reduced_channels: channels inside a swapped-in PyG layer (not used by ``"ignn"``).
        embedding: what the graph matches: ``"vgg"`` (the authors' frozen VGG19 slice) or
            ``"pixel"`` (RGB / 255, for ablations).
        residual: ``"none"`` (the authors') or ``"bicubic"``: add the network's output to
            the bicubic upsampling instead of the dataset mean
            (:func:`~ignn_pyg.nn.blocks.output_residual`); for compact, briefly trained models.
        graph: what the aggregation receives, for studies of whether the graph matters:
            ``"cross_scale"`` (the authors' graph), ``"random"`` (every query's ``k``
            neighbours drawn uniformly inside its own search window at every forward,
            edge features recomputed for them:
            :func:`~ignn_pyg.graph.controls.random_neighbors`), ``"same_scale"`` (the
            non-local baseline: each LR patch's ``k`` nearest other LR patches,
            :func:`~ignn_pyg.graph.same_scale_graph.build_same_scale_graph`, whose messages
            are their ``p x p`` feature patches repeated ``s x s``; aggregation ``"ignn"``
            only) or ``"none"`` (the aggregation's two outputs replaced by zeros, and no
            detail map from an aggregation with ``outputs_detail``: the same parameters, no
            information).  A ``graph`` passed to :meth:`forward` is used as
            given.

    Shapes: ``lr [B, 3, H, W]`` in ``[0, 255]`` (optionally ``lr_down [B, 3, H//s, W//s]``)
    ``-> [B, 3, S H, S W]``.
    """  # noqa: E501 (the structure diagram is one line per path)

    def __init__(
        self,
        scale: int,
        n_feats: int = 256,
        n_resblocks: int = 32,
        num_neighbors: int = 5,
        window: int = 30,
        patch_size: int = 3,
        stride: int = 2,
        res_scale: float = 0.1,
        fusion: str = "reference",
        window_indexing: str = "reference",
        backend: str = "auto",
        rgb_range: float = 255.0,
        aggregation: str = "ignn",
        reduced_channels: int = 8,
        embedding: str = "vgg",
        residual: str = "none",
        graph: str = "cross_scale",
    ) -> None:
        super().__init__()
        if graph not in GRAPH_MODES:
            raise ValueError(f"graph must be one of {GRAPH_MODES}, got {graph!r}")
        if graph == "same_scale" and aggregation != "ignn":
            raise ValueError(f"graph 'same_scale' needs aggregation 'ignn', got {aggregation!r}")
        self.config = IGNNConfig(
            scale,
            n_feats,
            n_resblocks,
            num_neighbors,
            window,
            patch_size,
            stride,
            res_scale,
            fusion,
            window_indexing,
            backend,
            rgb_range,
            aggregation,
            reduced_channels,
            embedding,
            check_residual(residual),
            graph,
        )
        self.graph_scale = graph_scale_for(scale)
        n_pre = n_resblocks // 2
        self.input_shift = MeanShift(rgb_range, sign=-1)
        self.output_shift = MeanShift(rgb_range, sign=+1)
        self.embedding = make_embedding(embedding)
        self.head = conv3x3(3, n_feats)
        self.body_pre = nn.Sequential(*[ResBlock(n_feats, res_scale=res_scale) for _ in range(n_pre)])
        self.aggregation = build_aggregation(
            aggregation,
            channels=n_feats,
            scale=self.graph_scale,
            num_neighbors=num_neighbors,
            patch_size=patch_size,
            edge_dim=self.embedding.channels,
            res_scale=res_scale,
            fusion=fusion,
            reduced_channels=reduced_channels,
            rgb_range=rgb_range,
        )
        if self.adds_detail and self.graph_scale != scale:
            raise ValueError(
                f"aggregation {aggregation!r} adds HR detail at the graph scale "
                f"({self.graph_scale}), which must be the output scale; got scale {scale}"
            )
        self.fuse_lr = nn.Sequential(conv3x3(2 * n_feats, n_feats), nn.ReLU(inplace=True), conv3x3(n_feats, n_feats))
        self.body_post = nn.Sequential(
            *[ResBlock(n_feats, res_scale=res_scale) for _ in range(n_resblocks - n_pre)], conv3x3(n_feats, n_feats)
        )
        self.upsample = Upsampler(self.graph_scale, n_feats)
        self.fuse_hr = nn.Sequential(
            conv3x3(2 * n_feats, n_feats), nn.ReLU(inplace=True), conv3x3(n_feats, n_feats), nn.ReLU(inplace=True)
        )
        tail: list[nn.Module] = [Upsampler(2, n_feats)] if scale == 4 else []
        self.tail = nn.Sequential(*tail, conv3x3(n_feats, 3))

    @property
    def scale(self) -> int:
        """Output scale ``S``."""
        return self.config.scale

    @property
    def adds_detail(self) -> bool:
        """Whether the aggregation also returns an HR RGB detail map ``[B, 3, sH, sW]`` that
        is added to the output (its ``outputs_detail``, as in
        :class:`~ignn_pyg.nn.DetailAugmentedAggregation`)."""
        return getattr(self.aggregation, "outputs_detail", False)

    @property
    def uses_cross_scale_graph(self) -> bool:
        """Whether the aggregation receives a cross-scale graph (``graph`` is
        ``"cross_scale"`` or ``"random"``): where graph reliance against the cross-scale
        controls is defined (:func:`ignn_pyg.evaluation.probe_graph`)."""
        return self.config.graph in ("cross_scale", "random")

    @property
    def min_input_side(self) -> int:
        """The LR side every image at least this high and wide is large enough for
        (:func:`~ignn_pyg.graph.min_map_side` of the graph settings at the graph scale);
        some thinner images work too (see :meth:`check_input_size`)."""
        cfg = self.config
        return min_map_side(self.graph_scale, cfg.num_neighbors, cfg.patch_size, cfg.stride, cfg.window)

    def check_input_size(self, lr: Tensor, window: int | None = None) -> None:
        """``ValueError`` in one line, naming :attr:`min_input_side`, when the graph of
        ``lr [B, 3, H, W]`` cannot be built: a query would search fewer than
        ``num_neighbors`` patches (:func:`~ignn_pyg.graph.candidates_per_query`);
        ``window`` as in :meth:`build_graph`."""
        h, w = lr.shape[-2:]
        cfg = self.config
        if (
            candidates_per_query(
                h,
                w,
                self.graph_scale,
                cfg.patch_size,
                cfg.stride,
                cfg.window if window is None else window,
                cfg.window_indexing,
            )
            < cfg.num_neighbors
        ):
            side = self.min_input_side
            raise ValueError(
                f"an image of {h}x{w} pixels (height x width) is too small for this IGNN at "
                f"x{self.scale}: it takes images of at least {side}x{side}, set by its graph "
                f"(patch_size {cfg.patch_size}, stride {cfg.stride}, window {cfg.window}, "
                f"num_neighbors {cfg.num_neighbors} at graph scale {self.graph_scale})"
            )

    def build_graph(
        self,
        lr: Tensor,
        lr_down: Tensor | None = None,
        window: int | None = None,
        neighbors: str | None = None,
        generator: torch.Generator | None = None,
    ) -> CrossScaleGraph:
        """The cross-scale graph of ``lr`` on the frozen embedding (no gradient, IEEE float32
        even under :func:`torch.autocast` or with TF32 allowed:
        :func:`~ignn_pyg.runtime.precision.exact_float32`); ``window`` overrides the configured search
        window for this graph.

        ``neighbors`` picks what each query is linked to: ``"cross_scale"`` (its ``k``
        nearest downsampled-image patches), ``"same_scale"`` (its ``k`` nearest other LR
        patches), or a control of :mod:`~ignn_pyg.graph.controls` on the cross-scale
        graph: ``"random"`` (``k`` patches drawn uniformly inside its window, edge
        features recomputed) or ``"permuted"`` (another query's whole neighbour list);
        default: the model's ``graph`` setting.  ``generator`` draws the controls
        (default: torch's global generator).

        Raises:
            ValueError: ``lr`` is too small for the graph (:meth:`check_input_size`).
        """
        self.check_input_size(lr, window)
        cfg = self.config
        neighbors = neighbors or (cfg.graph if cfg.graph in NEIGHBOR_CHOICES else "cross_scale")
        if neighbors not in NEIGHBOR_CHOICES:
            raise ValueError(f"neighbors must be one of {NEIGHBOR_CHOICES}, got {neighbors!r}")
        # Always IEEE float32, also under autocast or with TF32 allowed: a bf16 or TF32
        # embedding changes the neighbour sets.
        with torch.no_grad(), exact_float32(lr.device.type):
            lr = at_least_float32(lr)
            lr_embed = self.embedding(lr)
            window = cfg.window if window is None else window
            if neighbors == "same_scale":  # no downsampled image needed
                return build_same_scale_graph(
                    lr_embed, self.graph_scale, cfg.num_neighbors, cfg.patch_size, cfg.stride, window, cfg.backend
                )
            lr_down = downsample_for_graph(lr, self.graph_scale) if lr_down is None else at_least_float32(lr_down)
            down_embed = self.embedding(lr_down)
            graph = build_cross_scale_graph(
                lr_embed,
                down_embed,
                self.graph_scale,
                cfg.num_neighbors,
                cfg.patch_size,
                cfg.stride,
                window,
                cfg.backend,
                cfg.window_indexing,
            )
            if neighbors == "random":
                return random_neighbors(graph, generator, lr_embed, down_embed)
            if neighbors == "permuted":
                return permuted_neighbors(graph, generator)
            return graph

    def forward(self, lr: Tensor, lr_down: Tensor | None = None, graph: CrossScaleGraph | None = None) -> Tensor:
        """Super-resolve ``lr`` (``[B, 3, H, W]``, 0-255); ``graph`` skips construction."""
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected lr of shape [B, 3, H, W], got {tuple(lr.shape)}")
        x0 = self.head(self.input_shift(lr))
        x1 = self.body_pre(x0)
        detail = None  # HR RGB detail of an aggregation with ``outputs_detail``
        if self.config.graph == "none":
            lr_branch, hr_branch = self._no_aggregation(x1)
        else:
            graph = self.build_graph(lr, lr_down) if graph is None else graph
            if graph.same_scale:  # same-size messages: the LR features repeated s x s
                lr_branch, hr_branch = self.aggregation(x1, graph, repeat_pixels(x1, self.graph_scale))
            elif self.adds_detail:
                lr_branch, hr_branch, detail = self.aggregation(x1, graph, lr)
            else:
                lr_branch, hr_branch = self.aggregation(x1, graph)
        x1 = self.fuse_lr(torch.cat([x1, lr_branch], dim=1))
        x2 = self.body_post(x1) + x0
        # The HR fusion runs in the memory format of the aggregation's HR map (channels-last
        # from CrossScaleAggregation, where oneDNN's convolutions are faster on CPU).
        layout = (
            torch.channels_last
            if hr_branch.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        x = self.fuse_hr(torch.cat([self.upsample(x2).contiguous(memory_format=layout), hr_branch], dim=1))
        base = output_residual(self.config.residual, lr, self.scale, self.config.rgb_range)
        out = self.output_shift(self.tail(x)) if base is None else base + self.tail(x)
        if detail is not None:
            out = out + detail  # [B, 3, sH, sW]: the fold covers the whole output
        return out.contiguous()  # [B, 3, SH, SW] in the default layout, whatever the fusion's

    def _no_aggregation(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The ``graph="none"`` control: zeros of the aggregation's output shapes and layout,
        ``([B, C, H, W], [B, C, sH, sW])``."""
        b, c, h, w = x.shape
        s = self.graph_scale
        return torch.zeros_like(x), x.new_zeros(b, c, s * h, s * w).contiguous(memory_format=torch.channels_last)

    def config_dict(self) -> dict:
        """Constructor arguments, for checkpoints that rebuild the model from the file alone."""
        return {"arch": "ignn", **asdict(self.config)}
