"""An optional C++ kernel for the forward pass of
:func:`~ignn_pyg.nn.gathered_patch_fold.fold_gathered_patches`: gather, scale and
accumulate in one pass, so that no gathered patch is ever written to memory.

The pure-torch fold gathers a chunk of patches into a buffer, scales it and adds it into
a band of the map in ``P^2`` strided passes (``P = ceil(q / t)``).  Here each output row
is computed on its own: for every patch row that covers it and every patch in that row,
the patch's pixel row is read from the source patches, scaled per channel by the gain
and added into a float accumulator of the row (double for double inputs), which then
goes to the output as ``base + sum / coverage``.  Rows are spread over the intra-op
threads (``at::parallel_for``).  The sums run in another order than the torch path's, so
the maps agree to float rounding, not bit for bit; in bf16 the sums stay in float32
until the output is rounded once (the torch path rounds every partial sum to bf16).

The kernel is compiled on first use with :func:`torch.utils.cpp_extension.load_inline`
(a C++ compiler and ninja are needed; about a minute on two cores) into
:func:`build_dir`, where later processes find it.  Nothing needs it: :func:`load`
returns ``None`` with the reason when it cannot be built, and the torch path is the
fallback and the tests' reference.  ``ignn-pyg upscale/eval --compile`` and training's
``run.compile`` turn it on (:func:`ignn_pyg.inference.compilation.use_native_fold`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from ignn_pyg.runtime.toolchain import missing_cxx_compiler

__all__ = ["build_dir", "failure", "load", "missing_toolchain", "native_fold_forward"]

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/OpMathType.h>
#include <vector>

template <typename scalar_t>
void fold_rows(const scalar_t* sources, const int64_t* index, const scalar_t* gains, const scalar_t* base,
               const float* inverse_coverage, scalar_t* out, int64_t terms, int64_t shared_gain, int64_t batch,
               int64_t height, int64_t width, int64_t channels, int64_t rows, int64_t cols, int64_t patch,
               int64_t stride, int64_t pad_top, int64_t pad_left) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t queries = batch * rows * cols, patch_row = patch * channels;
  at::parallel_for(0, batch * height, 4, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(width * channels);
    for (int64_t line = begin; line < end; ++line) {
      const int64_t b = line / height, y = line % height, yp = y + pad_top;
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const int64_t i_hi = std::min(yp / stride, rows - 1);
      const int64_t i_lo = std::max<int64_t>(0, (yp - patch + stride) / stride);
      for (int64_t r = 0; r < terms; ++r) {
        const int64_t* idx = index + r * queries;
        const scalar_t* gain_r = gains + (shared_gain ? 0 : r) * queries * channels;
        for (int64_t i = i_lo; i <= i_hi; ++i) {
          const int64_t a = yp - i * stride;
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t query = (b * rows + i) * cols + j;
            const scalar_t* src = sources + (idx[query] * patch + a) * patch_row;
            const scalar_t* g = gain_r + query * channels;
            const int64_t x0 = j * stride - pad_left;
            const int64_t dx_lo = std::max<int64_t>(0, -x0), dx_hi = std::min(patch, width - x0);
            for (int64_t dx = dx_lo; dx < dx_hi; ++dx) {
              acc_t* __restrict__ o = acc.data() + (x0 + dx) * channels;
              const scalar_t* __restrict__ s = src + dx * channels;
#pragma omp simd
              for (int64_t c = 0; c < channels; ++c) o[c] += acc_t(g[c]) * acc_t(s[c]);
            }
          }
        }
      }
      const float* inv = inverse_coverage + y * width;
      const scalar_t* base_row = base + line * width * channels;
      scalar_t* out_row = out + line * width * channels;
      for (int64_t x = 0; x < width; ++x)
        for (int64_t c = 0; c < channels; ++c)
          out_row[x * channels + c] =
              scalar_t(acc_t(base_row[x * channels + c]) + acc[x * channels + c] * acc_t(inv[x]));
    }
  });
}

torch::Tensor fold_forward(torch::Tensor sources, torch::Tensor index, torch::Tensor gains, torch::Tensor base,
                           torch::Tensor inverse_coverage, int64_t rows, int64_t cols, int64_t stride,
                           int64_t pad_top, int64_t pad_left) {
  TORCH_CHECK(sources.is_contiguous() && index.is_contiguous() && gains.is_contiguous() && base.is_contiguous()
              && inverse_coverage.is_contiguous(), "fold_forward takes contiguous tensors");
  TORCH_CHECK(inverse_coverage.scalar_type() == torch::kFloat, "inverse_coverage must be float32");
  TORCH_CHECK(sources.scalar_type() == base.scalar_type() && gains.scalar_type() == base.scalar_type(),
              "sources, gains and base must share a dtype");
  TORCH_CHECK(index.scalar_type() == torch::kLong, "index must be int64");
  TORCH_CHECK(sources.device().is_cpu() && base.device().is_cpu(), "fold_forward runs on CPU tensors");
  auto out = torch::empty_like(base);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, base.scalar_type(), "fold_forward", [&] {
    fold_rows<scalar_t>(sources.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), gains.data_ptr<scalar_t>(),
                        base.data_ptr<scalar_t>(), inverse_coverage.data_ptr<float>(), out.data_ptr<scalar_t>(),
                        index.size(0), gains.size(0) == 1 ? 1 : 0, base.size(0), base.size(1), base.size(2),
                        base.size(3), rows, cols, sources.size(1), stride, pad_top, pad_left);
  });
  return out;
}
"""

