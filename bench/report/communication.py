"""Communication of federated rows: total bytes, the gain over the FP32 reference at equal
accuracy (:func:`perloc.metrics.communication.communication_gain`, per seed, then averaged) and
test accuracy against cumulative bytes (Paper IV Figure 4's layout).

Reads the series every federated record carries: ``val_accuracy`` (server test accuracy after
each round) and ``bytes_total`` (cumulative bytes, both directions).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from perloc.bench.report.base import Report, Row, section_slug, section_title
from perloc.metrics.communication import communication_gain


def _curve(entry: dict) -> tuple[list[float], list[float]] | None:
    series = entry.get("series") or {}
    acc, sent = series.get("val_accuracy"), series.get("bytes_total")
    return (list(acc), list(sent)) if acc and sent else None


class CommunicationGain(Report):
    """``MB sent`` and ``gain vs REFERENCE`` columns, and the accuracy-vs-bytes figure."""

    name = "communication"

    def __init__(self, reference: str = "fedavg") -> None:
        self.reference = reference
        self._reference: dict[int, tuple[list[float], list[float]]] = {}

    def header(self, rows: list[Row]) -> list[str]:
        ref = next((r for r in rows if r.name == self.reference), None)
        self._reference = {e["seed"]: c for e in (ref.ok if ref else [])
                           if (c := _curve(e)) is not None}
        if not any(_curve(e) for r in rows for e in r.ok):
            return []
        return ["MB sent", f"gain vs {self.reference}"]

    def cells(self, row: Row) -> list[str]:
        curves = {e["seed"]: c for e in row.ok if (c := _curve(e)) is not None}
        if not curves:
            return ["", ""]
        sent = statistics.fmean(c[1][-1] for c in curves.values()) / 1e6
        gains = [communication_gain(self._reference[s], c) for s, c in curves.items()
                 if s in self._reference]
        gain = f"{statistics.fmean(gains):.2f}x" if gains else "n/a"
        return [f"{sent:.2f}", gain]

    def _png(self, board: dict, section: dict) -> str:
        return section_slug(board, section, "bytes") + ".png"

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        if not any(_curve(r.first) for r in rows):
            return []
        return [f"Gain: bytes {self.reference} needs to first reach τ over the bytes the row "
                "needs, τ = the lower of the two runs' best test accuracies, per seed, "
                "averaged over seeds (Paper IV's definition). Test accuracy against bytes "
                f"communicated (first seed of each row): ![bytes]({self._png(board, section)})"]

    def publish(self, board: dict, section: dict, rows: list[Row], folder: Path) -> list[str]:
        from perloc.bench.report.plots import plot_curves

        curves = {r.name: ([b / 1e6 for b in c[1]], c[0]) for r in rows
                  if (c := _curve(r.first)) is not None}
        if not curves:
            return []
        name = self._png(board, section)
        plot_curves(curves, folder / name, f"{board['task']}: test accuracy vs bytes "
                    f"({section_title(section)})", "test accuracy %",
                    xlabel="MB communicated (uplink + downlink, cumulative)", log_x=True)
        return [name]
