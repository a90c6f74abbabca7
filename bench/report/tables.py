"""Per-condition tables of a leaderboard section: one table per condition column, and
two-column pivots (Paper VII Table 2: setup x M). Cells are the board's headline metrics,
averaged over a row's seeds; values are listed in the order the task's grid gives them."""

from __future__ import annotations

from tabulate import tabulate

from perloc.bench.report.base import Report, Row


def value_order(values, order: list[str] | None = None) -> list[str]:
    """``order`` (the grid's) first, then numbers numerically, then names alphabetically."""
    order = order or []

    def key(value: str) -> tuple:
        if value in order:
            return (0, order.index(value), 0.0, "")
        try:
            return (1, 0, float(value), "")
        except ValueError:
            return (2, 0, 0.0, value)

    return sorted(values, key=key)


def _cell(row: Row, name: str, metrics: list[str]) -> str:
    values = [row.slice_value(name, m) for m in metrics]
    if all(v is None for v in values):
        return "N/A" if row.failure(name) == 1.0 else "-"
    return " / ".join("-" if v is None else f"{v:.2f}" for v in values)


def _slice_values(rows: list[Row], columns: tuple[str, ...]) -> dict[str, set[str]]:
    """column -> values seen in the rows' slices that fix exactly ``columns``."""
    seen: dict[str, set[str]] = {c: set() for c in columns}
    for row in rows:
        for entry in row.ok:
            for name in [*entry.get("slices", {}), *entry.get("failures", {})]:
                if "=" not in name:
                    continue
                parts = dict(p.split("=", 1) for p in name.split("|"))
                if set(parts) == set(columns):
                    for c in columns:
                        seen[c].add(parts[c])
    return seen


class SliceTables(Report):
    """One table per condition column: rows are methods, columns the column's values."""

    name = "slice_tables"

    def __init__(self, columns: tuple[str, ...], order: dict[str, list[str]] | None = None):
        self.columns, self.order = columns, order or {}

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        metrics = board.get("headline") or [board["primary"]]
        tables = []
        for column in self.columns:
            values = value_order(_slice_values(rows, (column,))[column], self.order.get(column))
            if not values:
                continue
            body = [[r.name, *[_cell(r, f"{column}={v}", metrics) for v in values]]
                    for r in rows if r.ok]
            tables.append(f"By {column} ({' / '.join(metrics)}, mean over seeds):\n\n"
                          + tabulate(body, headers=["method", *[f"{column}={v}" for v in values]],
                                     tablefmt="github", disable_numparse=True))
        return tables


class Pivot(Report):
    """``row`` x ``column`` cells per method (e.g. setup x M); keeps those two-column slices
    on the board."""

    name = "pivot"

    def __init__(self, row: str, column: str, order: dict[str, list[str]] | None = None):
        self.row, self.column, self.order = row, column, order or {}

    def keeps(self, slice_name: str) -> bool:
        return {p.partition("=")[0] for p in slice_name.split("|")} == {self.row, self.column}

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        metrics = board.get("headline") or [board["primary"]]
        seen = _slice_values(rows, (self.row, self.column))
        row_values = value_order(seen[self.row], self.order.get(self.row))
        col_values = value_order(seen[self.column], self.order.get(self.column))
        body = []
        for rv in row_values:
            for r in rows:
                cells = [_cell(r, self._name(rv, cv), metrics) for cv in col_values]
                if r.ok and any(c != "-" for c in cells):
                    body.append([rv, r.name, *cells])
        if not body:
            return []
        return [f"By {self.row} and {self.column} ({' / '.join(metrics)}, mean over seeds):\n\n"
                + tabulate(body, headers=[self.row, "method",
                                          *[f"{self.column}={v}" for v in col_values]],
                           tablefmt="github", disable_numparse=True)]

    def _name(self, row_value: str, col_value: str) -> str:
        return f"{self.row}={row_value}|{self.column}={col_value}"
