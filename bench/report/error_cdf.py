"""Cumulative error distributions (Paper VII Figure 6): percentiles of a per-example error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from perloc.bench.report.base import Report, Row, RunContext, section_slug, section_title
from perloc.bench.run.scoring import cell_mask


class _Errors:
    def __init__(self, error: Callable, column: str, cell: str) -> None:
        self.error, self.column, self.cell = error, column, cell
        self.values: list[np.ndarray] = []
        self.in_cell: list[np.ndarray] = []

    def update(self, pred, truth) -> None:
        values = np.asarray(self.error(pred[self.column], truth[self.column]), dtype=np.float64)
        self.values.append(values)
        self.in_cell.append(cell_mask(truth.meta, self.cell) if self.cell
                            else np.ones(len(values), dtype=bool))

    def compute(self) -> dict:
        values, in_cell = np.concatenate(self.values), np.concatenate(self.in_cell)
        cells = {"overall": np.ones(len(values), dtype=bool)}
        if self.cell:
            cells[self.cell] = in_cell
        return {name: np.percentile(values[mask], np.arange(101)).round(4).tolist()
                for name, mask in cells.items() if mask.any()}


class ErrorCdf(Report):
    """0th..100th percentiles of ``error(pred, truth)`` per example, overall and in ``cell``
    (the task's ranking cell); one CDF plot per section (every row, seed of its first entry)
    and per MLflow run."""

    name = "error_cdf"

    def __init__(self, error: Callable, column: str, cell: str = "",
                 label: str = "error (cm)") -> None:
        self.error, self.column, self.cell, self.label = error, column, cell, label

    def collector(self, context: RunContext) -> _Errors:
        return _Errors(self.error, self.column, self.cell)

    def _png(self, board: dict, section: dict) -> str:
        return section_slug(board, section, "cdf") + ".png"

    def _curves(self, rows: list[Row]) -> dict[str, list[float]]:
        cell = self.cell or "overall"
        return {r.name: r.first["extras"][self.name][cell] for r in rows
                if cell in r.first.get("extras", {}).get(self.name, {})}

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        if not self._curves(rows):
            return []
        return [f"Cumulative error distribution in `{self.cell or 'overall'}`: "
                f"![error CDF]({self._png(board, section)})"]

    def publish(self, board: dict, section: dict, rows: list[Row], folder: Path) -> list[str]:
        from perloc.bench.report.plots import plot_error_cdf

        curves = self._curves(rows)
        if not curves:
            return []
        name = self._png(board, section)
        plot_error_cdf(curves, folder / name, f"{board['task']}: error CDF at "
                       f"{self.cell or 'overall'} ({section_title(section)})", self.label)
        return [name]

    def artifacts(self, record, folder: Path) -> list[Path]:
        from perloc.bench.report.plots import plot_error_cdf

        if not record.extras.get(self.name):
            return []
        return [plot_error_cdf(record.extras[self.name], folder / "error_cdf.png",
                               f"{record.method} ({record.task}, {record.profile})",
                               self.label)]
