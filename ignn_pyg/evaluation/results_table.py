"""The results table of several models on several sets and scales, and the pair files it is built from.

A *pair* is one model evaluated on one set at one scale.  Each finished pair's results,
settings included, are kept in their own file, :func:`pair_file`, written whole or not at
all, so that a run that stops resumes with the pairs it has not finished: a pair is
finished when its file holds the same settings (:func:`changed_settings`).

The table, :class:`ResultsTable`, has one row per model and one column per set and scale
(:class:`TableColumn`; the caller orders them), in two files:

* ``table.md``: cells ``PSNR / SSIM`` (dB to 2 decimals, SSIM to 4), :data:`NOT_MADE_FOR_SCALE`
  where the model is made for another scale, :data:`FAILED` where its evaluation failed;
  a title line above, notes below.
* ``table.csv``: a ``model`` column, then ``{SET} x{S} PSNR`` and ``{SET} x{S} SSIM`` per
  column, at full precision (``repr`` of the float, which reads back exactly); empty
  where ``table.md`` shows a mark.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ignn_pyg.data.atomic_files import atomic_output, write_text_atomic

__all__ = [
    "TableColumn",
    "Cell",
    "NOT_MADE_FOR_SCALE",
    "FAILED",
    "pair_file",
    "read_pair",
    "write_pair",
    "changed_settings",
    "ResultsTable",
]

NOT_MADE_FOR_SCALE = "—"
FAILED = "failed"
#: a table cell: the means ``(psnr, ssim)``, or one of the marks :data:`NOT_MADE_FOR_SCALE`, :data:`FAILED`
Cell = tuple[float, float] | str


@dataclass(frozen=True)
class TableColumn:
    """One column of the table: the set ``set_name`` at SR factor ``scale``."""

    set_name: str
    scale: int

    @property
    def label(self) -> str:
        """``"{set_name} x{scale}"``, the column's header."""
        return f"{self.set_name} x{self.scale}"


def pair_file(out_dir: str | Path, model: str, column: TableColumn) -> Path:
    """Where the results of ``model`` on ``column`` are kept: ``out_dir/pairs/{model}/{set}/x{scale}.json``."""
    return Path(out_dir) / "pairs" / model / column.set_name / f"x{column.scale}.json"


def read_pair(path: str | Path) -> dict[str, Any] | None:
    """The results a pair file holds; ``None`` when there is none, or none that reads as a
    JSON object (pair files are written whole, so such a file is not one of ours)."""
    try:
        payload = json.loads(Path(path).read_text())
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def write_pair(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write a pair's results as JSON, whole or not at all (:mod:`ignn_pyg.data.atomic_files`)."""
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def changed_settings(stored: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """The keys of ``settings`` whose value ``stored`` (a pair file's contents) does not
    hold; ``settings`` is compared as JSON gives it back (tuples as lists)."""
    as_stored = json.loads(json.dumps(settings))
    return [key for key, value in as_stored.items() if key not in stored or stored[key] != value]


def _format_cell(cell: Cell) -> str:
    return cell if isinstance(cell, str) else f"{cell[0]:.2f} / {cell[1]:.4f}"


def _csv_values(cell: Cell) -> tuple[float, float] | tuple[str, str]:
    """A cell's two entries in ``table.csv``: its means, or two empty entries for a mark."""
    return ("", "") if isinstance(cell, str) else cell


@dataclass
class ResultsTable:
    """A row per model, a column per set and scale.

    Args:
        models: the rows' names, in order.
        columns: the columns, in order.
        cells: ``cells[(model, column)]``, every model with every column.
        title: the line above the markdown table.
        notes: the lines under it (sources, marks), each a list item.
    """

    models: list[str]
    columns: list[TableColumn]
    cells: dict[tuple[str, TableColumn], Cell]
    title: str
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """``title``, a blank line, ``| model | {column labels} |``, a row per model, then the notes."""
        lines = [
            self.title,
            "",
            "| model | " + " | ".join(column.label for column in self.columns) + " |",
            "| --- |" + " ---: |" * len(self.columns),
        ]
        for model in self.models:
            cells = (_format_cell(self.cells[model, column]) for column in self.columns)
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> None:
        """``out_dir/table.md`` (:meth:`to_markdown`) and ``out_dir/table.csv`` (the same cells at
        full precision), each written whole or not at all."""
        out_dir = Path(out_dir)
        write_text_atomic(out_dir / "table.md", self.to_markdown() + "\n")
        header = ["model", *(f"{column.label} {metric}" for column in self.columns for metric in ("PSNR", "SSIM"))]
        with atomic_output(out_dir / "table.csv") as partial, open(partial, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for model in self.models:
                writer.writerow(
                    [model, *(value for column in self.columns for value in _csv_values(self.cells[model, column]))]
                )
