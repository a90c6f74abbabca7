"""``bench regress``: re-run the smoke profile and compare with the published leaderboard."""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.core.task import TaskSpec

PROFILE = "smoke"


@dataclass
class Check:
    method: str
    metric: str
    old: float
    new: float
    tolerance: float
    higher_is_better: bool

    @property
    def delta(self) -> float:
        return self.new - self.old

    @property
    def verdict(self) -> str:
        worse = -self.delta if self.higher_is_better else self.delta
        if worse > self.tolerance:
            return "WORSE"
        return "better" if -worse > self.tolerance else "ok"


def smoke_entries(board: dict, task: TaskSpec) -> list[dict]:
    sections = [s for s in board["sections"].values() if s["profile"] == PROFILE]
    if not sections:
        raise UserError(f"leaderboards/{task.name}.json: no {PROFILE} section to regress against "
                        f"(publish one with `bench run {task.name} --profile smoke --publish`)")
    return [e for s in sections for e in s["entries"]
            if e["status"] == "ok" and not e.get("origin")]  # external rows: nothing to re-run


def compare(task: TaskSpec, entries: list[dict], records: list[RunRecord]) -> list[Check]:
    checks = []
    for entry, record in zip(entries, records, strict=True):
        for metric, tolerance in task.tolerances.items():
            if metric not in entry["scores"]:
                continue
            new = record.scores[metric].value if record.status == "ok" else float("nan")
            checks.append(Check(entry["method"], metric, entry["scores"][metric]["value"], new,
                                tolerance, task.metric(metric).higher_is_better))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.verdict == "WORSE" or c.new != c.new for c in checks)


def table(checks: list[Check]) -> str:
    rows = [[c.method, c.metric, f"{c.old:.3f}", f"{c.new:.3f}", f"{c.delta:+.3f}",
             f"±{c.tolerance:g}", c.verdict] for c in checks]
    return tabulate(rows, headers=["method", "metric", "published", "now", "delta", "tolerance",
                                   "verdict"], tablefmt="simple")
