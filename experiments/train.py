"""Train a model from a YAML config: ``python experiments/train.py --config
experiments/configs/ignn_x2_compact.yaml [--override key=value ...] [--resume]``;
under ``torchrun --nproc_per_node N experiments/train.py ...`` for several processes.
The same as ``ignn-pyg train ...``."""

import sys

from ignn_pyg.commands.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
