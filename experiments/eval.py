"""Evaluate a model on a dataset: the same as ``ignn-pyg eval`` (see ``docs/evaluation.md``).

python experiments/eval.py --weights bicubic --dataset photos --scale 2 --out runs/eval_bicubic_x2
"""

import sys

from ignn_pyg.commands.main import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
