"""Confusion matrices of classifiers: counts per (true, predicted) class, summed over batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perloc.bench.report.base import Report, Row, RunContext, section_slug, section_title
from perloc.metrics.classification import confusion_counts


class _Counts:
    def __init__(self, classes: list[str], column: str) -> None:
        self.classes, self.column = classes, column
        self.counts = np.zeros((len(classes), len(classes)), dtype=np.int64)

    def update(self, pred, truth) -> None:
        self.counts += confusion_counts(np.asarray(pred[self.column]).astype(np.int64),
                                        np.asarray(truth[self.column]).astype(np.int64),
                                        len(self.classes))

    def compute(self) -> dict:
        return {"classes": self.classes, "counts": self.counts.tolist()}


class Confusion(Report):
    """C[t, p] over the test set (rows true, columns predicted) of the label column, with the
    dataset's ``classes`` as names; one PNG per leaderboard section and per MLflow run."""

    name = "confusion"

    def __init__(self, column: str) -> None:
        self.column = column

    def collector(self, context: RunContext) -> _Counts:
        return _Counts(list(context.dataset.classes), self.column)

    def _png(self, board: dict, section: dict) -> str:
        return section_slug(board, section, "confusion") + ".png"

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        if not any(self.name in r.first.get("extras", {}) for r in rows):
            return []
        return [f"Confusion matrices (seed {rows[0].first['seed']} of each row): "
                f"![confusion]({self._png(board, section)})"]

    def publish(self, board: dict, section: dict, rows: list[Row], folder: Path) -> list[str]:
        from perloc.bench.report.plots import plot_confusions

        matrices = {r.name: r.first["extras"][self.name] for r in rows
                    if self.name in r.first.get("extras", {})}
        if not matrices:
            return []
        name = self._png(board, section)
        plot_confusions(matrices, folder / name, f"{board['task']}: confusion "
                        f"({section_title(section)}; rows true, "
                        "row-normalised)")
        return [name]

    def artifacts(self, record, folder: Path) -> list[Path]:
        from perloc.bench.report.plots import plot_confusions

        if self.name not in record.extras:
            return []
        return [plot_confusions({record.method: record.extras[self.name]},
                                folder / "confusion.png",
                                f"{record.method} ({record.task}, {record.profile})")]
