"""The authors' own IGNN code against ours on this CPU, side by side in one run.

Target (#12, #26): full size (256 features, 32 blocks), x2, LR 128x128: ours at least
5x faster than the authors' code on the same CPU, ours reported in fp32 (the exact
path) and in bf16 (autocast, channels-last: :mod:`ignn_pyg.runtime.precision`).

**Whose code runs.**  The authors' repository (``github:sczhou/IGNN``) is read from its
bare git mirror (``--mirror``, default ``/work/.mirror/sczhou+IGNN/repo``): at run time
``git archive HEAD`` is unpacked into a temporary folder, put on ``sys.path`` for the
import only, and their ``config.py`` and ``models/`` are imported *unmodified*.  Nothing
of theirs is copied into this repository.

**What is stubbed, and why their computation is unchanged.**  Their network imports
CUDA-only and download-only pieces; during the import, and only for it, ``sys.modules``
holds CPU stand-ins for exactly these (any modules of the same names imported before
come back afterwards):

* ``pyinn`` (CUDA kernels built at run time by cupy): ``im2col`` and ``col2im``, used by
  their ``ops.im2patch`` / ``ops.patch2im``.  The stand-ins are
  :func:`torch.nn.functional.unfold` / :func:`~torch.nn.functional.fold` with pyinn's
  shapes: ``im2col`` ``[B, C, H, W] -> [B, C, kh, kw, oh, ow]`` with ``o = (H + 2 pad -
  k) // stride + 1``; ``col2im`` the adjoint, ``[B, C, kh, kw, oh, ow] -> [B, C, H, W]``
  with ``H = (oh - 1) stride - 2 pad + kh``, overlapping entries *summed* (their
  ``patch2im`` divides by the fold of ones itself).  Same values; only the order of the
  additions in an overlap may differ (float32 rounding).
* ``matmul_cuda`` (their compiled CUDA extension, ``models/lib/matmul1_kernel.cu`` and
  ``matmul1_bwd_kernel.cu``): ``matmul1(x, y, I, out, n, m, e, o, b)`` writes
  ``out[b, i, j] = sum_e y[b, i, e] * x[b, I[b, i, j], e]`` in place, as the kernel
  does (one thread per ``(b, i, j)``, float32 sums); here a gather of the indexed rows
  and a batched matrix product, as many queries at a time as fit 64 MiB of gathered rows.
  ``matmul1_bwd`` (training only,
  unused here) is the kernel's adjoint: ``grad_x[b, I[b, i, j]] += grad[b, i, j] y[b, i]``
  (its ``atomicAdd``) and ``grad_y[b, i] = sum_j grad[b, i, j] x[b, I[b, i, j]]``.
* ``torchvision``: their ``VGG19`` calls ``torchvision.models.vgg19(pretrained=True)``,
  which would download ImageNet weights, and keeps ``features[:4]`` (conv1_1, ReLU,
  conv1_2, ReLU).  The stand-in builds torchvision's VGG19 ``features`` layout
  (configuration "E") with default random initialisation and no download; the check
  below loads one random state dict, VGG slice included, into both models anyway.
* ``easydict`` (their ``config.py``) and ``cv2`` (imported by ``utils/network_utils.py``
  for image files, never called by the network) are used where installed; otherwise a
  ``dict`` with attribute access and an empty module stand in.

Two CUDA-only calls inside their forward are made harmless, for the duration of their
forward only (:func:`cpu_device_shims`), by patching two ``torch.Tensor`` methods:

* ``Tensor.cuda`` returns the tensor itself: ``IndexedMatmul1Efficient.forward``
  allocates its zero output buffer with ``torch.tensor(np.zeros(...)).cuda()``; the
  buffer now stays on the CPU, where its inputs are.
* ``Tensor.get_device`` of a CPU tensor returns ``"cpu"`` instead of ``-1``: their
  window index builder ``index_neighbours`` creates its index tensors on
  ``device=xe_patch.get_device()``, and torch refuses device index -1.

Their global test-time settings are set as their test does: ``eval()``, under
:func:`torch.no_grad`, whole image (``cfg.TEST.CHOP`` off: the chop splits the image in
four overlapping quarters), no self-ensemble.  ``cfg.NETWORK.WITH_WINDOW`` is set back to
``True`` before each of their forwards: their ``index_neighbours`` switches it off for
the rest of the process once a window covers the whole grid, which would make a later,
larger image search globally; one image per fresh process, as in their ``runner.py``,
never sees that.  Their downsampled input ``x_son`` (made by their data loader, not the
network) is ours, :func:`ignn_pyg.data.downsample_for_graph`, the same MATLAB-bicubic
recipe; both models get the same pair, and ours computes its own inside the timed call.

**Check.**  Their model is built with their configuration at the requested size
(``cfg.NETWORK``: 256 features, 32 blocks, k = 5, 3x3 patches at graph stride 2, window
30, AdaIN, edge features, no score), randomly initialised with a fixed seed by their own
``utils.network_utils.initialize_weights`` at scale 1 (Kaiming-normal; their training
default 0.1 leaves an almost constant output, which would check little), and its state
dict is loaded into ours by :func:`ignn_pyg.inference.checkpoints.load_reference_checkpoint`.
Printed: the fraction of identical neighbour sets and the max absolute difference of the
outputs on one textured LR image in ``[0, 255]``; ours in fp32 is tested to reproduce
their algorithm to float32 rounding, so a large difference means a wrong stand-in.

**Timing.**  Ours fp32 (``resolve_precision("fp32")``), ours bf16
(``resolve_precision("bf16")``: autocast, model and input channels-last) and theirs
(fp32), the best of ``--repeats`` interleaved rounds after one warm-up
(:func:`model_forward.best_times`), ``torch.set_num_threads(--threads)``.  The check
uses the outputs of the timed calls.

Usage::

    python benchmarks/authors_code.py                # full size, x2, LR 128^2, 3 rounds, 2 threads
    python benchmarks/authors_code.py --size 64 --repeats 1
    python benchmarks/authors_code.py --smoke        # tiny: 16 features, 2 blocks, LR 40^2
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import importlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from model_forward import best_times  # this folder's timing helper
from torch import Tensor, nn

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.inference.checkpoints import load_reference_checkpoint
from ignn_pyg.models import IGNN, graph_scale_for
from ignn_pyg.runtime.precision import describe_cpu, resolve_precision

MIRROR = Path("/work/.mirror/sczhou+IGNN/repo")
#: the authors' full-size x2 configuration (their config.py; graph stride 2 in models/IGNN.py)
FULL = {"size": 128, "n_feats": 256, "n_resblocks": 32, "window": 30}
#: the quick mode (and the test's): the same code paths on a tiny model and image
SMOKE = {"size": 40, "n_feats": 16, "n_resblocks": 2, "window": 30}
#: the authors' top-level modules, imported from the unpacked tree
_AUTHORS_PACKAGES = ("config", "models", "utils", "losses", "core")
#: bytes of gathered neighbour rows one step of the matmul1 stand-in may hold
_MATMUL1_CHUNK_BYTES = 64 << 20


# ---------------------------------------------------------------- CPU stand-ins


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _pyinn_im2col(x: Tensor, kernel_size, stride, padding) -> Tensor:
    """pyinn's ``im2col``: ``[B, C, H, W] -> [B, C, kh, kw, oh, ow]``."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(padding)
    b, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))
    return cols.view(b, c, kh, kw, oh, ow)


