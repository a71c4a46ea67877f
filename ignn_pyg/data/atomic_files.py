"""Output files that appear whole or not at all.

A file is written under a temporary name in its own folder, flushed to disk, then renamed
over the final name (``os.replace``, atomic on POSIX within one file system).  An
interrupt while it is written (SIGINT, SIGKILL, a full disk, an exception) leaves either
nothing or the file that was there before under the final name, never a truncated one.
The temporary name is hidden and says what it is, ``.{name}.partial-{pid}{suffix}``
(the suffix kept, so writers that pick a format from it still do); a process killed
outright can leave one behind, and nothing reads it as an output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output", "write_text_atomic", "partial_name"]


def partial_name(path: str | Path) -> Path:
    """The temporary file :func:`atomic_output` writes ``path`` to, beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}{path.suffix}")


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Write ``path`` whole or not at all: the block writes the yielded temporary path.

    ``path``'s folder is created.  When the block ends normally the temporary file is
    synced to disk and renamed to ``path`` (replacing a file there); when it raises
    anything, ``KeyboardInterrupt`` included, the temporary file is removed and
    ``path`` is left as it was.

    Example::

        with atomic_output("out/result.png") as partial:
            imageio.v3.imwrite(partial, pixels)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_name(path)
    try:
        yield partial
        descriptor = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """``Path(path).write_text(text)`` through :func:`atomic_output`."""
    with atomic_output(path) as partial:
        partial.write_text(text)
