"""The ``ignn-pyg`` command line: ``graph``, ``upscale``, ``train``, ``eval``, ``demo``.

Each subcommand is a module of :mod:`ignn_pyg.commands`; this module only parses
arguments and dispatches, importing a subcommand's module only when that subcommand is
named (so ``ignn-pyg --help`` starts fast).  Errors a user can fix (missing file, bad
value) print one line and exit with status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Collection, Sequence

from ignn_pyg.runtime.allocator import retain_freed_memory

# subcommand -> (module, one-line help); the module provides
# ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "graph": (
        "ignn_pyg.commands.graph",
        "build the cross-scale graph of an image and write a study of it, with an interactive explorer page",
    ),
    "upscale": ("ignn_pyg.commands.upscale", "super-resolve an image or a folder of images"),
    "train": ("ignn_pyg.commands.train", "train a model from a YAML config"),
    "eval": ("ignn_pyg.commands.eval", "evaluate a model on a dataset (PSNR/SSIM on Y)"),
    "demo": (
        "ignn_pyg.commands.demo",
        "the main job: the bundled EDSR and IGNN against bicubic on the installed eval photos",
    ),
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


def build_parser(commands: Collection[str] = SUBCOMMANDS) -> argparse.ArgumentParser:
    """The argument parser: every subcommand with its help line, and the options of those
    in ``commands`` (default: all available), whose modules it imports."""
    parser = argparse.ArgumentParser(prog="ignn-pyg", description="IGNN super-resolution in PyTorch Geometric.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        if name not in commands:
            sub.add_parser(name, help=help_text, description=help_text)
            continue
        module = _load(name)
        if module is None:
            continue
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ignn-pyg`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # the top-level parser has no option that takes a value: the first word is the command
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser([named] if named in SUBCOMMANDS else [])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return 2
    retain_freed_memory()  # large tensors reuse warm memory (ignn_pyg.runtime.allocator)
    with warnings.catch_warnings():
        # a warning is one line for the user, not Python's file:line and source line
        warnings.showwarning = lambda message, *_args, **_kwargs: print(
            f"ignn-pyg {args.command}: warning: {message}", file=sys.stderr
        )
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args) or 0)
    except (CLIError, ValueError, FileNotFoundError) as err:
        print(f"ignn-pyg {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the system refused what a check could not foresee: a full disk, a lost mount
        print(
            f"ignn-pyg {args.command}: error: {err.strerror or err}{f': {err.filename}' if err.filename else ''}",
            file=sys.stderr,
        )
        return 1
    except ModuleNotFoundError as err:  # an optional extra the chosen option needs
        print(f"ignn-pyg {args.command}: error: {err.msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ignn-pyg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
