"""``ignn-pyg train --config FILE [--override section.key=value ...] [--resume]``.

Multi-process: ``torchrun --nproc_per_node N -m ignn_pyg train --config FILE``.
The loop and its config are :mod:`ignn_pyg.training`; see
``docs/training.md``.
"""

from __future__ import annotations

import argparse
import sys

from ignn_pyg.training import load_config, train
from ignn_pyg.training.interrupt import TrainingInterrupted

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` subcommand's options."""
    parser.add_argument("--config", required=True, help="YAML config (see experiments/configs/)")
    parser.add_argument(
        "--override",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="replace a config value, e.g. optim.lr=2e-4 data.batch_size=8 (YAML syntax)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in run.out_dir from its last.pt")


def run(args: argparse.Namespace) -> int:
    """Load and check the config, then train; user errors raise ValueError.  A run
    stopped by SIGINT or SIGTERM reports its checkpoint in one line and returns
    ``128 + signal`` (130, 143)."""
    try:
        summary = train(load_config(args.config, args.override), resume=args.resume)
    except TrainingInterrupted as stopped:
        print(f"ignn-pyg train: {stopped}", file=sys.stderr)
        return stopped.exit_status
    if "val_psnr" in summary:
        print(
            f"done: iteration {summary['iteration']}, val PSNR {summary['val_psnr']:.3f} dB "
            f"(best {summary['best_psnr']:.3f}, bicubic {summary['bicubic_psnr']:.3f}), "
            f"{summary['iterations_per_second']:.3f} it/s"
        )
    return 0
