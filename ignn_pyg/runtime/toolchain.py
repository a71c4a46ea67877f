"""Whether this machine can build native code: the C++ compiler that inductor
(``--compile``) and the native fold kernel (:mod:`ignn_pyg.nn.native_fold`) call."""

from __future__ import annotations

import os
import shutil

__all__ = ["missing_cxx_compiler"]


def missing_cxx_compiler() -> str | None:
    """Why no C++ compiler can be called here (``$CXX`` when set, else ``c++``, ``g++`` or
    ``clang++`` on the ``PATH``), or ``None`` when one can."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    if any(shutil.which(name) for name in candidates):
        return None
    return f"no C++ compiler found ({', '.join(candidates)})"
