"""The cross-scale patch graph as explicit PyG data.

Nodes are the overlapping patches of two embedding maps of one image: the LR image
(queries, PyG *targets*) and the image downsampled by the graph scale ``s``
(*sources*).  Every LR patch receives ``k`` edges from its ``k`` nearest
downsampled-image patches inside its search window (see :mod:`ignn_pyg.graph.windows`).
A source patch at ``(r, c)`` of the downsampled image stands for the ``s``-times
larger region at ``(s r, s c)`` of the LR image: its high-resolution counterpart,
which the aggregation layer passes to the query.

Edges follow PyG's ``source_to_target`` flow: ``edge_index[0]`` are source
(downsampled-image) node ids, ``edge_index[1]`` target (LR) node ids.  Node ids are
global over the batch: image ``b``'s LR patch ``m`` is ``b * M + m``, its source
patch ``n`` is ``b * N + n``.  Edges are grouped by target and ordered nearest
first, so edge ``e = (b M + m) k + r`` has rank ``r``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

from ignn_pyg.graph.knn import resolve_backend, windowed_knn
from ignn_pyg.graph.patches import PatchGrid, extract_patch_rows
from ignn_pyg.graph.windows import search_windows


@dataclass
class CrossScaleGraph:
    """A batch of bipartite cross-scale graphs (downsampled patches -> LR patches).

    With ``B`` images, ``M`` LR patches and ``N`` downsampled patches per image,
    ``k`` neighbours and ``C`` embedding channels (``E = B M k``):

    Attributes:
        edge_index: ``[2, E]`` long; row 0 source id in ``[0, B N)``, row 1 target id
            in ``[0, B M)``.
        edge_attr: ``[E, C]`` the authors' edge feature,
            :math:`a_{e,c} = \\sum_{u \\in P} |q_c(u) - n_c(u)|`, the per-channel L1
            distance between the query patch ``q`` and the neighbour patch ``n``.
        distance: ``[E]`` squared L2 distance between the two patch embeddings.
        rank: ``[E]`` position ``0..k-1`` of the edge in its target's neighbour list.
        source_pos, target_pos: ``[B N, 2]``, ``[B M, 2]`` top-left pixel ``(row, col)``
            of each patch in its own image.
        source_batch, target_batch: ``[B N]``, ``[B M]`` image index of each node.
        source_grid, target_grid: :class:`PatchGrid` of the two maps.
        scale: graph scale ``s``; num_neighbors ``k``; window, window_indexing and
            backend: the construction parameters; ``global_search`` is ``True`` when
            the window covered the whole source grid.
    """

    edge_index: Tensor
    edge_attr: Tensor
    distance: Tensor
    rank: Tensor
    source_pos: Tensor
    target_pos: Tensor
    source_batch: Tensor
    target_batch: Tensor
    source_grid: PatchGrid
    target_grid: PatchGrid
    scale: int
    num_neighbors: int
    window: int
    window_indexing: str
    backend: str
    global_search: bool

    _TENSORS = (
        "edge_index",
        "edge_attr",
        "distance",
        "rank",
        "source_pos",
        "target_pos",
        "source_batch",
        "target_batch",
    )

    @property
    def batch_size(self) -> int:
        """Number of images ``B``."""
        return int(self.target_batch.numel() // self.target_grid.num_patches)

    @property
    def num_source_nodes(self) -> int:
        """``B N``."""
        return self.source_batch.numel()

    @property
    def num_target_nodes(self) -> int:
        """``B M``."""
        return self.target_batch.numel()

    @property
    def num_edges(self) -> int:
        """``E = B M k``."""
        return self.edge_index.shape[1]

    @property
    def same_scale(self) -> bool:
        """Whether the sources are the query grid itself
        (:func:`~ignn_pyg.graph.same_scale_graph.build_same_scale_graph`) rather than the
        downsampled image's patches."""
        return self.source_grid == self.target_grid

    @property
    def size(self) -> tuple[int, int]:
        """``(num_source_nodes, num_target_nodes)``, the ``size`` argument of a bipartite
        :meth:`torch_geometric.nn.MessagePassing.propagate`."""
        return self.num_source_nodes, self.num_target_nodes

    def to(self, device: torch.device | str) -> CrossScaleGraph:
        """A copy with every tensor on ``device``."""
        return replace(self, **{name: getattr(self, name).to(device) for name in self._TENSORS})

    def neighbors(self) -> Tensor:
        """Source ids of each target's neighbours, nearest first, ``[B M, k]``."""
        return self.edge_index[0].view(-1, self.num_neighbors)

    def to_hetero_data(self, lr_features: Tensor | None = None, down_features: Tensor | None = None):
        """The graph as :class:`torch_geometric.data.HeteroData`.

        Node types ``lr_patch`` (targets) and ``down_patch`` (sources) carry ``pos``,
        ``batch`` and, when given, ``x`` (``[B M, F]`` / ``[B N, F]`` patch features);
        the edge type ``("down_patch", "matches", "lr_patch")`` carries ``edge_index``,
        ``edge_attr``, ``distance`` and ``rank``.
        """
        from torch_geometric.data import HeteroData

        data = HeteroData()
        for node_type, pos, batch, x in (
            ("lr_patch", self.target_pos, self.target_batch, lr_features),
            ("down_patch", self.source_pos, self.source_batch, down_features),
        ):
            data[node_type].num_nodes = batch.numel()
            data[node_type].pos = pos
            data[node_type].batch = batch
            if x is not None:
                if x.shape[0] != batch.numel():
                    raise ValueError(f"{node_type} features have {x.shape[0]} rows, expected {batch.numel()}")
                data[node_type].x = x
        edges = data["down_patch", "matches", "lr_patch"]
        edges.edge_index = self.edge_index
        edges.edge_attr = self.edge_attr
        edges.distance = self.distance
        edges.rank = self.rank
        return data

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors, numbers and strings (loadable with ``weights_only=True``)."""
        state: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        state["source_grid"] = asdict(self.source_grid)
        state["target_grid"] = asdict(self.target_grid)
        state["format"] = "ignn_pyg.CrossScaleGraph/1"
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> CrossScaleGraph:
        """Inverse of :meth:`state_dict`."""
        if state.get("format") != "ignn_pyg.CrossScaleGraph/1":
            raise ValueError(f"not a saved CrossScaleGraph (format {state.get('format')!r})")
        kwargs = {f.name: state[f.name] for f in fields(cls)}
        kwargs["source_grid"] = PatchGrid(**kwargs["source_grid"])
        kwargs["target_grid"] = PatchGrid(**kwargs["target_grid"])
        return cls(**kwargs)

    def save(self, path: str | os.PathLike) -> None:
        """Write the graph atomically (temporary file, then rename)."""
        tmp = f"{os.fspath(path)}.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> CrossScaleGraph:
        """Read a graph written by :meth:`save`."""
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # torch raises several types for corrupt files
            raise ValueError(f"cannot read a CrossScaleGraph from {os.fspath(path)!r}: {err}") from err
        if not isinstance(state, dict):
            raise ValueError(f"{os.fspath(path)!r} does not hold a CrossScaleGraph")
        return cls.from_state_dict(state)

    def __repr__(self) -> str:
        return (
            f"CrossScaleGraph(images={self.batch_size}, "
            f"lr_patches={self.num_target_nodes} ({self.target_grid.rows}x{self.target_grid.cols} each), "
            f"down_patches={self.num_source_nodes} ({self.source_grid.rows}x{self.source_grid.cols} each), "
            f"edges={self.num_edges}, edge_attr_dim={self.edge_attr.shape[1]}, scale={self.scale}, "
            f"k={self.num_neighbors}, patch_size={self.target_grid.patch_size}, "
            f"stride={self.target_grid.stride}, window={'global' if self.global_search else self.window}, "
            f"window_indexing={self.window_indexing!r}, backend={self.backend!r})"
        )


def _check_inputs(lr_embed: Tensor, down_embed: Tensor, scale: int, patch_size: int) -> None:
    for name, t in (("lr_embed", lr_embed), ("down_embed", down_embed)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must be [B, C, H, W], got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be floating point, got {t.dtype}")
    if lr_embed.shape[:2] != down_embed.shape[:2]:
        raise ValueError(
            f"lr_embed {tuple(lr_embed.shape)} and down_embed {tuple(down_embed.shape)} "
            "differ in batch size or channels"
        )
    if not isinstance(scale, int) or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    h, w = lr_embed.shape[-2:]
    if tuple(down_embed.shape[-2:]) != (h // scale, w // scale):
        raise ValueError(
            f"down_embed is {tuple(down_embed.shape[-2:])}, but an LR map of {h}x{w} "
            f"downsampled by {scale} is {(h // scale, w // scale)}"
        )
    for name, t in (("lr_embed", lr_embed), ("down_embed", down_embed)):
        if min(t.shape[-2:]) < patch_size:
            raise ValueError(f"{name} is {tuple(t.shape[-2:])}, smaller than a {patch_size}x{patch_size} patch")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")


def candidates_per_query(
    height: int,
    width: int,
    scale: int,
    patch_size: int = 3,
    stride: int = 2,
    window: int = 30,
    window_indexing: str = "reference",
) -> int:
    """How many downsampled-image patches each query patch of an ``[H, W]`` LR map
    searches (its window, or the whole source grid under global search); 0 when the LR
    map or its ``[H // s, W // s]`` downsampled map is smaller than a patch.
    :func:`build_cross_scale_graph` needs at least ``num_neighbors``."""
    down_h, down_w = height // scale, width // scale
    if min(down_h, down_w) < patch_size:  # the LR map is s times larger, so it fits too
        return 0
    target = PatchGrid.of(height, width, patch_size, stride)
    source = PatchGrid.of(down_h, down_w, patch_size, stride)
    windows = search_windows((target.rows, target.cols), (source.rows, source.cols), window, scale, window_indexing)
    return source.num_patches if windows is None else windows.num_candidates


def min_map_side(scale: int, num_neighbors: int = 5, patch_size: int = 3, stride: int = 2, window: int = 30) -> int:
    r"""The smallest side ``L`` such that :func:`build_cross_scale_graph` accepts every
    ``[H, W]`` LR map with ``H, W >= L`` (with its ``[H // s, W // s]`` downsampled map).

    A query searches (:func:`candidates_per_query`) ``n_1 n_2`` source patches when the
    window covers the ``n_1 x n_2`` source patch grid, else ``min(window, n_1) min(window, n_2)``
    (``"centered"``) or ``min(window, n_1, n_2)^2`` (``"reference"``).  With both
    ``n_1, n_2 >= n*``, :math:`n^* = \lceil \sqrt{k} \rceil`, and ``window >= n*`` each of
    these is at least ``n*^2 >= k``; so ``L = s d``, with ``d`` the smallest downsampled
    side (at least ``patch_size``) whose :class:`PatchGrid` has ``n*`` rows.  Nothing
    smaller works for all maps: the ``(L - 1)``-square map has at most ``(n* - 1)^2 < k``
    source patches (or none).  Some thinner maps work as well (a ``6 x 20`` map at the
    defaults: one row of five source patches, searched globally).

    Raises:
        ValueError: ``window < n*``: a query of a large map searches fewer than ``k``
            patches, so no ``L`` exists.
    """
    needed = math.isqrt(max(num_neighbors, 1) - 1) + 1  # ceil(sqrt(k))
    if window < needed:
        raise ValueError(
            f"window={window} lets a query search at most {window * window} patches, "
            f"fewer than num_neighbors={num_neighbors}"
        )
    side = patch_size
    while PatchGrid.of(side, side, patch_size, stride).rows < needed:
        side += 1
    return scale * side


def edge_features(
    query: Tensor, source: Tensor, neighbors: Tensor, channels: int, chunk: int = 256
) -> tuple[Tensor, Tensor]:
    """Edge attributes and squared distances of chosen neighbours.

    Args:
        query: ``[B, M, P*C]`` query patches, pixel-major (``P`` pixels of ``C`` channels
            each, as :func:`~ignn_pyg.graph.patches.extract_patch_rows` gives them).
        source: ``[B, N, P*C]`` source patches, pixel-major.
        neighbors: ``[B, M, k]`` source indices.
        channels: ``C``.
        chunk: queries processed at once.  Memory is one reused buffer of
            ``chunk * k * C * P`` floats: warm pages, several times faster than one large
            buffer (or a fresh one per chunk) that the kernel must fault in.

    Returns:
        ``(edge_attr [B, M, k, C], distance [B, M, k])`` with
        ``edge_attr[..., c] = sum_u |q_c(u) - n_c(u)|`` and ``distance = sum |q - n|^2``.
    """
    b, m, k = neighbors.shape
    n, d = source.shape[1:]
    flat_query = query.reshape(b * m, d)
    flat_source = source.reshape(b * n, d)
    flat_nb = (neighbors + torch.arange(b, device=neighbors.device)[:, None, None] * n).reshape(b * m, k)
    attr = query.new_empty(b * m, k, channels)
    dist = query.new_empty(b * m, k)
    buffer = query.new_empty(min(chunk, b * m) * k, d)
    for q0 in range(0, b * m, chunk):
        nb = flat_nb[q0 : q0 + chunk]
        diff = torch.index_select(flat_source, 0, nb.reshape(-1), out=buffer[: nb.numel()]).view(*nb.shape, d)
        torch.sub(flat_query[q0 : q0 + chunk, None, :], diff, out=diff)
        dist[q0 : q0 + chunk] = torch.linalg.vector_norm(diff, dim=-1).square_()
        # per-channel L1 over the patch: a reduction over the pixel axis, channels innermost
        attr[q0 : q0 + chunk] = diff.abs_().view(*nb.shape, -1, channels).sum(2)
    return attr.view(b, m, k, channels), dist.view(b, m, k)


@torch.compiler.disable  # data-dependent tile loops: eager, in one piece, under torch.compile
def build_cross_scale_graph(
    lr_embed: Tensor,
    down_embed: Tensor,
    scale: int,
    num_neighbors: int = 5,
    patch_size: int = 3,
    stride: int = 2,
    window: int = 30,
    backend: str = "auto",
    window_indexing: str = "reference",
) -> CrossScaleGraph:
    """Build the cross-scale k-NN patch graph.

    For every ``patch_size`` patch ``q`` of ``lr_embed`` (stride ``stride``, the
    authors' padding) find the ``k`` patches ``n`` of ``down_embed`` inside its search
    window minimising :math:`\\lVert q - n \\rVert_2^2`.

    Args:
        lr_embed: ``[B, C, H, W]`` embedding of the LR image (queries).
        down_embed: ``[B, C, H // s, W // s]`` embedding of the LR image downsampled by
            ``scale`` (sources).
        scale: graph scale ``s`` (the network uses 2 at x2 and x4, 3 at x3).
        num_neighbors: ``k``.
        patch_size, stride: patch geometry, shared by both maps.
        window: search block side in patches; at least the grid size means global search.
        backend: ``"auto"``, ``"dense"`` or ``"cluster"`` (:mod:`ignn_pyg.graph.knn`).
        window_indexing: ``"reference"`` (the authors' placement) or ``"centered"``.

    Returns:
        A :class:`CrossScaleGraph` on the embeddings' device.
    """
    _check_inputs(lr_embed, down_embed, scale, patch_size)
    backend = resolve_backend(backend)
    # rows for both searches; distances and per-channel sums ignore the feature order
    query, target_grid = extract_patch_rows(lr_embed, patch_size, stride)
    source, source_grid = extract_patch_rows(down_embed, patch_size, stride)
    if num_neighbors < 1:
        raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
    tgrid = (target_grid.rows, target_grid.cols)
    sgrid = (source_grid.rows, source_grid.cols)
    windows = search_windows(tgrid, sgrid, window, scale, window_indexing)
    candidates = candidates_per_query(*lr_embed.shape[-2:], scale, patch_size, stride, window, window_indexing)
    if num_neighbors > candidates:
        raise ValueError(
            f"num_neighbors={num_neighbors} exceeds the {candidates} patches a query "
            f"can search (window {window}, downsampled patch grid {sgrid[0]}x{sgrid[1]})"
        )
    neighbors = windowed_knn(query, source, tgrid, sgrid, windows, num_neighbors, backend)
    return graph_from_neighbors(
        neighbors, query, source, target_grid, source_grid, scale, window, window_indexing, backend, windows is None
    )


def graph_from_neighbors(
    neighbors: Tensor,
    query: Tensor,
    source: Tensor,
    target_grid: PatchGrid,
    source_grid: PatchGrid,
    scale: int,
    window: int,
    window_indexing: str,
    backend: str,
    global_search: bool,
) -> CrossScaleGraph:
    """The :class:`CrossScaleGraph` of chosen neighbours ``[B, M, k]`` (per-image source
    indices, nearest first) with their edge features from the pixel-major patch rows
    ``query [B, M, P*C]`` and ``source [B, N, P*C]`` (:func:`edge_features`); the other
    arguments are stored as the construction parameters."""
    attr, dist = edge_features(query, source, neighbors, query.shape[-1] // target_grid.patch_size**2)
    b, m, k = neighbors.shape
    n = source_grid.num_patches
    dev = neighbors.device
    offsets = torch.arange(b, device=dev)[:, None, None]
    src = (neighbors + offsets * n).reshape(-1)
    dst = (torch.arange(m, device=dev)[None, :, None] + offsets * m).expand(b, m, k).reshape(-1)
    return CrossScaleGraph(
        edge_index=torch.stack([src, dst]),
        edge_attr=attr.reshape(-1, attr.shape[-1]),
        distance=dist.reshape(-1),
        rank=torch.arange(k, device=dev).repeat(b * m),
        source_pos=source_grid.positions(dev).repeat(b, 1),
        target_pos=target_grid.positions(dev).repeat(b, 1),
        source_batch=torch.arange(b, device=dev).repeat_interleave(n),
        target_batch=torch.arange(b, device=dev).repeat_interleave(m),
        source_grid=source_grid,
        target_grid=target_grid,
        scale=scale,
        num_neighbors=k,
        window=window,
        window_indexing=window_indexing,
        backend=backend,
        global_search=global_search,
    )
