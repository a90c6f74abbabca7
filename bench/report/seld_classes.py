"""Per-class SELD scores: F, DOAE and RDE of each of the 13 STARSS23 classes per row."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from perloc.bench.report.base import Report, Row, RunContext
from perloc.datasets.starss23 import CLASSES
from perloc.metrics.seld import SeldConfig, class_scores, reference_counts


class _Sums:
    """Sums the per-file statistics rows of the task's SELD metric cards (computed once per
    batch for the scores; the cards' update returns the same rows here)."""

    def __init__(self, config: SeldConfig, rows) -> None:
        self.config, self.rows = config, rows
        self.total = np.zeros(config.width)

    def update(self, pred, truth) -> None:
        self.total += self.rows(pred["events"], truth["events"]).sum(axis=0)

    def compute(self) -> dict:
        per_class = class_scores(self.total, self.config)
        clean = {k: [None if not np.isfinite(v) else round(float(v), 6) for v in per_class[k]]
                 for k in ("F", "DOAE", "RDE")}
        names = [name.split(",")[0].lower() for name in CLASSES[:self.config.n_classes]]
        counts = reference_counts(self.total, self.config).astype(int).tolist()
        return {"classes": names, **clean, "references": counts}


class SeldClasses(Report):
    """A table per section: one row per method (its first seed), F % per class, and the DOAE
    and RDE of each class under it."""

    name = "seld_classes"

    def __init__(self, config: SeldConfig | None = None) -> None:
        self.config = config or SeldConfig()

    def collector(self, context: RunContext) -> _Sums:
        return _Sums(self.config, context.task.metric(context.task.primary).update)

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        found = [(r.name, r.first["extras"][self.name]) for r in rows
                 if self.name in r.first.get("extras", {})]
        if not found:
            return []
        classes = found[0][1]["classes"]
        refs = found[0][1]["references"]
        body = [[name, *(_cell(f, d, r) for f, d, r in zip(data["F"], data["DOAE"], data["RDE"],
                                                           strict=True))]
                for name, data in found]
        headers = ["method", *(f"{c} ({n})" for c, n in zip(classes, refs, strict=True))]
        return [f"Per class (F % / DOAE deg / RDE; reference events in brackets; seed "
                f"{rows[0].first['seed']} of each row):\n\n"
                + tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)]


def _cell(f, doae, rde) -> str:
    show = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    return f"{show(None if f is None else f * 100, '.1f')} / {show(doae, '.0f')} / " \
           f"{show(rde, '.2f')}"
