"""The report plug-in interface, and the leaderboard rows reports render.

A report may

* collect data during a run: ``collector(context)`` returns an object with
  ``update(pred, truth)`` (per batch) and ``compute() -> dict`` (JSON, stored in the
  record's ``extras[report.name]``), torchmetrics-style; ``measure(method)`` runs once after
  prediction (e.g. parameter counts and latency) and is merged into the same extras;
* add columns to the ranking table (``header`` / ``cells``);
* render markdown blocks under the table (``markdown``) and figures next to the board
  (``publish``), and figures for the record's MLflow run (``artifacts``).

Every hook has a no-op default, so a report implements only what it shows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats as scipy_stats


def section_slug(board: dict, section: dict, kind: str) -> str:
    """File-name stem of a section's ``kind`` of figure: ``task-kind-profile-provenance``, then
    ``-condition`` for a training condition's section."""
    parts = [board["task"], kind, section["profile"], section["provenance"]]
    if section.get("condition"):
        parts.append(section["condition"].replace("=", "-"))
    return "-".join(parts)


def section_title(section: dict) -> str:
    """How figures and headings name a section: ``profile, provenance[, condition]``."""
    parts = [section["profile"], section["provenance"]]
    return ", ".join([*parts, section["condition"]] if section.get("condition") else parts)


@dataclass(frozen=True)
class RunContext:
    """What a collector may look at: the task, the test dataset and the method."""

    task: Any
    dataset: Any
    method: Any


class Report:
    """Base report: every hook does nothing."""

    name = "report"
    timing = False  # True: extras are wall-clock measurements (not compared between runs)

    def collector(self, context: RunContext) -> Any:
        return None

    def measure(self, method: Any) -> dict:
        return {}

    def header(self, rows: list[Row]) -> list[str]:
        return []

    def cells(self, row: Row) -> list[str]:
        return []

    def markdown(self, board: dict, section: dict, rows: list[Row]) -> list[str]:
        return []

    def publish(self, board: dict, section: dict, rows: list[Row], folder: Path) -> list[str]:
        return []

    def artifacts(self, record: Any, folder: Path) -> list[Path]:
        return []


def display_name(entry: dict) -> str:
    """``kwt-1`` or, for a ``-p`` variant, ``kwt-1 [precision=fp32]``."""
    overrides = entry.get("overrides") or {}
    if not overrides:
        return entry["method"]
    return f"{entry['method']} [{', '.join(f'{k}={v}' for k, v in sorted(overrides.items()))}]"


@dataclass
class Row:
    """One leaderboard row: a method (with its ``-p`` overrides) over one or more seeds."""

    name: str
    entries: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> list[dict]:
        return [e for e in self.entries if e["status"] == "ok"]

    @property
    def seeds(self) -> list[int]:
        return sorted(e["seed"] for e in self.ok)

    @property
    def first(self) -> dict:
        return (self.ok or self.entries)[0]

    def values(self, metric: str, table: str = "scores") -> list[float]:
        """The metric's value in each seed's ``table`` (``scores``, ``headline_scores``)."""
        out = []
        for entry in self.ok:
            score = (entry.get(table) or {}).get(metric)
            if score is not None:
                out.append(score["value"] if isinstance(score, dict) else score)
        return out

    def slice_value(self, name: str, metric: str) -> float | None:
        """Mean over seeds of a slice's value (None when no seed has it); ``name``'s parts
        may come in any order (``mics=5|setup=1_a`` is ``setup=1_a|mics=5``)."""
        values = [table[metric] for e in self.ok
                  if metric in (table := find_slice(e.get("slices") or {}, name) or {})]
        return statistics.fmean(values) if values else None

    def failure(self, name: str) -> float | None:
        """The failure rate of a slice in the first seed (None: no failed estimate)."""
        return find_slice(self.first.get("failures") or {}, name)


def find_slice(tables: dict[str, Any], name: str) -> Any:
    """``tables[name]`` with the parts of ``name`` matched in any order."""
    if name in tables:
        return tables[name]
    wanted = frozenset(name.split("|"))
    for key, value in tables.items():
        if frozenset(key.split("|")) == wanted:
            return value
    return None


@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample std and t-based 95% CI of the mean over n seeds.

    mean = (1/n) sum x_s;  std = sqrt(sum (x_s - mean)^2 / (n - 1));
    half_width = t_{0.975, n-1} * std / sqrt(n)  (scipy.stats.t.ppf);
    CI = mean -+ half_width. Paper III's "mean ± x" over 3 runs is this half-width (a 95% CI),
    not the std: e.g. 90, 92, 94 give std 2 and half-width 4.303 * 2 / sqrt(3) = 4.968.
    """

    mean: float
    std: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def seed_summary(values: list[float]) -> SeedSummary:
    """>>> s = seed_summary([1.0, 2.0, 3.0]); (s.mean, s.std, round(s.ci_high, 4))
    (2.0, 1.0, 4.4841)
    """
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return SeedSummary(mean, float("nan"), float("nan"), float("nan"), n)
    std = statistics.stdev(values)
    half = float(scipy_stats.t.ppf(0.975, n - 1)) * std / n ** 0.5
    return SeedSummary(mean, std, mean - half, mean + half, n)
