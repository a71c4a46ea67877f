"""The compact models that ship in ``ignn_pyg/weights`` (``docs/model_zoo.md``).

The demo, ``ignn-pyg upscale`` (without ``--weights``), experiments and benchmarks all
start from them; ``experiments/bundle_weights.py`` writes them.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: (architecture, scale) -> bundled checkpoint file in ``ignn_pyg/weights``
BUNDLED = {(arch, scale): f"{arch}_x{scale}_compact.pt" for arch in ("ignn", "edsr") for scale in (2, 3, 4)}


def bundled_weights(scale: int, arch: str = "ignn") -> Path:
    """Path of the bundled compact model for ``scale``; ``ValueError`` if none ships."""
    name = BUNDLED.get((arch, scale))
    if name is None or not (WEIGHTS_DIR / name).is_file():
        available = sorted(f"{a} x{s}" for (a, s), n in BUNDLED.items() if (WEIGHTS_DIR / n).is_file())
        raise ValueError(f"no bundled {arch} model for x{scale} (bundled: {', '.join(available) or 'none'}); "
                         "pass --weights")
    return WEIGHTS_DIR / name
