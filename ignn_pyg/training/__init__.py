"""Training, the engine behind ``ignn-pyg train`` (:mod:`ignn_pyg.commands.train`).

``config``   the nested dataclass config, YAML loading, overrides and checks
``augment``  random crops, flips / 90-degree rotations, colour-channel order
``data``     the resumable, shardable stream of training crops; validation images
``weight_init``  the authors' scaled Kaiming initialisation
``engine``   the loop: L1 (``losses``) + Adam + step decay, validation, checkpoints, resume
``losses``   the reconstruction losses: L1, MSE, Charbonnier
``distributed``  ``torchrun`` process groups (NCCL on GPU, Gloo on CPU)
``logs``     ``log.csv``, ``progress.png``, TensorBoard
``interrupt``  SIGINT / SIGTERM: a checkpoint at the current iteration, then exit
``run_lock``   one training process per run folder

Multi-process: ``torchrun --nproc_per_node N -m ignn_pyg train --config FILE``.
See ``docs/training.md``.
"""

from __future__ import annotations

from .config import TrainConfig, load_config
from .engine import train
from .interrupt import TrainingInterrupted

__all__ = ["TrainConfig", "TrainingInterrupted", "load_config", "train"]
