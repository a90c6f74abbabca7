"""A board section as a ranked table: rows (a method over its seeds), score cells with their
intervals, and the columns the task's reports add. Read by the markdown board, the terminal
table of ``bench run`` and the static site."""

from __future__ import annotations

from typing import Any

from perloc.bench.core.task import TaskSpec
from perloc.bench.report.base import Row, display_name, seed_summary


def ranking_table(board: dict) -> str:
    """Which of an entry's score tables ranks it: the ranking cell's, else the overall."""
    return "headline_scores" if board.get("headline_slice") else "scores"


def board_rows(board: dict[str, Any], key: str) -> list[Row]:
    """The section's rows (entries grouped over seeds), ranked by the mean primary value in
    the ranking cell; rows without one (failed, or N/A there) come last."""
    groups: dict[str, Row] = {}
    for entry in board["sections"][key]["entries"]:
        name = display_name(entry)
        groups.setdefault(name, Row(name)).entries.append(entry)
    for row in groups.values():
        row.entries.sort(key=lambda e: e["seed"])
    primary = _primary(board)
    table = ranking_table(board)

    def order(row: Row) -> tuple:
        values = row.values(primary["name"], table)
        if not values:
            return (1, 0.0)
        mean = sum(values) / len(values)
        return (0, -mean if primary["higher_is_better"] else mean)

    return sorted(groups.values(), key=order)


def _primary(board: dict) -> dict:
    return next(m for m in board["metrics"] if m["name"] == board["primary"])


def _arrow(metric: dict) -> str:
    return "↑" if metric["higher_is_better"] else "↓"


def score_cell(row: Row, metric: str, table: str, with_ci: bool, cell: str = "") -> str:
    """One seed: ``value [ci_low, ci_high]`` (bootstrap); several seeds:
    ``mean ± std sd, ± h [ci_low, ci_high] (n=k)`` with h = t_{0.975, n-1} * std / sqrt(n) the
    half-width of the 95% t-CI of the mean (:class:`~perloc.bench.report.base.SeedSummary`),
    the number to set beside a paper's "± 95% CI over n runs"; ``N/A (x% failed)`` where the
    method has no score (in the ranking ``cell``)."""
    values = row.values(metric, table)
    if not values:
        failure = row.failure(cell or "overall")
        return "N/A" + (f" ({failure:.0%} failed)" if failure else "")
    if len(values) == 1:
        score = row.ok[0][table][metric]
        if with_ci and "ci_low" not in score:
            return f"{score['value']:.2f} (no CI: older record)"
        if with_ci:
            return f"{score['value']:.2f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}]"
        return f"{score['value']:.2f}"
    summary = seed_summary(values)
    if not with_ci:
        return f"{summary.mean:.2f} ± {summary.std:.2f}"
    return (f"{summary.mean:.2f} ± {summary.std:.2f} sd, ± {summary.half_width:.2f} "
            f"[{summary.ci_low:.2f}, {summary.ci_high:.2f}] (n={summary.n})")


def section_rows(board: dict[str, Any], key: str, task: TaskSpec
                 ) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one section, ranked by the primary metric (of the ranking cell)."""
    primary = _primary(board)
    others = [m for m in board["metrics"] if m["name"] != primary["name"]]
    cell, table = board.get("headline_slice"), ranking_table(board)
    section = board["sections"][key]
    rows = board_rows(board, key)
    multi = any(len(r.ok) > 1 for r in rows)
    failures = any(e.get("failed_examples") for e in section["entries"])
    extra_header = [h for report in task.reports for h in report.header(rows)]
    unit = board.get("example_unit", "example")
    header = ["rank", "method", *(["seeds"] if multi else []),
              f"{primary['name']} {_arrow(primary)} "
              + ("(over seeds: mean ± sample sd, ± half-width [bounds] of the 95% t-CI of "
                 "the mean; one seed: value [bootstrap 95% CI])" if multi else "(95% CI)"),
              *[f"{m['name']} {_arrow(m)}" for m in others],
              *([f"{primary['name']} all cells"] if cell else []),
              *(["failed %"] if failures else []), *extra_header,
              "predict s", f"ms/{unit} (batched)", "data", "git"]
    body = []
    for rank, row in enumerate(rows, start=1):
        ranked = bool(row.values(primary["name"], table))
        entry = row.first
        speed = entry["examples_per_s"]
        name = row.name + (f" ({entry['origin']})" if entry.get("origin") else "")
        body.append([rank if ranked else "-", name, *([len(row.ok)] if multi else []),
                     score_cell(row, primary["name"], table, True, cell),
                     *[score_cell(row, m["name"], table, False, cell) for m in others],
                     *([score_cell(row, primary["name"], "scores", False)] if cell else []),
                     *([_failed_percent(row)] if failures else []),
                     *[c for report in task.reports if report.header(rows)
                       for c in report.cells(row)],
                     entry["predict_s"], f"{1000 / speed:.3g}" if speed else "-",
                     section["provenance"], entry["git_sha"]])
    return header, body


def _failed_percent(row: Row) -> str:
    entry = row.first
    n = entry.get("n_examples") or 0
    return f"{100 * entry.get('failed_examples', 0) / n:.1f}" if n else "-"
