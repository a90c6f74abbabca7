"""Validation curves of the learned methods: what budget each one got and where it stood.

Every learned method's record carries its training curves (``series``: one value per epoch,
and ``steps_per_epoch``). This report plots the validation ``metric`` against optimiser steps
for every learned row of a section (first seed) and tabulates the budget: steps trained, the
best validation value and the step it was reached. With ``floor`` (a method name, e.g. the
training-mean predictor), the floor's validation value is drawn as a line and the table gives
the first step at which each curve went below it (or ``never``): a curve that stays above the
floor has learned nothing from the inputs yet.
"""

from __future__ import annotations

from pathlib import Path

from perloc.bench.report.base import Report, Row, section_slug, section_title


def curve(entry: dict, metric: str) -> tuple[list[int], list[float]] | None:
    """(steps, values) of ``metric`` in a board entry's series, or None."""
    series = entry.get("series") or {}
    values, per = series.get(metric), int(series.get("steps_per_epoch", [0])[0])
    if not values or not per:
        return None
    return [per * (i + 1) for i in range(len(values))], list(values)


def first_below(steps: list[int], values: list[float], level: float,
                lower_is_better: bool = True) -> int | None:
    """The first step whose value beats ``level`` (below it when lower is better)."""
    for step, value in zip(steps, values, strict=True):
        if (value < level) if lower_is_better else (value > level):
            return step
    return None


class TrainingCurves(Report):
    """Validation ``metric`` per learned row against training steps (PNG + budget table)."""

    name = "curves"

    def __init__(self, metric: str, label: str, floor: str = "",
                 lower_is_better: bool = True) -> None:
        self.metric, self.label, self.floor = metric, label, floor
        self.lower_is_better = lower_is_better

    def _png(self, board: dict, section: dict) -> str:
        return section_slug(board, section, "curves") + ".png"

    def _curves(self, rows: list[Row]) -> dict[str, tuple[list[int], list[float]]]:
        out = {}
        for row in rows:
            found = curve(row.first, self.metric)
            if found and len(found[0]) > 1 and row.name != self.floor:
                out[row.name] = found
        return out

    def _floor(self, rows: list[Row]) -> float | None:
        for row in rows:
            found = curve(row.first, self.metric) if row.name == self.floor else None
            if found:
                return found[1][-1]
        return None

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        curves = self._curves(rows)
        if not curves:
            return []
        floor = self._floor(rows)
        best = min if self.lower_is_better else max
        header = ["method", "steps trained", f"best {self.label}", "at step"]
        if floor is not None:
            header.append(f"first step beating {self.floor} ({floor:.2f})")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name, (steps, values) in curves.items():
            top = best(values)
            cells = [name, str(steps[-1]), f"{top:.2f}", str(steps[values.index(top)])]
            if floor is not None:
                hit = first_below(steps, values, floor, self.lower_is_better)
                cells.append("never" if hit is None else str(hit))
            lines.append("| " + " | ".join(cells) + " |")
        return [f"Validation curves (first seed): ![curves]({self._png(board, section)})",
                "\n".join(lines)]

    def publish(self, board: dict, section: dict, rows: list[Row], folder: Path) -> list[str]:
        from perloc.bench.report.plots import plot_curves

        curves = self._curves(rows)
        if not curves:
            return []
        floor = self._floor(rows)
        name = self._png(board, section)
        plot_curves(curves, folder / name, f"{board['task']}: validation {self.label} "
                    f"({section_title(section)})", self.label,
                    None if floor is None else (self.floor, floor))
        return [name]
