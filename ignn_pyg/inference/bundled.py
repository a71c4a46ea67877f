"""The compact models that ship in ``ignn_pyg/weights`` (``docs/model_zoo.md``).

The demo, ``ignn-pyg upscale`` (without ``--weights``), experiments and benchmarks all
start from them; ``experiments/bundle_weights.py`` writes them.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: The bundled models' names: IGNN (the authors' aggregation), IGNN with the gated detail
#: transfer (``aggregation="ignn_detail"``) and EDSR.
MODELS = ("ignn", "ignn_detail", "edsr")
#: (model, scale) -> bundled checkpoint file in ``ignn_pyg/weights``
BUNDLED = {
    **{(model, scale): f"{model}_x{scale}_compact.pt" for model in ("ignn", "edsr") for scale in (2, 3, 4)},
    ("ignn_detail", 2): "ignn_detail_x2_compact.pt",
}


#: scale -> the bundled model ``ignn-pyg upscale`` uses without ``--model``: the one that is
#: at least as good as IGNN on the eval and held-out photos and uses its graph where the
#: image recurs (docs/model_zoo.md; issue #39's targets); IGNN at the other scales
DEFAULT_MODELS = {2: "ignn_detail"}


def default_model(scale: int) -> str:
    """The bundled model ``ignn-pyg upscale`` uses at ``scale`` by default (the demo names it):
    :data:`DEFAULT_MODELS`, else ``"ignn"``."""
    return DEFAULT_MODELS.get(scale, "ignn")


def is_bundled(scale: int, arch: str = "ignn") -> bool:
    """Whether the compact model ``arch`` (one of :data:`MODELS`) ships for ``scale``."""
    name = BUNDLED.get((arch, scale))
    return name is not None and (WEIGHTS_DIR / name).is_file()


def bundled_weights(scale: int, arch: str = "ignn") -> Path:
    """Path of the bundled compact model ``arch`` (one of :data:`MODELS`) for ``scale``;
    ``ValueError`` naming what is bundled if none ships."""
    if not is_bundled(scale, arch):
        available = sorted(f"{a} x{s}" for (a, s) in BUNDLED if is_bundled(s, a))
        raise ValueError(
            f"no bundled {arch} model for x{scale} (bundled: {', '.join(available) or 'none'}); pass --weights"
        )
    return WEIGHTS_DIR / BUNDLED[arch, scale]
