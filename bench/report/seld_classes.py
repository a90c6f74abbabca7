"""Per-class SELD scores: F, DOAE and RDE of each of the 13 STARSS23 classes per row."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from perloc.bench.report.base import Report, Row, RunContext
from perloc.metrics.seld import SeldConfig, class_scores, file_stats

CLASS_NAMES = ("female speech", "male speech", "clapping", "telephone", "laughter",
               "domestic sounds", "footsteps", "door", "music", "musical instrument",
               "water tap", "bell", "knock")


class _Sums:
    def __init__(self, config: SeldConfig) -> None:
        self.config = config
        self.total = np.zeros(config.width)

    def update(self, pred, truth) -> None:
        for p, t in zip(pred["events"], truth["events"], strict=True):
            self.total += file_stats(t, p, self.config)

    def compute(self) -> dict:
        per_class = class_scores(self.total, self.config)
        clean = {k: [None if not np.isfinite(v) else round(float(v), 6) for v in per_class[k]]
                 for k in ("F", "DOAE", "RDE")}
        return {"classes": list(CLASS_NAMES[:self.config.n_classes]), **clean,
                "references": self.total[:self.config.n_classes * 9].reshape(-1, 9)[:, 8]
                .astype(int).tolist()}


class SeldClasses(Report):
    """A table per section: one row per method (its first seed), F % per class, and the DOAE
    and RDE of each class under it."""

    name = "seld_classes"

    def __init__(self, config: SeldConfig | None = None) -> None:
        self.config = config or SeldConfig()

    def collector(self, context: RunContext) -> _Sums:
        return _Sums(self.config)

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
