"""Load a script of ``experiments/`` or ``benchmarks/`` as a module, for tests of its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _load_script(folder: Path, name: str) -> ModuleType:
    """``folder/<name>.py`` as a module; ``folder`` goes on ``sys.path`` first, since
    scripts import their neighbours (``study_graph`` imports ``graph_oracle``)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_experiment(name: str) -> ModuleType:
    """``experiments/<name>.py`` as a module."""
    return _load_script(EXPERIMENTS, name)


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module (``upscale_photo`` imports ``upscale_breakdown``)."""
    return _load_script(BENCHMARKS, name)
