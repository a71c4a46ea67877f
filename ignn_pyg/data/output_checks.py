"""Checks on the files a command is about to write, made before any work starts.

A command that would lose data refuses in one line (``ValueError``) before it computes
anything: an output that is one of its inputs, an existing output without permission to
replace it, two outputs with one name, a folder it cannot write to.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["check_not_inputs", "check_unique", "check_new", "check_writable"]

_SHOWN = 3  # files named in a message before "and N more"


def listed(items: Sequence, shown: int = _SHOWN) -> str:
    """``a, b, c`` or ``a, b, c and 7 more``: the first ``shown`` items of a message."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(str(item) for item in items[:shown]) + more


def _identity(path: Path) -> tuple[int, int]:
    """The file ``path`` names, whatever the name: (device, inode)."""
    info = path.stat()
    return info.st_dev, info.st_ino


def check_not_inputs(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Refuse, always, to write over an input file: an output that exists and is one of
    ``inputs`` (the same file under any name: links and ``..`` included; an output that
    does not exist yet is no input).

    Raises:
        ValueError: naming the first such output and its input.
    """
    by_identity = {_identity(source): source for source in inputs if source.exists()}
    for output in outputs:
        # as the kernel resolves it, and with ".." taken lexically: "new/../a.png" is a.png
        # once "new" has been created
        for spelling in (output, Path(os.path.abspath(output))):
            source = by_identity.get(_identity(spelling)) if spelling.exists() else None
            if source is not None:
                raise ValueError(
                    f"output {output} is the input {source}; refusing to write over an input (give another -o)"
                )


def check_unique(outputs: Sequence[Path]) -> None:
    """Refuse two outputs with one name (one result would replace the other).

    Raises:
        ValueError: naming the outputs that clash.
    """
    counts = Counter(Path(os.path.abspath(p)) for p in outputs)
    clashes = [p for p, count in counts.items() if count > 1]
    if clashes:
        raise ValueError(f"{len(clashes)} output name(s) would be written twice: {listed(clashes)}")


def check_new(outputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse outputs that exist already, unless ``overwrite``.

    Raises:
        ValueError: naming the existing files, their count, and ``--overwrite``.
    """
    existing = [p for p in outputs if p.exists() or p.is_symlink()]
    if existing and not overwrite:
        raise ValueError(
            f"{len(existing)} output file(s) exist already: {listed(existing)}; give --overwrite to replace them"
        )


def check_writable(folder: Path) -> None:
    """Refuse a folder that cannot be created or written to, by trying: a temporary file is
    made (and removed) in ``folder`` or, when it does not exist yet, in the nearest folder
    above it that does (where it would be created).  Trying sees what permission bits
    alone do not: read-only file systems, and root, which ignores the bits.

    Raises:
        ValueError: naming the folder, when a path above it is a file or nothing can be
            written there.
    """
    folder = Path(os.path.abspath(folder))
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write to {folder}: {existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".ignn-pyg-write-check-", dir=existing)
    except OSError as err:
        raise ValueError(f"cannot write to {folder}: {err.strerror or type(err).__name__} (in {existing})") from err
    os.close(handle)
    os.unlink(probe)
