r"""Training-free super-resolution from the cross-scale graph alone.

Internal example-based SR (Glasner, Bagon and Irani, ICCV 2009; Freedman and Fattal,
2011): a small patch of an image recurs, larger, elsewhere in the same image, and the
larger copy holds the detail the small one lost.  The cross-scale graph
(:func:`~ignn_pyg.graph.build_cross_scale_graph`) already pairs every LR patch ``q_i``
with ``k`` patches ``n_j`` of the image downsampled by ``s``; the ``s``-times larger
region of the LR image that ``n_j`` was shrunk from, ``h_j``
(:func:`~ignn_pyg.nn.cross_scale_aggregation.hr_source_windows`, the same HR source
patch the aggregation layer passes), is a candidate HR version of ``q_i``.  No parameter
is learnt:

1. **Examples.**  Each query patch receives a weighted sum of its neighbours' HR
   examples, with weights from the graph's squared patch distances ``d_ir``
   (``graph.distance``) and, optionally, a zero example at a fixed ``prior_distance``
   ``d_0`` that competes with the matches (the "no match is good enough" hypothesis):

   .. math::
       w_{ir} = \frac{e^{-d_{ir}/h}}{\sum_{r'} e^{-d_{ir'}/h} + e^{-d_0/h}}
       \qquad (\text{without } d_0\text{: } \operatorname{softmax}_r(-d_{ir}/h)).

   Two transfers (``transfer``):

   * ``"detail"`` (Freedman and Fattal's): the example is the detail the downsampling
     lost, ``L = y - U(D_g y)`` (``D_g`` the graph's own downsampling,
     :func:`~ignn_pyg.data.downsample_for_graph`), cut at the HR source position;
     it is added to the bicubic upsampling ``U y``:
     :math:`x_0 = U y + \mathrm{fold}_i \sum_r w_{ir} L_{j_r}`.  A weight lost to ``d_0``
     leaves the bicubic pixel as it is.
   * ``"patch"`` (Glasner et al.'s, as the aggregation layer passes it): the example is
     the HR patch itself, shifted to the query's mean (with ``match_std`` also scaled to
     its standard deviation, the layer's AdaIN), per channel:
     :math:`\hat p_i = \mu(q_i) + \sum_r w_{ir} g_{ir} (h_{j_r} - \mu(h_{j_r}))`,
     ``g_ir = 1`` or ``sigma(q_i) / sigma(h_j)``.

2. **Fold.**  The ``(p s) x (p s)`` patches are placed at ``s`` times the query
   positions and overlaps averaged (:func:`~ignn_pyg.nn.gathered_patch_fold.fold_gathered_patches`,
   the layer's own fold): the estimate ``x_0``, ``[B, 3, s H, s W]``.

3. **Back-projection** (Irani and Peleg, 1991).  With ``D`` the MATLAB-bicubic
   downsampling by ``s`` (:func:`~ignn_pyg.data.imresize` by ``1/s``) and ``U`` the
   MATLAB-bicubic upsampling by ``s``, Irani and Peleg's iteration
   :math:`x_{t+1} = x_t + U(y - D x_t)` converges to the one image of
   :math:`x_0 + \operatorname{range}(U)` that ``D`` maps to ``y`` -- but slowly: ``DU``
   passes the finest LR frequencies at 0.47 per axis, so their error shrinks by only
   :math:`1 - 0.47^2 = 0.78` per step (~25 steps to shrink it 500-fold).  Preconditioned
   by :math:`(DU)^{-1}`, separable and so two small ``[H, H]`` and ``[W, W]`` inverses,

   .. math::
       x_{t+1} = x_t + U (D U)^{-1} \bigl(y - D x_t\bigr)

   reaches the same fixed point in one step up to rounding.  Steps repeat until
   :math:`\max |y - D x_t|` is at most ``tolerance`` grey levels or
   ``back_projection_iterations`` steps were taken.

Patches are read from an edge-replicated copy of the image (the network zero-pads: a
zero row would drag border means towards black and copy black into the estimate).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from ignn_pyg.data.resize import bicubic_upsample, downsample_for_graph, imresize, resize_matrix
from ignn_pyg.graph.controls import random_neighbors
from ignn_pyg.graph.cross_scale_graph import CrossScaleGraph, build_cross_scale_graph
from ignn_pyg.graph.embedding import EMBEDDINGS
from ignn_pyg.graph.patches import PatchGrid, fold_patch_constants, patch_windows
from ignn_pyg.graph.study import seeded_embedding
from ignn_pyg.nn.cross_scale_aggregation import centered_patch_stats, node_major, repeat_pixels
from ignn_pyg.nn.gated_detail_transfer import image_detail
from ignn_pyg.nn.gathered_patch_fold import fold_gathered_patches

__all__ = [
    "InternalSRConfig",
    "TRANSFERS",
    "NEIGHBORS",
    "build_graph",
    "match_weights",
    "patch_estimate",
    "back_project",
    "internal_sr",
    "bicubic_back_projected",
]

#: what a neighbour passes to its query (module docstring)
TRANSFERS = ("detail", "patch")
#: ``"graph"``: the matches; ``"random"``: the control, uniform random patches of each query's window
NEIGHBORS = ("graph", "random")
STD_EPS = 1e-5


@dataclass(frozen=True)
class InternalSRConfig:
    """Every parameter of graph super-resolution and what it does.

    Attributes:
        scale: SR factor, also the graph scale ``s``: the neighbours are patches of the
            image downsampled by ``s``, and their ``s``-times larger originals are the HR
            examples.  Larger ``s`` needs patches to recur across a larger scale gap.
        num_neighbors: ``k`` HR examples blended per query patch.  More neighbours
            average out noise and mismatches, and blur detail.
        window: search block side in source patches (the network's 30); at least the
            downsampled patch grid means global search.  A larger window finds better
            matches further away, at quadratic cost.
        patch_size: LR query patch side ``p`` (HR patches are ``p s``).  Larger patches
            match more reliably but recur less often.
        stride: LR pixels between query patches (the network's 2); 1 averages ``p^2``
            instead of ``(p/t)^2`` overlapping estimates per pixel, ~4x the cost.
        embedding: what the graph matches: ``"pixel"`` (RGB / 255) or ``"vgg"`` (the
            VGG19 slice with PyTorch's default random initialisation, seeded with 0: no
            trained parameters).
        transfer: ``"detail"`` (add the examples' lost detail to the bicubic upsampling)
            or ``"patch"`` (blend the mean-shifted HR patches themselves); see the
            module docstring.
        h: temperature of the softmax over ``-distance / h``, in units of the graph's
            squared patch distance (for ``"pixel"``: summed squared differences of
            ``p^2 * 3`` values in ``[0, 1]``).  Small ``h`` keeps the nearest match only;
            large ``h`` an unweighted mean of the ``k``.
        prior_distance: ``d_0``, the distance of the zero example; matches further than
            about ``d_0`` give way to it (``"detail"``: the bicubic pixel; ``"patch"``: a
            flat patch at the query's mean).  ``None``: no zero example, the matches'
            weights sum to 1.
        match_std: ``"patch"`` only: also scale each HR example to the query's standard
            deviation (the network's AdaIN); off: only shift it to the query's mean.
        back_projection_iterations: at most this many back-projection steps (0: the
            folded estimate as it is).
        tolerance: stop back-projection once the largest ``|y - D x|`` is at most this
            many grey levels.
        window_indexing, backend: graph construction, as in
            :func:`~ignn_pyg.graph.build_cross_scale_graph`.
    """

    scale: int = 2
    num_neighbors: int = 5
    window: int = 30
    patch_size: int = 3
    stride: int = 2
    embedding: str = "pixel"
    transfer: str = "detail"
    h: float = 0.1
    prior_distance: float | None = 0.01
    match_std: bool = False
    back_projection_iterations: int = 5
    tolerance: float = 0.01
    window_indexing: str = "reference"
    backend: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, int) or self.scale < 2:
            raise ValueError(f"scale must be an integer >= 2, got {self.scale!r}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.transfer not in TRANSFERS:
            raise ValueError(f"transfer must be one of {TRANSFERS}, got {self.transfer!r}")
        if self.match_std and self.transfer != "patch":
            raise ValueError("match_std applies to transfer='patch' only")
        if not self.h > 0:
            raise ValueError(f"h must be > 0, got {self.h!r}")
        if self.back_projection_iterations < 0:
            raise ValueError(f"back_projection_iterations must be >= 0, got {self.back_projection_iterations}")
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def build_graph(lr: Tensor, config: InternalSRConfig, generator: torch.Generator | None = None) -> CrossScaleGraph:
    """The cross-scale graph of ``lr`` exactly as :meth:`ignn_pyg.models.IGNN.build_graph`
    builds it with the same settings (embedding of ``lr`` and of
    :func:`~ignn_pyg.data.downsample_for_graph`), or, with a ``generator``, its
    random-neighbour control (:func:`~ignn_pyg.graph.controls.random_neighbors`, distances
    recomputed on the same embeddings).

    Shapes: ``lr [B, 3, H, W]`` in ``[0, 255]``.
    """
    embed = seeded_embedding(config.embedding, seed=0).to(lr.device)
    with torch.no_grad():
        lr_embed, down_embed = embed(lr), embed(downsample_for_graph(lr, config.scale))
        graph = build_cross_scale_graph(
            lr_embed,
            down_embed,
            config.scale,
            config.num_neighbors,
            config.patch_size,
            config.stride,
            config.window,
            config.backend,
            config.window_indexing,
        )
        if generator is not None:
            graph = random_neighbors(graph, generator, lr_embed, down_embed)
    return graph


def _replicate_windows(x: Tensor, grid: PatchGrid) -> Tensor:
    """``grid``'s patch windows of ``x [B, C, H, W]`` (its map size) with the padding
    filled by repeating edge pixels: ``[B, rows, cols, p, p, C]``."""
    padded = F.pad(x, (grid.pad_left, grid.pad_right, grid.pad_top, grid.pad_bottom), mode="replicate")
    return patch_windows(padded.permute(0, 2, 3, 1), grid.patch_size, grid.stride)


def match_weights(distance: Tensor, h: float, prior_distance: float | None) -> Tensor:
    """``w_ir`` of the module docstring from the distances ``[B M, k]``: ``[B M, k]``,
    rows summing to 1 without ``prior_distance``, to less with it."""
    logits = -distance / h
    if prior_distance is not None:
        logits = torch.cat([logits, logits.new_full((logits.shape[0], 1), -prior_distance / h)], dim=1)
    return torch.softmax(logits, dim=1)[:, : distance.shape[1]]


def patch_estimate(lr: Tensor, graph: CrossScaleGraph, config: InternalSRConfig) -> Tensor:
    """Steps 1-2 of the module docstring: the folded HR estimate ``x_0``.

    Args:
        lr: ``[B, 3, H, W]`` the LR image the graph was built on.
        graph: its cross-scale graph (scale ``s``, ``k`` neighbours, grouped by target).
        config: ``transfer``, ``h``, ``prior_distance`` and ``match_std`` are used.

    Returns:
        ``[B, 3, s H, s W]``.
    """
    s, k, c = graph.scale, graph.num_neighbors, lr.shape[1]
    b = lr.shape[0]
    tgrid, sgrid = graph.target_grid, graph.source_grid
    if (tgrid.height, tgrid.width) != tuple(lr.shape[-2:]) or graph.batch_size != b:
        raise ValueError(
            f"graph was built for {graph.batch_size} images of {tgrid.height}x{tgrid.width}, got {tuple(lr.shape)}"
        )
    hr_sources = sgrid.scaled(s)
    cropped = lr[..., : hr_sources.height, : hr_sources.width]
    index = graph.edge_index[0].view(-1, k)  # [B M, k]
    weight = match_weights(graph.distance.view(-1, k).to(lr.dtype), config.h, config.prior_distance)
    gain = weight[:, :, None].expand(-1, -1, c)  # [B M, k, C]
    if config.transfer == "detail":
        examples = _replicate_windows(image_detail(lr, s)[1], hr_sources).contiguous()
        base = bicubic_upsample(lr, s)
    else:
        _, query_mean, query_std = centered_patch_stats(_replicate_windows(lr, tgrid), STD_EPS)
        examples, _, source_std = centered_patch_stats(_replicate_windows(cropped, hr_sources), STD_EPS)
        if config.match_std:
            gain = gain * node_major(query_std)[:, None, :] / node_major(source_std)[index]
        base = repeat_pixels(fold_patch_constants(node_major(query_mean).view(b, -1, c), tgrid), s)
    q = examples.shape[3]
    out = fold_gathered_patches(
        examples.view(-1, q, q, c),
        index.t(),
        gain.transpose(0, 1).contiguous(),
        base.permute(0, 2, 3, 1).contiguous(),
        tgrid.scaled(s),
    )
    return out.permute(0, 3, 1, 2).contiguous()


def _inverse_round_trip(length: int, scale: int, like: Tensor) -> Tensor:
    """``(D U)^{-1}`` along one LR axis of ``length`` pixels, ``[length, length]``, float64
    then cast to ``like``'s dtype and device."""
    down = resize_matrix(length * scale, 1.0 / scale, dtype=torch.float64)
    up = resize_matrix(length, scale, dtype=torch.float64)
    return torch.linalg.inv(down @ up).to(like.device, like.dtype)


def back_project(
    estimate: Tensor, lr: Tensor, scale: int, iterations: int, tolerance: float, step: Callable[[], None] | None = None
) -> tuple[Tensor, dict]:
    """Step 3 of the module docstring: back-projection of ``estimate`` onto the HR images
    whose MATLAB-bicubic downsampling is ``lr``.

    Args:
        estimate: ``[B, 3, s H, s W]``.
        lr: ``[B, 3, H, W]``.
        scale: ``s``.
        iterations: at most this many steps.
        tolerance: stop once ``max |lr - D x|`` (grey levels) is at most this.
        step: called after every step (a progress bar).

    Returns:
        ``(x [B, 3, s H, s W], info)`` with ``info = {"iterations": steps taken,
        "residual": max |lr - D x| of the result, "initial_residual": of the estimate}``.
    """
    h, w = lr.shape[-2:]
    if tuple(estimate.shape[-2:]) != (h * scale, w * scale):
        raise ValueError(f"estimate {tuple(estimate.shape)} is not {scale}x lr {tuple(lr.shape)}")
    inv_h, inv_w = _inverse_round_trip(h, scale, estimate), _inverse_round_trip(w, scale, estimate)
    x = estimate
    error = lr - imresize(x, 1.0 / scale)
    initial = residual = float(error.abs().max())
    steps = 0
    while steps < iterations and residual > tolerance:
        x = x + imresize(inv_h @ error @ inv_w.T, scale)
        error = lr - imresize(x, 1.0 / scale)
        residual = float(error.abs().max())
        steps += 1
        if step is not None:
            step()
    return x, {"iterations": steps, "residual": residual, "initial_residual": initial}


def internal_sr(
    lr: Tensor,
    config: InternalSRConfig = InternalSRConfig(),
    neighbors: str = "graph",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    """Super-resolve ``lr`` from its own cross-scale graph (module docstring).

    Args:
        lr: ``[B, 3, H, W]`` in ``[0, 255]``.
        config: the parameters.
        neighbors: ``"graph"`` (the matches) or ``"random"`` (the control: uniform random
            patches of each query's search window, drawn with ``generator``, default seed 0).
        progress: show a progress bar (graph, estimate, back-projection steps) on stderr.

    Returns:
        ``(sr [B, 3, s H, s W] unrounded, info)``, ``info`` as :func:`back_project` gives it.
    """
    if neighbors not in NEIGHBORS:
        raise ValueError(f"neighbors must be one of {NEIGHBORS}, got {neighbors!r}")
    if neighbors == "random" and generator is None:
        generator = torch.Generator().manual_seed(0)
    bar = tqdm(
        total=2 + config.back_projection_iterations, desc="graph SR", unit="step", disable=not progress, file=sys.stderr
    )
    with bar, torch.no_grad():
        graph = build_graph(lr, config, generator if neighbors == "random" else None)
        bar.update()
        estimate = patch_estimate(lr, graph, config)
        bar.update()
        sr, info = back_project(
            estimate, lr, config.scale, config.back_projection_iterations, config.tolerance, bar.update
        )
        bar.total = bar.n  # back-projection may stop early
        bar.refresh()
    return sr, info


def bicubic_back_projected(lr: Tensor, config: InternalSRConfig = InternalSRConfig()) -> tuple[Tensor, dict]:
    """The control for back-projection's own gain: MATLAB-bicubic upsampling followed by
    the same :func:`back_project` (``config``'s scale, iterations and tolerance).

    Shapes: ``[B, 3, H, W] -> [B, 3, s H, s W]``.
    """
    with torch.no_grad():
        return back_project(
            bicubic_upsample(lr, config.scale), lr, config.scale, config.back_projection_iterations, config.tolerance
        )
