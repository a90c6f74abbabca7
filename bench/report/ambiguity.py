"""The ambiguity decomposition of head ensembles (Krogh & Vedelsby; thesis §3.1), per run.

For rows whose predictions carry ``members`` [B, D, M] (every head's estimate) and an
ensemble ŷ = (1/M) sum_m y_m, summed over the test set and averaged over the D dimensions:

    ensemble error  E = mean_i (ŷ_i - t_i)^2
    member error    Ē = mean_i (1/M) sum_m (y_im - t_i)^2
    ambiguity       A = mean_i (1/M) sum_m (y_im - ŷ_i)^2,    E = Ē - A exactly,

plus the ensemble's and the mean member's absolute error (reported, not guaranteed to
order). Columns on the board: E, Ē and A (mean over seeds), in squared label units.
"""

from __future__ import annotations

import statistics

import numpy as np

from perloc.bench.report.base import Report, Row, RunContext
from perloc.methods.ordinal.bins import ambiguity_terms

TERMS = ("ensemble", "member", "ambiguity", "ensemble_abs", "member_abs")


class _Sums:
    def __init__(self) -> None:
        self.sums = dict.fromkeys(TERMS, 0.0)
        self.count = 0

    def update(self, pred, truth) -> None:
        if "members" not in pred:
            return
        members = np.asarray(pred["members"], dtype=np.float64)
        target = np.asarray(truth["target"], dtype=np.float64).reshape(members.shape[:2])
        terms = ambiguity_terms(members, target)
        for name in ("ensemble", "member", "ambiguity"):
            self.sums[name] += float(terms[name].mean(axis=1).sum())
        self.sums["ensemble_abs"] += float(np.abs(members.mean(-1) - target).mean(1).sum())
        self.sums["member_abs"] += float(np.abs(members - target[..., None]).mean((1, 2)).sum())
        self.count += len(members)

    def compute(self) -> dict:
        if not self.count:
            return {}
        return {**{k: v / self.count for k, v in self.sums.items()}, "n": self.count}


class Ambiguity(Report):
    """E, Ē and A columns for the ensemble rows (see the module doc)."""

    name = "ambiguity"

    def collector(self, context: RunContext) -> _Sums:
        return _Sums()

    @staticmethod
    def _mean(row: Row, term: str) -> float | None:
        values = [e["extras"][Ambiguity.name][term] for e in row.ok
                  if e.get("extras", {}).get(Ambiguity.name)]
        return statistics.fmean(values) if values else None

    def header(self, rows: list[Row]) -> list[str]:
        if not any(self._mean(r, "ensemble") is not None for r in rows):
            return []
        return ["ensemble sq. err", "mean member sq. err", "ambiguity"]

    def cells(self, row: Row) -> list[str]:
        values = [self._mean(row, t) for t in ("ensemble", "member", "ambiguity")]
        return ["-" if v is None else f"{v:.3g}" for v in values]

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        if not self.header(rows):
            return []
        return ["Ambiguity decomposition of the head ensembles (test set, squared label units, "
                "mean over seeds): ensemble error = mean member error - ambiguity; for HCI the "
                "members are each head's expected decade while the row predicts the MAP "
                "decade."]
