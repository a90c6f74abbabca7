"""Leaderboards: ``leaderboards/<task>.json`` (numbers + provenance) and the rendered ``.md``.

Rendered only from run records. Sections are keyed by profile and provenance, so numbers of
different profiles or data provenances never share a table; the papers' reported numbers
come in a separate table labelled as reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.core.task import TaskSpec
from perloc.bench.store import write_atomic

BOARD_VERSION = 1


def section_key(profile: str, provenance: str) -> str:
    return f"{profile}/{provenance}"


def _kept_slice(name: str, pivots: list[list[str]]) -> bool:
    """Single-column slices, and two-column cells of the task's pivot pairs."""
    columns = {part.partition("=")[0] for part in name.split("|")}
    return len(columns) == 1 or any(columns == set(pivot) for pivot in pivots)


def _entry(record: RunRecord, task: TaskSpec) -> dict[str, Any]:
    pivots = [list(p) for p in task.pivots]
    headline = record.slices.get(task.headline_slice, {}) if task.headline_slice else {}
    return {
        "method": record.method, "params": record.params, "overrides": record.overrides,
        "seed": record.seed, "where": record.where, "status": record.status,
        "scores": {k: vars(v) for k, v in record.scores.items()},
        "slices": {name: {k: round(v.value, 4) for k, v in table.items()}
                   for name, table in record.slices.items() if _kept_slice(name, pivots)},
        "headline_scores": {k: vars(v) for k, v in headline.items()},
        "quantiles": record.quantiles,
        "confusion": record.confusion,
        "efficiency": record.efficiency,
        "failed_examples": record.failed_examples,
        "fit_s": round(record.durations.get("fit_s", 0.0), 3),
        "predict_s": round(record.durations.get("predict_s", 0.0), 3),
        "examples_per_s": round(record.throughput.get("examples_per_s", 0.0), 1),
        "n_examples": record.n_examples, "git_sha": record.git_sha, "record_key": record.key,
    }


def portable_dataset(dataset: dict[str, Any]) -> dict[str, Any]:
    """The dataset description without this machine's absolute paths (root -> folder name)."""
    provenance = dict(dataset.get("provenance", {}))
    if provenance.get("root"):
        provenance["root"] = Path(provenance["root"]).name
    return dict(dataset, provenance=provenance)


def board_path(folder: Path, task: str, suffix: str = ".json") -> Path:
    return folder / f"{task}{suffix}"


def load_board(folder: Path, task: TaskSpec) -> dict[str, Any]:
    path = board_path(folder, task.name)
    if not path.exists():
        return {"task": task.name, "version": BOARD_VERSION, "sections": {}}
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(board, dict) or "sections" not in board:
        raise UserError(f"{path}: not a perloc leaderboard (no 'sections')")
    return board


def update_board(board: dict[str, Any], task: TaskSpec, records: list[RunRecord]) -> dict[str, Any]:
    """Put ``records`` into their sections; entries on another dataset version are dropped."""
    board = dict(board, task=task.name, version=BOARD_VERSION, primary=task.primary,
                 description=task.description, tolerances=task.tolerances)
    board["metrics"] = [{"name": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better,
                         "description": m.description} for m in task.metrics]
    board["reported"] = [vars(r) for r in task.reported]
    board["headline"] = list(task.headline_metrics)
    board["headline_slice"] = task.headline_slice
    board["pivots"] = [list(p) for p in task.pivots]
    board["error_cdf"] = task.error_cdf
    sections = dict(board.get("sections", {}))
    for record in records:
        key = section_key(record.profile, record.dataset["provenance"]["kind"])
        section = sections.get(key)
        if section is None or section["dataset"].get("version") != record.dataset.get("version"):
            section = {"profile": record.profile, "provenance": record.dataset["provenance"]["kind"],
                       "dataset": portable_dataset(record.dataset), "entries": []}
        entries = [e for e in section["entries"] if _identity(e) != _identity(vars(record))]
        section = dict(section, entries=[*entries, _entry(record, task)],
                       profile_description=task.profile(record.profile).description)
        sections[key] = section
    board["sections"] = dict(sorted(sections.items()))
    return board


