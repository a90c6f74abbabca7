"""Leaderboards: ``leaderboards/<task>.json`` (numbers + provenance) and the rendered ``.md``.

Rendered only from run records. Sections are keyed by profile, provenance and device, so
numbers of different profiles, data provenances or devices never share a table; the papers' reported numbers
come in a separate table labelled as reported. A row is a method (with its ``-p``
overrides) over every seed it ran: one seed shows its bootstrap CI, several seeds show
mean ± sample std and the t-based 95% CI of the mean. Everything task-specific (confusion
matrices, CDFs, efficiency columns, per-condition tables) comes from the task's reports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord, legacy_extras
from perloc.bench.core.task import TaskSpec
from perloc.bench.report.base import Row
from perloc.bench.report.board_table import board_rows, section_rows
from perloc.bench.run.scoring import SCORING_VERSION
from perloc.bench.store.record_files import write_atomic
from perloc.bench.store.workspace import nearest_existing

BOARD_VERSION = 2


def section_key(profile: str, provenance: str, condition: str = "", where: str = "cpu") -> str:
    """A section: one profile, provenance, training condition and device (``where``: a
    :func:`perloc.bench.core.device.label`), so numbers from different devices or
    precisions are never ranked as one. CPU fp32 sections keep their old keys."""
    return (f"{profile}/{provenance}" + (f"/{condition}" if condition else "")
            + ("" if where == "cpu" else f" @ {where}"))


def training_condition(record: RunRecord, task: TaskSpec) -> str:
    """``name=value`` of the record's training conditions (tasks that train one model per
    condition, e.g. a federated setup, publish one section per value); "" for other tasks."""
    where = record.where or {}
    return ",".join(f"{name}={'|'.join(map(str, where.get(name, ())))}"
                    for name in task.training_conditions)


def _kept_slice(name: str, task: TaskSpec) -> bool:
    """Single-column slices, and the two-column cells a report keeps (pivots)."""
    return "|" not in name or any(getattr(r, "keeps", lambda _: False)(name)
                                  for r in task.reports)


def _entry(record: RunRecord, task: TaskSpec) -> dict[str, Any]:
    headline = record.slices.get(task.headline_slice, {}) if task.headline_slice else {}
    return {
        "method": record.method, "params": record.params, "overrides": record.overrides,
        "seed": record.seed, "where": record.where, "status": record.status,
        "scores": {k: vars(v) for k, v in record.scores.items()},
        "slices": {name: {k: round(v.value, 4) for k, v in table.items()}
                   for name, table in record.slices.items() if _kept_slice(name, task)},
        "headline_scores": {k: vars(v) for k, v in headline.items()},
        "failures": {k: v for k, v in record.failures.items() if _kept_slice(k, task)
                     or k in ("overall", task.headline_slice)},
        "excluded_cells": record.excluded_cells,
        "extras": record.extras,
        "failed_examples": record.failed_examples,
        "fit_s": round(record.durations.get("fit_s", 0.0), 3),
        "predict_s": round(record.durations.get("predict_s", 0.0), 3),
        "examples_per_s": round(record.throughput.get("examples_per_s", 0.0), 1),
        "n_examples": record.n_examples, "git_sha": record.git_sha, "record_key": record.key,
        **({"series": {k: [round(float(v), 5) for v in values]
                       for k, values in record.series.items()}} if record.series else {}),
        **({"origin": record.origin} if record.origin != "harness" else {}),
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
        board = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a perloc leaderboard (not UTF-8 text)") from None
    except (OSError, RecursionError) as exc:
        raise UserError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    _check_shape(path, board)
    return upgrade_board(board)


def _check_shape(path: Path, board: Any) -> None:
    """The fields the harness reads, with their types: one error line naming the first that
    is missing or of the wrong kind."""
    if not isinstance(board, dict) or not isinstance(board.get("sections"), dict):
        raise UserError(f"{path}: not a perloc leaderboard (no 'sections' object)")
    for key, section in board["sections"].items():
        where = f"{path}: section {key!r}"
        if not isinstance(section, dict) or not isinstance(section.get("entries"), list):
            raise UserError(f"{where}: no 'entries' list")
        if not isinstance(section.get("profile"), str):
            raise UserError(f"{where}: no 'profile' name")
        for i, entry in enumerate(section["entries"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("method"), str) \
                    or not isinstance(entry.get("scores"), dict):
                raise UserError(f"{where}: entry {i} lacks 'method' or 'scores'")
            if not all(isinstance(v, dict) and isinstance(v.get("value"), int | float)
                       for v in entry["scores"].values()):
                raise UserError(f"{where}: entry {i} ({entry['method']}): a score without "
                                "a numeric 'value'")


def upgrade_board(board: dict[str, Any]) -> dict[str, Any]:
    """A version-1 board in the version-2 layout (report fields under ``extras``)."""
    if board.get("version", 1) >= BOARD_VERSION:
        return board
    for section in board["sections"].values():
        section.setdefault("scoring_version", 1)
        section.setdefault("resampling_unit", "example")
        for entry in section["entries"]:
            entry["extras"] = {**entry.get("extras", {}), **legacy_extras(entry)}
            entry.setdefault("failures", {})
            entry.setdefault("excluded_cells", [])
    return dict(board, version=BOARD_VERSION)


def _board_header(board: dict[str, Any], task: TaskSpec) -> dict[str, Any]:
    return dict(board, task=task.name, version=BOARD_VERSION, primary=task.primary,
                description=task.description, tolerances=task.tolerances,
                metrics=[{"name": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better,
                          "description": m.description} for m in task.metrics],
                reported=[vars(r) for r in task.reported], headline=list(task.headline_metrics),
                headline_slice=task.headline_slice, example_unit=task.example_unit)


def _fill_headline(board: dict[str, Any]) -> None:
    """Entries recorded before the task ranked on its headline cell get that cell's point
    values (kept in ``slices``) as ``headline_scores``, without CIs (those need the examples)."""
    cell = board.get("headline_slice")
    for section in board.get("sections", {}).values():
        for entry in section["entries"]:
            if cell and not entry.get("headline_scores") and cell in entry.get("slices", {}):
                entry["headline_scores"] = {k: {"value": v}
                                            for k, v in entry["slices"][cell].items()}


def update_board(board: dict[str, Any], task: TaskSpec, records: list[RunRecord]) -> dict[str, Any]:
    """Put ``records`` into their sections; entries on another dataset version or scored by
    another scoring version are dropped."""
    board = _board_header(board, task)
    _fill_headline(board)
    sections = dict(board.get("sections", {}))
    for record in records:
        condition = training_condition(record, task)
        where = device.label(record.device)
        key = section_key(record.profile, record.dataset["provenance"]["kind"], condition, where)
        section = sections.get(key)
        if (section is None or not _same_data(section["dataset"], record.dataset)
                or section.get("scoring_version") != SCORING_VERSION):
            section = {"profile": record.profile, "provenance": record.dataset["provenance"]["kind"],
                       "dataset": portable_dataset(record.dataset), "entries": [],
                       "scoring_version": SCORING_VERSION,
                       **({"condition": condition} if condition else {}),
                       **({"device": where} if where != "cpu" else {})}
        entries = [e for e in section["entries"] if _identity(e) != _identity(vars(record))]
        section = dict(section, entries=[*entries, _entry(record, task)],
                       resampling_unit=record.resampling_unit, interval=task.interval,
                       resampling_note=task.resampling_note,
                       profile_description=task.profile(record.profile).description)
        sections[key] = section
    board["sections"] = dict(sorted(sections.items()))
    return board


def _same_data(section: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether a record is on a section's dataset. A dataset whose test draw depends on the
    seed names its seed-independent ``base_version``, so the seeds of one run share a section;
    a section published before base versions existed matches on the exact version (and learns
    the base version from the first record that matches)."""
    if "base_version" in section:
        return section["base_version"] == record.get("base_version", record.get("version"))
    if section.get("version") != record.get("version"):
        return False
    if "base_version" in record:
        section["base_version"] = record["base_version"]
    return True


