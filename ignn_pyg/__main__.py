"""``python -m ignn_pyg ...`` (and ``torchrun -m ignn_pyg train ...``) is ``ignn-pyg ...``."""

import sys

from ignn_pyg.commands.main import main

sys.exit(main())