def _identity(entry: dict) -> tuple:
    """An entry is one (method, overrides, seed): ``-p`` variants get rows of their own."""
    return entry["method"], json.dumps(entry.get("overrides") or {}, sort_keys=True), entry["seed"]


def display_name(entry: dict) -> str:
    """``kwt-1`` or, for a ``-p`` variant, ``kwt-1 [precision=fp32]``."""
    overrides = entry.get("overrides") or {}
    if not overrides:
        return entry["method"]
    return f"{entry['method']} [{', '.join(f'{k}={v}' for k, v in sorted(overrides.items()))}]"


def _efficiency_cells(entry: dict) -> list[str]:
    eff = entry.get("efficiency") or {}
    if not eff:
        return ["-", "-", "-"]
    return [f"{eff['params']:,}", f"{eff['macs'] / 1e6:.1f}M", f"{eff['latency_ms']:.2f}"]


def _scores(entry: dict, board: dict) -> dict:
    """The scores that rank an entry: its headline cell when the task names one."""
    if board.get("headline_slice") and entry.get("headline_scores"):
        return entry["headline_scores"]
    return entry["scores"]


def _ranked(entries: list[dict], primary: str, higher_is_better: bool,
            board: dict | None = None) -> list[dict]:
    board = board or {}
    ok = [e for e in entries if e["status"] == "ok"]
    ok.sort(key=lambda e: _scores(e, board)[primary]["value"], reverse=higher_is_better)
    return ok + [e for e in entries if e["status"] != "ok"]


def _cell(score: dict | None, with_ci: bool) -> str:
    if score is None:
        return "-"
    if not with_ci:
        return f"{score['value']:.2f}"
    return f"{score['value']:.2f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}]"


def section_rows(board: dict[str, Any], key: str) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one section, ranked by the primary metric (of the headline cell)."""
    metrics = board["metrics"]
    primary = next(m for m in metrics if m["name"] == board["primary"])
    others = [m for m in metrics if m["name"] != primary["name"]]
    arrow = "↑" if primary["higher_is_better"] else "↓"
    cell = board.get("headline_slice")
    section = board["sections"][key]
    failures = any(e.get("failed_examples") for e in section["entries"])
    efficiency = _efficiency_header(section["entries"])
    header = ["rank", "method", f"{primary['name']} {arrow} (95% CI)",
              *[f"{m['name']} {'↑' if m['higher_is_better'] else '↓'}" for m in others],
              *([f"{primary['name']} all cells"] if cell else []),
              *(["failed"] if failures else []), *efficiency,
              "predict s", "ms/frame", "data", "git"]
    rows = []
    for rank, entry in enumerate(_ranked(section["entries"], primary["name"],
                                         primary["higher_is_better"], board), start=1):
        scores = _scores(entry, board)
        speed = entry["examples_per_s"]
        rows.append([rank if entry["status"] == "ok" else "-", display_name(entry),
                     _cell(scores.get(primary["name"]), True),
                     *[_cell(scores.get(m["name"]), False) for m in others],
                     *([_cell(entry["scores"].get(primary["name"]), False)] if cell else []),
                     *([entry.get("failed_examples", 0)] if failures else []),
                     *(_efficiency_cells(entry) if efficiency else []),
                     entry["predict_s"], f"{1000 / speed:.3g}" if speed else "-",
                     section["provenance"], entry["git_sha"]])
    return header, rows


def _efficiency_header(entries: list[dict]) -> list[str]:
    measured = [e["efficiency"] for e in entries if e.get("efficiency")]
    if not measured:
        return []
    threads = measured[0].get("latency_threads", 1)
    return ["params", "MACs/example", f"latency ms (batch 1, {threads} thread)"]


def pivot_tables(board: dict[str, Any], key: str) -> list[str]:
    """Per pivot (row, column): rows (row value, method), columns the column's values."""
    section = board["sections"][key]
    primary = next(m for m in board["metrics"] if m["name"] == board["primary"])
    entries = [e for e in _ranked(section["entries"], primary["name"], primary["higher_is_better"],
                                  board) if e["status"] == "ok"]
    tables = []
    for row_col, col_col in board.get("pivots", []):
        cells: dict[tuple[str, str], dict[str, float]] = {}
        for entry in entries:
            for name, scores in entry.get("slices", {}).items():
                parts = dict(p.split("=", 1) for p in name.split("|"))
                if set(parts) == {row_col, col_col} and len(parts) == 2:
                    cells[(parts[row_col], display_name(entry), parts[col_col])] = scores
        if not cells:
            continue
        row_values = sorted({k[0] for k in cells}, key=_value_order)
        col_values = sorted({k[2] for k in cells}, key=_value_order)
        rows = [[rv, display_name(e), *[_pivot_cell(cells.get((rv, display_name(e), cv)), board)
                                     for cv in col_values]]
                for rv in row_values for e in entries if any(k[:2] == (rv, display_name(e))
                                                            for k in cells)]
        tables.append(f"By {row_col} and {col_col} ({' / '.join(board['headline'])}):\n\n"
                      + tabulate(rows, headers=[row_col, "method",
                                                *[f"{col_col}={v}" for v in col_values]],
                                 tablefmt="github"))
    return tables