def _identity(entry: dict) -> tuple:
    """An entry is one (method, overrides, seed): ``-p`` variants get rows of their own."""
    return entry["method"], json.dumps(entry.get("overrides") or {}, sort_keys=True), entry["seed"]


REPORTED_TITLE = "Reported in the papers (not reproduced here)"
REPORTED_NOTE = ("Published numbers, copied from the papers and the authors' logs for "
                 "comparison; they come from the papers' real data, not from the data above.")


def reported_rows(board: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the papers' reported numbers: source, method, condition, each
    metric some row reports (the board's own first), and a note column when any has one."""
    names = [m["name"] for m in board["metrics"]]
    names += sorted({k for r in board["reported"] for k in r["scores"]} - set(names))
    used = [n for n in names if any(n in r["scores"] for r in board["reported"])]
    notes = any(r.get("note") for r in board["reported"])
    rows = [[r["source"], r["method"], r["condition"], *[r["scores"].get(n, "-") for n in used],
             *([r.get("note", "")] if notes else [])] for r in board["reported"]]
    return ["source", "method", "condition", *used, *(["note"] if notes else [])], rows


def _test_size(dataset: dict[str, Any]) -> str:
    """``n_<thing>`` fields of the dataset description, e.g. ``24 utterances``."""
    sizes = [f"{v} {k[2:].replace('_', ' ')}" for k, v in dataset.items()
             if k.startswith("n_") and isinstance(v, int)]
    return ", ".join(sizes) or "size not recorded"


SEEDS_NOTE = ("Rows over several seeds: `± sd` is the sample standard deviation of the seeds' "
              "scores; `± h [low, high]` is the 95% t-interval of their mean, h = "
              "t(0.975, n-1) · sd / √n: the same kind of interval as a paper's \"± 95% CI over "
              "n runs\", so h is the number to set beside it (the bootstrap CI of one seed "
              "resamples test examples and is not).")


def section_notes(board: dict, section: dict, rows: list[Row]) -> list[str]:
    """The paragraphs (markdown) under a section's table: the ranking cell, how the CIs were
    made, the seeds' interval, and cells a row is N/A in."""
    lines = []
    if board.get("headline_slice"):
        lines.append(f"Ranked on the cell `{board['headline_slice']}`; 'all cells' pools every "
                     "condition the method accepts.")
    unit = section.get("resampling_unit", "example")
    note = section.get("resampling_note") or ""
    units = unit if unit != "example" else "examples"
    reason = f" ({note})." if note and unit != "example" else "."
    if section.get("interval") == "jackknife":
        lines.append(f"95 % CIs are jackknife intervals leaving one {unit} out at a time "
                     "(bias-corrected estimate ± t · standard error; the value shown is the "
                     f"plain score){reason}")
    else:
        lines.append(f"Bootstrap CIs resample {units}{reason}")
    if any(len(row.ok) > 1 for row in rows):
        lines.append(SEEDS_NOTE)
    for row in rows:
        cells = sorted({c for e in row.ok for c in e.get("excluded_cells", [])})
        if cells:
            lines.append(f"{row.name}: N/A in {', '.join(f'`{c}`' for c in cells)} (every "
                         "estimate failed); those cells are left out of its pooled scores "
                         "('all cells', overall and per-condition tables).")
    return lines


def section_heading(section: dict[str, Any]) -> str:
    """``default profile, synthetic data`` (and ``: condition`` for a training condition,
    ``, on DEVICE`` for a section not run on the CPU in fp32)."""
    heading = f"{section['profile']} profile, {section['provenance']} data"
    heading += f": {section['condition']}" if section.get("condition") else ""
    return heading + (f", on {section['device']}" if section.get("device") else "")


def section_intro(board: dict[str, Any], section: dict[str, Any]) -> list[str]:
    """The paragraphs (markdown) above a section's table: the profile and the dataset."""
    dataset = section["dataset"]
    return [*([f"Profile: {section['profile_description']}."]
              if section.get("profile_description") else []),
            f"Dataset `{dataset.get('name')}` version `{dataset.get('version')}` "
            f"({dataset.get('provenance', {}).get('generator') or 'real recordings'}, "
            f"{_test_size(dataset)}); "
            f"{section['entries'][0]['n_examples'] if section['entries'] else 0} test "
            f"{board.get('example_unit', 'example')}s per seed. Run on "
            + (section["device"] if section.get("device") else "the CPU") + "."]


BOARD_NOTE = ("Numbers from different profiles, data provenances or devices are never ranked "
              "together.")


def render_markdown(board: dict[str, Any], task: TaskSpec) -> str:
    lines = [f"# Leaderboard: {board['task']}", "", board.get("description", ""), "",
             f"Rendered by `bench leaderboard` from run records; do not edit by hand. {BOARD_NOTE}",
             ""]
    for key, section in board["sections"].items():
        rows = board_rows(board, key)
        lines += [f"## {section_heading(section)}", ""]
        lines += [line for text in section_intro(board, section) for line in (text, "")]
        header, body = section_rows(board, key, task)
        lines += [tabulate(body, headers=header, tablefmt="github", disable_numparse=True), ""]
        lines += [line for text in section_notes(board, section, rows) for line in (text, "")]
        for report in task.reports:
            for block in report.markdown(board, section, rows):
                lines += [block, ""]
    if board.get("reported"):
        header, body = reported_rows(board)
        lines += [f"## {REPORTED_TITLE}", "", REPORTED_NOTE, "",
                  tabulate(body, headers=header, tablefmt="github"), ""]
    return "\n".join(lines)


def check_publishable(folder: Path, task: TaskSpec) -> None:
    """Before any work: the board (if any) reads, and its folder can be written."""
    load_board(folder, task)
    path = board_path(folder, task.name)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{path}: not writable")
    probe = nearest_existing(folder)
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UserError(f"leaderboards folder {folder}: not writable")


def publish(folder: Path, task: TaskSpec, records: list[RunRecord]) -> dict[str, Any]:
    """Update ``<task>.json`` with ``records`` and re-render ``<task>.md`` and the reports'
    figures (all atomic)."""
    board = update_board(load_board(folder, task), task, records)
    write_atomic(board_path(folder, task.name), json.dumps(board, indent=1, sort_keys=False) + "\n")
    render(folder, task, board)
    return board


def render(folder: Path, task: TaskSpec, board: dict[str, Any]) -> str:
    """Write ``<task>.md`` and every report's figures from ``board``; returns the markdown."""
    for key, section in board["sections"].items():
        rows = board_rows(board, key)
        for report in task.reports:
            report.publish(board, section, rows, folder)
    text = render_markdown(board, task)
    write_atomic(board_path(folder, task.name, ".md"), text)
    return text
