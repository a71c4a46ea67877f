"""Numeric precision and memory layout a model runs in: one switch for every entry point.

``fp32`` is the exact path: float32 everywhere, the default memory layout, the numbers
the oracle tests check.  ``bf16`` (and ``fp16``, CUDA only) is mixed precision by
:func:`torch.autocast`: convolutions and the cross-scale fold run in the low-precision
dtype, while the parts whose precision matters stay float32 inside the models (the
graph's embedding, search and edge features, so the neighbour sets equal the fp32
graph's exactly; the aggregation's mean/variance; every softmax; the mean shifts and
the bicubic residual).  Weights, optimiser state and the loss stay float32.  float32
means IEEE float32 also on a GPU: the fp32 path and the graph run under
:func:`exact_float32`, which turns off TF32 (10 mantissa bits), cuDNN's default for
float32 convolutions on Ampere and later GPUs.  The fast
choices also put models and inputs in channels-last, where oneDNN's convolutions are
faster; outputs come back in the default layout.

``auto`` picks bf16 where the device computes it natively -- a CPU with AVX512-BF16 or
AMX (``torch.cpu._is_avx512_bf16_supported()`` / ``_is_amx_tile_supported()``, which
read the CPUID flags ``avx512_bf16`` and ``amx_bf16`` that ``/proc/cpuinfo`` lists), or
a CUDA GPU for which ``torch.cuda.is_bf16_supported()`` holds -- and float32 in
channels-last elsewhere (on an AVX2-only CPU, bf16 convolutions are emulated and
several times slower than float32).

The environment variable ``IGNN_PYG_NATIVE_BF16`` overrides what the CPU reports:
``1`` makes every choice above believe the CPU computes bf16 natively (``auto`` is then
bf16 even on an AVX2 CPU, where it is emulated and slow), ``0`` that it does not (``auto``
is float32 on an AMX CPU); unset or empty, the CPUID flags decide.  It changes the
choice, never the arithmetic, so the test suite can check both ``auto`` paths on any CPU
(``make test`` runs the precision-dependent tests a second time with the machine's
answer flipped).  GPUs are not affected.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: overrides the CPU's answer to :func:`native_bf16`: ``"1"`` native, ``"0"`` not
NATIVE_BF16_ENV = "IGNN_PYG_NATIVE_BF16"


def native_bf16_override() -> str:
    """``IGNN_PYG_NATIVE_BF16`` as set: ``"0"``, ``"1"``, or ``""`` (unset or empty: ask the CPU).

    Raises:
        ValueError: the variable holds anything else.
    """
    forced = os.environ.get(NATIVE_BF16_ENV, "").strip()
    if forced not in ("", "0", "1"):
        raise ValueError(f"{NATIVE_BF16_ENV} must be 0 or 1 (or unset to ask the CPU), got {forced!r}")
    return forced


def cpu_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively: :func:`native_bf16_override` where set,
    else the CPUID flags AVX512-BF16 or AMX."""
    forced = native_bf16_override()
    if forced:
        return forced == "1"
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def describe_cpu() -> str:
    """This CPU for a report line: its ``model name`` from ``/proc/cpuinfo`` and what it
    computes natively, e.g. ``"Intel(R) Xeon(R) Processor (AVX512-BF16 yes, AMX yes)"``."""
    name = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), name)
    flags = {"AVX512-BF16": torch.cpu._is_avx512_bf16_supported(), "AMX": torch.cpu._is_amx_tile_supported()}
    return f"{name} ({', '.join(flag + (' yes' if on else ' no') for flag, on in flags.items())})"


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bf16 convolutions natively (see the module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_native_bf16()
    return False


@contextlib.contextmanager
def tf32(allowed: bool) -> Iterator[None]:
    """TF32 allowed, or not, inside the block for every float32 matrix product
    (``torch.set_float32_matmul_precision``: ``"high"`` or ``"highest"``) and cuDNN
    convolution (``torch.backends.cudnn.allow_tf32``, on by default).  Both settings are
    process-wide; the caller's come back on exit.  Inside a region ``torch.compile`` traces
    the block changes nothing (a process setting is no operation a graph can hold): the
    settings in force when the compiled code runs apply."""
    if torch.compiler.is_compiling():
        yield
        return
    matmul, conv_tf32 = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if allowed else "highest")
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = conv_tf32


@contextlib.contextmanager
def exact_float32(device_type: str) -> Iterator[None]:
    """IEEE float32 arithmetic inside the block: autocast off for ``device_type`` and
    :func:`tf32` off, whatever the caller allowed.  TF32 keeps 10 of float32's 23
    mantissa bits, enough to reorder near-tied neighbours."""
    with tf32(False), torch.autocast(device_type, enabled=False):
        yield


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``name`` (``fp32``, ``bf16`` or ``fp16``), whether models and
    inputs go channels-last, and why it was chosen (one line, for the user)."""

    name: str
    channels_last: bool
    reason: str

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, ``None`` for float32."""
        return _DTYPES[self.name]

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """The autocast context for ``device`` (:func:`exact_float32` for fp32)."""
        if self.dtype is None:
            return exact_float32(torch.device(device).type)
        return torch.autocast(torch.device(device).type, dtype=self.dtype)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """``model`` in this precision's memory layout (in place; weights stay float32)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def prepare_input(self, x: Tensor) -> Tensor:
        """``x`` ``[B, C, H, W]`` in this precision's memory layout."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def run(self, forward: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``forward(x)`` with ``x`` in this layout, under this autocast; the result as
        float32 in the default layout."""
        with self.autocast(x.device):
            return forward(self.prepare_input(x)).float().contiguous()

    def __str__(self) -> str:
        return f"{self.name}{', channels-last' if self.channels_last else ''} ({self.reason})"


def resolve_precision(requested: str, device: torch.device | str = "cpu") -> Precision:
    """The precision ``requested`` (one of :data:`PRECISIONS`) means on ``device``.

    ``fp32`` is today's exact path (default layout).  ``bf16`` asked for on a device
    without native support still runs, with a one-line :class:`RuntimeWarning` that it
    will be slow.  ``fp16`` needs CUDA.

    Raises:
        ValueError: an unknown name, or fp16 on a CPU.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    device = torch.device(device)
    native = native_bf16(device)
    where = "this GPU" if device.type == "cuda" else f"this {device.type.upper()}"
    forced = native_bf16_override() if device.type == "cpu" else ""
    if requested == "auto":
        if native:
            return Precision(
                "bf16",
                True,
                f"auto: {where} computes bf16 natively{f' ({NATIVE_BF16_ENV}={forced})' if forced else ''}",
            )
        evidence = (
            f"{NATIVE_BF16_ENV}={forced}"
            if forced
            else torch.backends.cpu.get_cpu_capability()
            if device.type == "cpu"
            else str(device)
        )
        return Precision("fp32", True, f"auto: {where} has no native bf16 ({evidence})")
    if requested == "fp32":
        return Precision("fp32", False, "exact path")
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device; on a CPU use bf16 or fp32")
    if requested == "bf16" and not native:
        warnings.warn(
            f"bf16 requested but {where} has no native bf16 (no AVX512-BF16/AMX): it runs, "
            "several times slower than fp32",
            RuntimeWarning,
            stacklevel=2,
        )
        return Precision("bf16", True, f"requested; {where} emulates bf16, slow")
    return Precision(requested, True, "requested")
