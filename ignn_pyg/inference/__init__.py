"""Running trained models on whole images, and the files they come from.

``checkpoints``  ours (config beside weights) and the authors' ``IGNN_x*.pth``
``forward``      whole image, overlapping tiles, the authors' chop, x8 self-ensemble
``bundled``      the compact models that ship in ``ignn_pyg/weights``
``memory_estimate``  the memory an upscale will take, estimated before the work
"""

from ignn_pyg.inference.bundled import BUNDLED, WEIGHTS_DIR, bundled_weights
from ignn_pyg.inference.checkpoints import (
    build_model,
    load_checkpoint,
    load_reference_checkpoint,
    load_weights,
    load_weights_at_scales,
    save_checkpoint,
)
from ignn_pyg.inference.forward import (
    ReferenceWindowState,
    SRModel,
    dihedral,
    dihedral_inverse,
    forward_tiled,
    forward_whole,
    reference_chop,
    self_ensemble_x8,
)

__all__ = [
    "BUNDLED",
    "WEIGHTS_DIR",
    "bundled_weights",
    "build_model",
    "load_checkpoint",
    "load_reference_checkpoint",
    "load_weights",
    "load_weights_at_scales",
    "save_checkpoint",
    "ReferenceWindowState",
    "SRModel",
    "dihedral",
    "dihedral_inverse",
    "forward_tiled",
    "forward_whole",
    "reference_chop",
    "self_ensemble_x8",
]
