"""``python -m ignn_pyg.training ...`` (and ``torchrun -m ignn_pyg.training ...``) is
``ignn-pyg train ...``."""

import sys

from ignn_pyg.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
