"""Run logs: ``log.csv`` (the record), ``progress.png`` (drawn from it), TensorBoard.

``log.csv`` has one row per logging step with the columns :data:`COLUMNS`; the
validation columns are empty on rows without validation.  After a resume from
iteration ``t`` the rows past ``t`` (written before the crash, after the checkpoint)
are dropped, so the file always describes the run that produced the weights.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "CSVLog", "read_log", "log_series", "plot_progress", "open_tensorboard"]

#: ``val_reliance``: graph reliance on the validation images (IGNN only; see
#: :func:`ignn_pyg.evaluation.probe_graph`), PSNR with the own graph minus with random neighbours
COLUMNS = ("iteration", "loss", "lr", "val_psnr", "val_ssim", "val_reliance", "seconds")


class CSVLog:
    """Append-only ``log.csv`` with :data:`COLUMNS`.

    Args:
        path: the file.
        resume_from: keep the rows with ``iteration <= resume_from`` and append after
            them; ``None`` starts a new file.
    """

    def __init__(self, path: str | Path, resume_from: int | None = None) -> None:
        self.path = Path(path)
        kept = [] if resume_from is None else [r for r in self.read() if int(r["iteration"]) <= resume_from]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(kept)

    def read(self) -> list[dict[str, str]]:
        """All rows as strings (empty cells are ``""``); no rows when the file is absent."""
        return read_log(self.path)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row (missing columns stay empty) and flush it to disk."""
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, COLUMNS).writerow({k: row.get(k, "") for k in COLUMNS})
            handle.flush()
            os.fsync(handle.fileno())


def read_log(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``log.csv`` as strings, every column of :data:`COLUMNS` present
    (empty cells and columns an older log lacks are ``""``); no rows when the file is
    absent.  Reading never changes the file (unlike opening a :class:`CSVLog`)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: row.get(k) or "" for k in COLUMNS} for row in csv.DictReader(handle)]


def log_series(rows: list[dict[str, str]], column: str) -> tuple[list[int], list[float]]:
    """``(iterations, values)`` of the rows where ``column`` is filled in, as numbers."""
    pairs = [(int(r["iteration"]), float(r[column])) for r in rows if r.get(column) not in ("", None)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_progress(rows: list[dict[str, str]], path: str | Path, bicubic_psnr: float | None = None) -> None:
    """Draw the training loss, the validation PSNR and, when logged, the graph reliance
    against the iteration into a PNG (two or three panels; the PSNR panel has a dashed
    line at ``bicubic_psnr``).  Written to a temporary file and renamed, so a reader
    never sees half a plot."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    reliance = log_series(rows, "val_reliance")
    panels = 3 if reliance[0] else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), layout="constrained")
    ax_loss, ax_psnr = axes[:2]
    iterations, losses = log_series(rows, "loss")
    ax_loss.plot(iterations, losses, lw=1)
    ax_loss.set(xlabel="iteration", ylabel="L1 loss (0-255 scale)", title="training loss")
    if losses and min(losses) > 0 and max(losses) / min(losses) > 10:
        ax_loss.set_yscale("log")
    iterations, psnrs = log_series(rows, "val_psnr")
    ax_psnr.plot(iterations, psnrs, "o-", ms=3, label="model")
    if bicubic_psnr is not None and math.isfinite(bicubic_psnr):
        ax_psnr.axhline(bicubic_psnr, ls="--", color="gray", label=f"bicubic {bicubic_psnr:.2f} dB")
    ax_psnr.set(xlabel="iteration", ylabel="PSNR (dB, Y)", title="validation")
    ax_psnr.legend(loc="best")
    if panels == 3:
        axes[2].plot(*reliance, "o-", ms=3, color="tab:green")
        axes[2].axhline(0.0, ls="--", color="gray")
        axes[2].set(xlabel="iteration", ylabel="dB", title="graph reliance (own - random neighbours)")
    for ax in axes:
        ax.grid(alpha=0.3)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def open_tensorboard(log_dir: str | Path, purge_step: int | None = None) -> Any | None:
    """A ``SummaryWriter`` on ``log_dir`` when ``torch.utils.tensorboard`` imports (it
    needs the ``tensorboard`` package), else None.  ``purge_step`` discards events at
    or after that step, for resumes."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step)
