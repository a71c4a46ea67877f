"""The ``ignn-pyg`` command line: ``graph``, ``upscale``, ``train``, ``eval``, ``demo``.

Each subcommand lives with the code it drives; this module only parses arguments and
dispatches, importing a subcommand's module when it runs (so ``ignn-pyg --help``
starts fast).  Errors a user can fix (missing file, bad value) print one line and
exit with status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from ignn_pyg.runtime.allocator import retain_freed_memory

# subcommand -> (module, one-line help); the module provides
# ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "graph": ("ignn_pyg.explorer", "build the cross-scale graph of an image and write a study of it, "
                                   "with an interactive explorer page"),
    "upscale": ("ignn_pyg.upscale", "super-resolve an image or a folder of images"),
    "train": ("ignn_pyg.training", "train a model from a YAML config"),
    "eval": ("ignn_pyg.evaluation.engine", "evaluate a model on a dataset (PSNR/SSIM on Y)"),
    "demo": ("ignn_pyg.demo", "the main job: the bundled EDSR and IGNN against bicubic on the installed eval photos"),
}


class CLIError(Exception):
    """A problem with the user's input; reported as one line, exit status 2."""


def _load(name: str):
    module, _ = SUBCOMMANDS[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="ignn-pyg", description="IGNN super-resolution in PyTorch Geometric.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        module = _load(name)
        if module is None:
            continue
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ignn-pyg`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return 2
    retain_freed_memory()  # large tensors reuse warm memory (ignn_pyg.runtime.allocator)
    with warnings.catch_warnings():
        # a warning is one line for the user, not Python's file:line and source line
        warnings.showwarning = lambda message, *_args, **_kwargs: print(
            f"ignn-pyg {args.command}: warning: {message}", file=sys.stderr)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args) or 0)
    except (CLIError, ValueError, FileNotFoundError) as err:
        print(f"ignn-pyg {args.command}: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # an optional extra the chosen option needs
        print(f"ignn-pyg {args.command}: error: {err.msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ignn-pyg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