def _pyinn_col2im(cols: Tensor, kernel_size, stride, padding) -> Tensor:
    """pyinn's ``col2im``: ``[B, C, kh, kw, oh, ow] -> [B, C, H, W]``, overlaps summed,
    ``H = (oh - 1) sh - 2 ph + kh``."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(padding)
    b, c, _, _, oh, ow = cols.shape
    size = ((oh - 1) * sh - 2 * ph + kh, (ow - 1) * sw - 2 * pw + kw)
    return F.fold(cols.reshape(b, c * kh * kw, oh * ow), size, (kh, kw), padding=(ph, pw), stride=(sh, sw))


def _matmul1(x: Tensor, y: Tensor, index: Tensor, out: Tensor, n: int, m: int, e: int, o: int, b: int) -> None:
    """``matmul1_kernel.cu``: ``out[b, i, j] = <y[b, i], x[b, index[b, i, j]]>``, in place.

    Shapes: ``x [b, n, e]``, ``y [b, m, e]``, ``index [b, m, o]`` (int64), ``out [b, m, o]``.
    """
    rows = max(1, _MATMUL1_CHUNK_BYTES // max(1, o * e * x.element_size()))
    for batch in range(b):
        for start in range(0, m, rows):
            stop = min(m, start + rows)
            neighbours = x[batch][index[batch, start:stop]]  # [rows, o, e]
            out[batch, start:stop] = torch.bmm(neighbours, y[batch, start:stop, :, None]).squeeze(-1)


def _matmul1_bwd(
    grad: Tensor,
    x: Tensor,
    y: Tensor,
    index: Tensor,
    grad_x: Tensor,
    grad_y: Tensor,
    m: int,
    n: int,
    e: int,
    o: int,
    b: int,
) -> None:
    """``matmul1_bwd_kernel.cu``: the adjoint of :func:`_matmul1`, into ``grad_x [b, n, e]``
    (accumulated, the kernel's ``atomicAdd``) and ``grad_y [b, m, e]`` (written)."""
    for batch in range(b):
        flat = index[batch].reshape(-1)
        grad_x[batch].index_add_(0, flat, (grad[batch, :, :, None] * y[batch, :, None, :]).reshape(-1, e))
        grad_y[batch] = torch.bmm(grad[batch, :, None, :], x[batch][index[batch]]).squeeze(1)


def _vgg19_features_standin(pretrained: bool = False, **_: object) -> nn.Module:
    """torchvision's ``vgg19()`` without weights: only its ``features`` layout (config "E")."""
    layers: list[nn.Module] = []
    channels = 3
    for width in (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ):
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    vgg = nn.Module()
    vgg.features = nn.Sequential(*layers)
    return vgg


class _AttrDict(dict):
    """easydict's ``EasyDict`` as their config uses it: a dict with attribute access."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(name) from err

    def __setattr__(self, name: str, value) -> None:
        self[name] = value


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _standin_modules() -> dict[str, types.ModuleType]:
    """``sys.modules`` entries for the authors' import: always pyinn, matmul_cuda and
    torchvision; easydict and cv2 only where they are not installed."""
    models = _module("torchvision.models", vgg19=_vgg19_features_standin)
    modules = {
        "pyinn": _module("pyinn", im2col=_pyinn_im2col, col2im=_pyinn_col2im),
        "matmul_cuda": _module("matmul_cuda", matmul1=_matmul1, matmul1_bwd=_matmul1_bwd),
        "torchvision": _module("torchvision", models=models),
        "torchvision.models": models,
    }
    for name, fallback in (("easydict", _module("easydict", EasyDict=_AttrDict)), ("cv2", _module("cv2"))):
        try:
            importlib.import_module(name)
        except ImportError:
            modules[name] = fallback
    return modules


@contextlib.contextmanager
def cpu_device_shims() -> Iterator[None]:
    """For the authors' forward only: ``Tensor.cuda`` returns the tensor itself, and
    ``Tensor.get_device`` of a CPU tensor is ``"cpu"`` (not ``-1``; see the module
    docstring for the two call sites)."""
    get_device = torch.Tensor.get_device

    def cuda(self, *args, **kwargs):
        return self

    def device_of(self):
        return "cpu" if self.device.type == "cpu" else get_device(self)

    with mock.patch.object(torch.Tensor, "cuda", cuda), mock.patch.object(torch.Tensor, "get_device", device_of):
        yield


# ---------------------------------------------------------------- their code


def load_authors_code(mirror: str | os.PathLike = MIRROR) -> types.SimpleNamespace:
    """Import the authors' ``config`` and ``models.IGNN`` from ``git archive HEAD`` of the
    bare mirror, with the stand-ins above; once per process (their ``cfg`` is global).

    Returns a namespace with ``cfg``, ``IGNN`` (the class), their modules
    ``network_utils`` and ``ops`` (``ops.pyinn`` and ``ops.matmul_cuda`` are the
    stand-ins), and ``commit``.

    Raises:
        FileNotFoundError: ``mirror`` is not a git repository.
    """
    if not (Path(mirror) / "HEAD").is_file():
        raise FileNotFoundError(f"no bare git mirror of the authors' repository at {os.fspath(mirror)!r}")
    return _import_authors_code(str(Path(mirror).resolve()))


@functools.cache
def _import_authors_code(mirror: str) -> types.SimpleNamespace:
    git = ["git", "-C", mirror]
    commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(git + ["archive", "--format=tar", "HEAD"], check=True, capture_output=True).stdout
    tree = tempfile.mkdtemp(prefix="ignn-authors-")
    atexit.register(shutil.rmtree, tree, True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")

    standins = _standin_modules()
    owned = set(_AUTHORS_PACKAGES) | {name.split(".")[0] for name in standins}
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in owned}
    sys.modules.update(standins)
    sys.path.insert(0, tree)
    try:
        config = importlib.import_module("config")
        ignn = importlib.import_module("models.IGNN")
        network_utils = importlib.import_module("utils.network_utils")
        ops = importlib.import_module("models.lib.ops")
    finally:
        sys.path.remove(tree)
        for name in [n for n in sys.modules if n.split(".")[0] in owned]:
            del sys.modules[name]
        sys.modules.update(saved)
    return types.SimpleNamespace(cfg=config.cfg, IGNN=ignn.IGNN, network_utils=network_utils, ops=ops, commit=commit)


def build_authors_ignn(
    authors: types.SimpleNamespace, scale: int, n_feats: int, n_resblocks: int, window: int, seed: int
) -> nn.Module:
    """Their ``IGNN()`` under their configuration with these sizes, in eval mode,
    Kaiming-initialised (their ``initialize_weights``, scale 1) from ``seed``."""
    cfg = authors.cfg
    cfg.CONST.SCALE = scale
    cfg.NETWORK.N_FEATURE = n_feats
    cfg.NETWORK.N_RESBLOCK = n_resblocks
    cfg.NETWORK.WINDOW_SIZE = window
    cfg.NETWORK.WITH_WINDOW = True
    cfg.TEST.CHOP = False
    cfg.TEST.ENSEMBLE = False
    torch.manual_seed(seed)
    net = authors.IGNN()
    authors.network_utils.initialize_weights(net, 1.0)
    return net.eval()


def authors_forward(authors: types.SimpleNamespace, net: nn.Module, lr_down: Tensor, lr: Tensor) -> Tensor:
    """Their ``net(x_son, x)`` on the CPU, as their test runs it (whole image, no grad)."""
    authors.cfg.NETWORK.WITH_WINDOW = True  # see the module docstring
    with cpu_device_shims(), torch.no_grad():
        return net(lr_down, lr)


def authors_neighbors(authors: types.SimpleNamespace, net: nn.Module, lr_down: Tensor, lr: Tensor) -> Tensor:
    """Their graph's neighbour indices, ``[B, M, k]`` (sources in the downsampled image)."""
    authors.cfg.NETWORK.WITH_WINDOW = True
    with cpu_device_shims(), torch.no_grad():
        return net.graph(lr_down, lr)[1]


# ---------------------------------------------------------------- the comparison


def textured_image(size: int, seed: int) -> Tensor:
    """``[1, 3, size, size]`` in ``[0, 255]``: smooth structure plus noise, so that no
    two patches tie in distance."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, size // 4 + 1, size // 4 + 1, generator=gen)
    base = F.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return ((0.7 * base + 0.3 * torch.rand(1, 3, size, size, generator=gen)) * 255).clamp(0, 255)


def build_models(
    scale: int, n_feats: int, n_resblocks: int, window: int, seed: int, mirror: str = str(MIRROR)
) -> tuple[types.SimpleNamespace, nn.Module, IGNN]:
    """(their code, their model, ours with their weights), both in eval mode."""
    authors = load_authors_code(mirror)
    net = build_authors_ignn(authors, scale, n_feats, n_resblocks, window, seed)
    ours = load_reference_checkpoint(net.state_dict(), scale, n_feats=n_feats, n_resblocks=n_resblocks, window=window)
    return authors, net, ours


def agreement(
    authors: types.SimpleNamespace,
    net: nn.Module,
    ours: IGNN,
    lr: Tensor,
    lr_down: Tensor,
    theirs_out: Tensor,
    ours_out: Tensor,
) -> dict:
    """Max |ours - theirs| over the output, the output's largest magnitude, the
    tolerance of float32 rounding (``1e-3 + 1e-5 max |theirs|``, as the oracle test
    ``tests/models/test_ignn.py``) and the fraction of queries with identical neighbour
    sets."""
    idx = authors_neighbors(authors, net, lr_down, lr)
    with torch.no_grad():
        mine = ours.build_graph(lr, lr_down).neighbors().view_as(idx)
    same = (mine.sort(-1).values == idx.sort(-1).values).all(-1).float().mean()
    peak = float(theirs_out.abs().max())
    return {
        "max_abs_diff": float((ours_out - theirs_out).abs().max()),
        "output_max": peak,
        "output_std": float(theirs_out.std()),
        "tolerance": 1e-3 + 1e-5 * peak,
        "same_neighbor_sets": float(same),
    }


def compare(
    size: int = SMOKE["size"],
    scale: int = 2,
    n_feats: int = SMOKE["n_feats"],
    n_resblocks: int = SMOKE["n_resblocks"],
    window: int = SMOKE["window"],
    seed: int = 0,
    mirror: str = str(MIRROR),
) -> dict:
    """Their model under the stand-ins against ours in fp32 on one ``size``-squared
    textured LR image (defaults: the smoke size); returns :func:`agreement`'s numbers."""
    authors, net, ours = build_models(scale, n_feats, n_resblocks, window, seed, mirror)
    lr = textured_image(size, seed)
    lr_down = downsample_for_graph(lr, graph_scale_for(scale))
    theirs_out = authors_forward(authors, net, lr_down, lr)
    with torch.no_grad():
        ours_out = resolve_precision("fp32").run(lambda x: ours(x, lr_down), lr)
    return agreement(authors, net, ours, lr, lr_down, theirs_out, ours_out)


def cpu_line() -> str:
    return (
        f"CPU: {describe_cpu()}; {os.cpu_count()} cores; torch {torch.__version__} "
        f"({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads; load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )


def run(
    size: int, scale: int, n_feats: int, n_resblocks: int, window: int, repeats: int, seed: int, mirror: str
) -> None:
    """Build, time side by side, check, print."""
    authors, net, exact = build_models(scale, n_feats, n_resblocks, window, seed, mirror)
    fp32, bf16 = resolve_precision("fp32"), resolve_precision("bf16")
    fast = bf16.prepare_model(
        load_reference_checkpoint(net.state_dict(), scale, n_feats=n_feats, n_resblocks=n_resblocks, window=window)
    )
    lr = textured_image(size, seed)
    lr_down = downsample_for_graph(lr, graph_scale_for(scale))
    print(cpu_line())
    print(
        f"authors' code: sczhou/IGNN {authors.commit[:7]} from {mirror}, unmodified; CPU stand-ins for "
        "pyinn, matmul_cuda, torchvision's vgg19 (easydict, cv2 where missing); Tensor.cuda and "
        "Tensor.get_device patched during their forward"
    )
    print(
        f"IGNN x{scale}, {n_feats} features, {n_resblocks} blocks, k=5, 3x3 patches, graph stride 2, "
        f"window {window}; LR {size}x{size} textured image in [0, 255], seed {seed}"
    )
    print(f"ours fp32: {fp32}; ours bf16: {bf16}; theirs: fp32, default layout, eval, no chop", flush=True)

    outputs: dict[str, Tensor] = {}

    def timed(name, forward):
        def call():
            outputs[name] = forward()

        return call

    fns = {
        "theirs fp32": timed("theirs fp32", lambda: authors_forward(authors, net, lr_down, lr)),
        "ours fp32": timed("ours fp32", lambda: fp32.run(exact, lr)),
        "ours bf16": timed("ours bf16", lambda: bf16.run(fast, lr)),
    }
    with torch.no_grad():
        best = best_times(fns, repeats)

    check = agreement(authors, net, exact, lr, lr_down, outputs["theirs fp32"], outputs["ours fp32"])
    ok = check["max_abs_diff"] <= check["tolerance"] and check["same_neighbor_sets"] == 1.0
    print(
        f"check, ours fp32 vs theirs: max |diff| {check['max_abs_diff']:.3g} (output max "
        f"{check['output_max']:.1f}, std {check['output_std']:.1f}; float32-rounding tolerance "
        f"{check['tolerance']:.3g}), identical neighbour sets {check['same_neighbor_sets']:.2%} "
        f"[{'ok' if ok else 'MISMATCH'}]"
    )
    bf16_diff = (outputs["ours bf16"] - outputs["theirs fp32"]).abs()
    print(
        f"       ours bf16 vs theirs: max |diff| {float(bf16_diff.max()):.3g}, mean |diff| "
        f"{float(bf16_diff.mean()):.3g} (bf16 autocast; the graph stays float32)"
    )
    print(f"forward, best of {repeats} interleaved rounds after a warm-up:")
    theirs = best["theirs fp32"]
    for name, seconds in best.items():
        speed = "" if name.startswith("theirs") else f"  {theirs / seconds:5.2f}x faster than theirs"
        print(f"  {name:<12} {seconds:8.2f} s{speed}")
    for name in ("ours fp32", "ours bf16"):
        ratio = theirs / best[name]
        print(f"target: {name} >= 5x faster than the authors' code: {ratio:.2f}x [{'met' if ratio >= 5 else 'missed'}]")
    print(
        f"peak RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=FULL["size"], help="LR side (default 128)")
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), default=2)
    parser.add_argument("--n-feats", type=int, default=FULL["n_feats"])
    parser.add_argument("--n-resblocks", type=int, default=FULL["n_resblocks"])
    parser.add_argument("--window", type=int, default=FULL["window"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mirror", default=str(MIRROR), help="bare git mirror of github:sczhou/IGNN")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"tiny and quick: {SMOKE['n_feats']} features, {SMOKE['n_resblocks']} blocks, "
        f"LR {SMOKE['size']}^2, 1 round (overrides the sizes and --repeats)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.size, args.n_feats, args.n_resblocks, args.repeats = (
            SMOKE["size"],
            SMOKE["n_feats"],
            SMOKE["n_resblocks"],
            1,
        )
    torch.set_num_threads(args.threads)
    run(args.size, args.scale, args.n_feats, args.n_resblocks, args.window, args.repeats, args.seed, args.mirror)


if __name__ == "__main__":
    main()
