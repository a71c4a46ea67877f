"""Opt-in ``torch.compile`` of a model's dense parts (``upscale``/``eval --compile``,
training's ``run.compile``).

What compiles is what inductor turns into fused kernels: the convolutional chains.  EDSR
is one, and compiles whole.  In an IGNN the graph's work (the k-NN search, edge
features, gathers and the fold) is data-dependent Python around tensor code, which
inductor would unroll per tile and per chunk; it stays eager, and each dense module
(:data:`DENSE_PARTS`: the head, the two bodies, the fusions, the upsampler and the tail)
is compiled on its own, so no graph break falls inside a compiled region.  Shapes are
dynamic (one compilation serves every tile and image size); for inference the weights
are frozen into the kernels (inductor's ``freezing``: constant folding, and oneDNN
weight prepacking on CPU).  Compiled kernels are kept in a persistent cache,
:func:`cache_dir` (``TORCHINDUCTOR_CACHE_DIR`` when set, else
``~/.cache/ignn-pyg/inductor``), so a later process starts from it.

Compilation is never needed: where inductor has no C++ compiler to call,
:func:`compile_dense_parts` says so in one warning and leaves the model as it is.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from torch import nn

from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.nn import CrossScaleAggregation, native_fold
from ignn_pyg.runtime.toolchain import missing_cxx_compiler

__all__ = ["DENSE_PARTS", "NATIVE_FOLD", "cache_dir", "missing_compiler", "compile_dense_parts", "use_native_fold"]

#: what :func:`compile_dense_parts` lists when it also turned on the native fold kernel
NATIVE_FOLD = "aggregation fold (native kernel)"

#: the submodules compiled, per architecture (``""``: the whole model)
DENSE_PARTS: dict[type[nn.Module], tuple[str, ...]] = {
    IGNN: ("head", "body_pre", "fuse_lr", "body_post", "upsample", "fuse_hr", "tail"),
    EDSR: ("",),
}
_CACHE_VARIABLE = "TORCHINDUCTOR_CACHE_DIR"


def cache_dir() -> Path:
    """Where compiled kernels are kept across processes."""
    return Path(os.environ.get(_CACHE_VARIABLE) or Path.home() / ".cache" / "ignn-pyg" / "inductor")


def missing_compiler() -> str | None:
    """Why inductor could not compile here (no C++ compiler: ``$CXX``, ``c++``, ``g++``
    or ``clang++`` on the ``PATH``), or ``None`` when it can."""
    reason = missing_cxx_compiler()
    return None if reason is None else f"{reason}, which torch.compile needs on the CPU"


def compile_dense_parts(model: nn.Module, inference: bool, backend: str = "inductor") -> list[str]:
    """Compile ``model``'s :data:`DENSE_PARTS` in place (``nn.Module.compile``, dynamic
    shapes; with ``inference``, weights frozen into the kernels: only for models run
    without gradients).  ``backend`` is torch.compile's (the tests use ``"aot_eager"``,
    which traces the same graphs without generating code).  With inductor, the
    aggregation's fold also runs its forward through the compiled kernel of
    :mod:`~ignn_pyg.nn.native_fold` (:func:`use_native_fold`).

    Returns:
        The names compiled (``""``: the whole model; :data:`NATIVE_FOLD` for the fold
        kernel); empty when compilation is not possible here, which a ``UserWarning``
        then explains in one line.

    Raises:
        ValueError: ``model`` is of an architecture without dense parts listed.
    """
    parts = next((names for kind, names in DENSE_PARTS.items() if isinstance(model, kind)), None)
    if parts is None:
        raise ValueError(
            f"no dense parts to compile for {type(model).__name__}; expected one of "
            f"{', '.join(kind.__name__ for kind in DENSE_PARTS)}"
        )
    if backend == "inductor":
        reason = missing_compiler()
        if reason is not None:
            warnings.warn(f"--compile: {reason}; running without compilation", stacklevel=2)
            return []
        os.environ.setdefault(_CACHE_VARIABLE, str(cache_dir()))
    options = {"freezing": True} if inference and backend == "inductor" else None
    for name in parts:
        module = model.get_submodule(name)
        module.compile(backend=backend, dynamic=True, options=options)
    native = backend == "inductor" and use_native_fold(model)
    return [*parts, NATIVE_FOLD] if native else list(parts)


def use_native_fold(model: nn.Module) -> bool:
    """Run the fused fold of every :class:`~ignn_pyg.nn.CrossScaleAggregation` in
    ``model`` through the compiled kernel of :mod:`~ignn_pyg.nn.native_fold` (its forward
    pass, on CPU; built on first use).  ``False`` when ``model`` has no such layer, or
    when the kernel cannot be built here, which one ``UserWarning`` line then says."""
    layers = [module for module in model.modules() if isinstance(module, CrossScaleAggregation)]
    if not layers:
        return False
    if native_fold.load() is None:
        warnings.warn(f"--compile: {native_fold.failure()}; the fold runs in torch", stacklevel=2)
        return False
    for layer in layers:
        layer.native_fold = True
    return True