def _pivot_cell(scores: dict[str, float] | None, board: dict[str, Any]) -> str:
    if not scores:
        return "-"
    return " / ".join(f"{scores[m]:.2f}" if m in scores else "-" for m in board["headline"])


def _value_order(value: str) -> tuple:
    """Numbers in numeric order, then names in alphabetical order."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def condition_tables(board: dict[str, Any], key: str) -> list[str]:
    """One table per condition column: methods x values, cells are the headline metrics."""
    section = board["sections"][key]
    primary = next(m for m in board["metrics"] if m["name"] == board["primary"])
    entries = [e for e in _ranked(section["entries"], primary["name"], primary["higher_is_better"])
               if e["status"] == "ok" and e.get("slices")]
    if not entries:
        return []
    headline = board.get("headline") or [board["primary"]]
    columns: dict[str, set[str]] = {}
    for name in (n for e in entries for n in e["slices"] if "|" not in n):
        column, _, value = name.partition("=")
        columns.setdefault(column, set()).add(value)
    tables = []
    for column, values in columns.items():
        values = sorted(values, key=_value_order)
        rows = [[display_name(e), *[_pivot_cell(e["slices"].get(f"{column}={v}"), board)
                                for v in values]] for e in entries]
        tables.append(f"By {column} ({' / '.join(headline)}):\n\n"
                      + tabulate(rows, headers=["method", *[f"{column}={v}" for v in values]],
                                 tablefmt="github"))
    return tables


def _reported_table(board: dict[str, Any]) -> str:
    names = [m["name"] for m in board["metrics"]]
    names += sorted({k for r in board["reported"] for k in r["scores"]} - set(names))
    used = [n for n in names if any(n in r["scores"] for r in board["reported"])]
    notes = any(r.get("note") for r in board["reported"])
    rows = [[r["source"], r["method"], r["condition"], *[r["scores"].get(n, "-") for n in used],
             *([r.get("note", "")] if notes else [])] for r in board["reported"]]
    return tabulate(rows, headers=["source", "method", "condition", *used,
                                   *(["note"] if notes else [])], tablefmt="github")


def _test_units(dataset: dict[str, Any]) -> str:
    if "n_utterances" in dataset:
        return f"{dataset['n_utterances']} test utterances"
    if "n_clips" in dataset:
        return f"{dataset['n_clips']} test clips, {dataset.get('classes')} classes"
    if "n_frames" in dataset:
        return f"{dataset['n_frames']} test frames of {', '.join(dataset.get('test', []))}"
    return "size not recorded"


def render_markdown(board: dict[str, Any]) -> str:
    lines = [f"# Leaderboard: {board['task']}", "", board.get("description", ""), "",
             "Rendered by `bench leaderboard` from run records; do not edit by hand. "
             "Numbers from different profiles or data provenances are never ranked together.", ""]
    for key, section in board["sections"].items():
        dataset = section["dataset"]
        lines += [f"## {section['profile']} profile, {section['provenance']} data", "",
                  *([f"Profile: {section['profile_description']}.", ""]
                    if section.get("profile_description") else []),
                  f"Dataset `{dataset.get('name')}` version `{dataset.get('version')}` "
                  f"({dataset.get('provenance', {}).get('generator') or 'real recordings'}, "
                  f"{_test_units(dataset)}); "
                  f"{section['entries'][0]['n_examples'] if section['entries'] else 0} examples.", ""]
        header, rows = section_rows(board, key)
        lines += [tabulate(rows, headers=header, tablefmt="github"), ""]
        if board.get("headline_slice"):
            lines[-2:-2] = [f"Ranked on the cell `{board['headline_slice']}`; "
                            "'all cells' pools every condition the method accepts.", ""]
        for table in [*pivot_tables(board, key), *condition_tables(board, key)]:
            lines += [table, ""]
        if any(e.get("confusion") for e in section["entries"]):
            lines += [f"Confusion matrices: ![confusion]({confusion_png(board['task'], section)})",
                      ""]
        if board.get("error_cdf"):
            png = f"{board['task']}-cdf-{section['profile']}-{section['provenance']}.png"
            lines += [f"Cumulative error distribution in the ranking cell: ![error CDF]({png})", ""]
    if board.get("reported"):
        lines += ["## Reported in the papers (not reproduced here)", "",
                  "Published numbers, copied from the papers and the authors' logs for "
                  "comparison; they come from the papers' real data, not from the data above.",
                  "",
                  _reported_table(board), ""]
    return "\n".join(lines)


def publish(folder: Path, task: TaskSpec, records: list[RunRecord]) -> dict[str, Any]:
    """Update ``<task>.json`` with ``records`` and re-render ``<task>.md`` (both atomic)."""
    board = update_board(load_board(folder, task), task, records)
    write_atomic(board_path(folder, task.name), json.dumps(board, indent=1, sort_keys=False) + "\n")
    write_atomic(board_path(folder, task.name, ".md"), render_markdown(board))
    if task.error_cdf:
        _publish_cdf(folder, task, board)
    if task.confusion:
        _publish_confusion(folder, task, board)
    return board


def _publish_cdf(folder: Path, task: TaskSpec, board: dict[str, Any]) -> None:
    """``<task>-cdf-<profile>.png``: each method's error CDF in the headline cell."""
    from perloc.bench.plots import plot_error_cdf

    cell = task.headline_slice or "overall"
    for section in board["sections"].values():
        curves = {display_name(e): e["quantiles"][cell] for e in section["entries"]
                  if cell in e.get("quantiles", {})}
        if curves:
            name = f"{task.name}-cdf-{section['profile']}-{section['provenance']}.png"
            plot_error_cdf(curves, folder / name, f"{task.name}: {task.primary} CDF at {cell} "
                           f"({section['profile']}, {section['provenance']})")


def confusion_png(task: str, section: dict) -> str:
    return f"{task}-confusion-{section['profile']}-{section['provenance']}.png"


def _publish_confusion(folder: Path, task: TaskSpec, board: dict[str, Any]) -> None:
    """``<task>-confusion-<profile>-<provenance>.png``: every entry's confusion matrix."""
    from perloc.bench.plots import plot_confusions

    for section in board["sections"].values():
        matrices = {display_name(e): e["confusion"] for e in section["entries"]
                    if e.get("confusion")}
        if matrices:
            plot_confusions(matrices, folder / confusion_png(task.name, section),
                            f"{task.name}: confusion ({section['profile']}, "
                            f"{section['provenance']}; rows true, row-normalised)")