_MODULE: ModuleType | None = None
_FAILURE: str | None = None


def build_dir() -> Path:
    """Where the compiled kernel is kept (``IGNN_PYG_EXTENSIONS_DIR``, else
    ``~/.cache/ignn-pyg/extensions``)."""
    return Path(os.environ.get("IGNN_PYG_EXTENSIONS_DIR") or Path.home() / ".cache" / "ignn-pyg" / "extensions")


def missing_toolchain() -> str | None:
    """Why the kernel cannot be built here (no C++ compiler or no ninja), or ``None``."""
    reason = missing_cxx_compiler()
    if reason is not None:
        return reason
    if shutil.which("ninja") is None:
        return "ninja is not installed (pip install ninja)"
    return None


def load() -> ModuleType | None:
    """The compiled kernel, built on first use (module docstring); ``None`` when it cannot
    be built, with the reason in :func:`failure`."""
    global _MODULE, _FAILURE
    if _MODULE is not None or _FAILURE is not None:
        return _MODULE
    _FAILURE = missing_toolchain()
    if _FAILURE is not None:
        return None
    from torch.utils.cpp_extension import load_inline

    folder = build_dir() / f"fold_torch{torch.__version__.replace('+', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _MODULE = load_inline(
            "ignn_pyg_native_fold",
            cpp_sources=_SOURCE,
            functions=["fold_forward"],
            extra_cflags=["-O3", "-march=native", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            build_directory=str(folder),
        )
    except Exception as err:  # a compiler or linker error of any kind: fall back
        _FAILURE = f"building the native fold kernel failed: {str(err).splitlines()[0] if str(err) else err!r}"
    return _MODULE


def failure() -> str | None:
    """Why :func:`load` returned ``None`` (``None`` before a failed :func:`load`)."""
    return _FAILURE


def native_fold_forward(
    module: ModuleType, sources: Tensor, index: Tensor, gain: Tensor, base: Tensor, grid, inverse_coverage: Tensor
) -> Tensor:
    """The kernel's ``base + crop(sum_r fold_sum(gain[r] * sources[index[r]])) / coverage``
    with the arguments of :func:`~ignn_pyg.nn.gathered_patch_fold.fold_gathered_patches`
    (checked there) and ``inverse_coverage [H, W]``; ``[B, H, W, C]`` in ``base``'s dtype."""
    return module.fold_forward(
        sources.contiguous(),
        index.contiguous(),
        gain.to(base.dtype).contiguous(),
        base.contiguous(),
        inverse_coverage.float().contiguous(),
        grid.rows,
        grid.cols,
        grid.stride,
        grid.pad_top,
        grid.pad_left,
    )
