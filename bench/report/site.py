"""The static leaderboard site (``bench site --out DIR``): every board in the leaderboards
folder rendered as HTML, readable from the disk with no server and nothing fetched.

The site holds ``index.html`` (one row per task: sections, profiles, primary metric, the
default profile's leader), one ``<task>.html`` per board, ``assets/`` (the shared style sheet
and table sorter of :mod:`~perloc.bench.report.site_assets`), ``figures/`` (the PNGs the
board's reports published: CDFs, confusion matrices, curves), ``records/`` (copies of the run
records that are in this checkout's ``results/runs``) and the marker file :data:`MARKER`.

A task page shows what ``<task>.md`` shows, as HTML: the metrics; per section (profile x
provenance [x training condition]) the sortable ranking table with provenance, git SHA, the
seeds' spread and a link to each seed's record, the notes, a line chart per condition column
(:mod:`~perloc.bench.report.site_svg`) and the reports' tables and figures; then the papers'
reported numbers in a table of their own.

Every page is rendered in memory first; bad input (no board, a board that does not read, a
board of an unregistered task, an output folder that is not a previous site) is one
``UserError`` and nothing is written. The site is then written to a temporary sibling of the
output folder and renamed into place (a previous site there is replaced).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import TaskSpec
from perloc.bench.report import board_table as bt
from perloc.bench.report import leaderboard as lb
from perloc.bench.report.base import Row
from perloc.bench.report.site_assets import SORTER, STYLE
from perloc.bench.report.site_markup import Html, esc, markdown_html, table_html
from perloc.bench.report.site_svg import condition_plots, seed_spread
from perloc.bench.store.record_files import stored_path
from perloc.bench.store.workspace import nearest_existing

MARKER = ".perloc-site"
RECORDS_NOTE = ("Run records live in results/runs/, which is not committed: a row links to "
                "its record where this checkout has it (copied under records/), otherwise its "
                "run key is shown without a link.")


@dataclass
class Site:
    """A site in memory: page texts and files to copy, by path inside the site."""

    pages: dict[str, str] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)
    linked: int = 0
    unlinked: int = 0


def load_boards(folder: Path) -> list[tuple[Path, TaskSpec, dict[str, Any]]]:
    """(path, task, board) of every ``<task>.json`` in ``folder``, by name."""
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not paths:
        raise UserError(f"leaderboards folder {folder}: no boards (<task>.json) to render")
    boards = []
    for path in paths:
        if path.stem not in TASKS.names():
            raise UserError(f"{path}: no registered task is named {path.stem!r} (known: "
                            f"{', '.join(TASKS.names())})")
        task = TASKS.get(path.stem)
        boards.append((path, task, lb.load_board(folder, task)))
    return boards


def check_out(out: Path) -> None:
    """The output folder is new, empty, or a previous site, and can be written."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"--out {out}: a non-empty folder that is not a bench site (no "
                        f"{MARKER} file); name a new or empty folder")
    probe = nearest_existing(out.parent)
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UserError(f"--out {out}: {probe} is not a writable folder")


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)}</title><link rel="icon" href="data:,">'
            '<link rel="stylesheet" href="assets/site.css">'
            '<script src="assets/sort.js" defer></script></head><body>'
            '<header class="top"><a class="brand" href="index.html">perloc leaderboards</a>'
            '<a href="index.html">all tasks</a></header>'
            f"<main>{body}<footer>Rendered by <code>bench site</code> from the committed "
            "leaderboards; no server, nothing fetched.</footer></main></body></html>\n")


def _anchor(key: str) -> str:
    return "s-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", key)


class _TaskPage:
    """One task's page; figures and records it uses are added to ``site.copies``."""

    def __init__(self, site: Site, task: TaskSpec, board: dict[str, Any], boards: Path,
                 runs: Path) -> None:
        self.site, self.task, self.board, self.boards, self.runs = site, task, board, boards, runs
        self.primary = next(m for m in board["metrics"] if m["name"] == board["primary"])

    def figure(self, alt: str, src: str) -> Html:
        source = self.boards / src
        if Path(src).name != src or not source.is_file():
            return Html(f'<p class="missing">figure {esc(src)} is not in the leaderboards '
                        "folder</p>")
        self.site.copies[f"figures/{src}"] = source
        href = esc(quote(f"figures/{src}"))
        return Html(f'<figure><a href="{href}"><img src="{href}" alt="{esc(alt)}"></a>'
                    f"<figcaption>{esc(alt)} ({esc(src)})</figcaption></figure>")

    def record(self, profile: str, entry: dict[str, Any], short: bool) -> Html:
        key = entry.get("record_key")
        if not key:
            return Html('<span class="missing">-</span>')
        path = stored_path(self.runs, self.task.name, profile, entry["method"], entry["seed"],
                           key)
        text = f"s{entry['seed']}" if short else key
        if not path.is_file():
            self.site.unlinked += 1
            return Html(f'<span class="missing rec" title="run {esc(key)}, seed {entry["seed"]}: '
                        f'record not in this checkout">{esc(text)}</span>')
        self.site.linked += 1
        relative = f"records/{self.task.name}/{profile}/{path.name}"
        self.site.copies[relative] = path
        return Html(f'<a class="rec" href="{esc(quote(relative))}" title="run {esc(key)}, seed '
                    f'{entry["seed"]}">{esc(text)}</a>')

    def ranking(self, key: str, rows: list[Row]) -> Html:
        """The section's ranking table, with the seeds' spread beside the primary metric
        (rows over several seeds) and the record links last."""
        header, body = bt.section_rows(self.board, key, self.task)
        profile = self.board["sections"][key]["profile"]
        table = bt.ranking_table(self.board)
        multi = any(len(row.ok) > 1 for row in rows)
        values = [v for row in rows for v in row.values(self.primary["name"], table)]
        spread_at = 3 + multi  # after rank, method, [seeds,] primary
        lines = []
        for row, line in zip(rows, body, strict=True):
            links = Html(" ".join(self.record(profile, e, multi) for e in row.entries))
            seeds = row.values(self.primary["name"], table)
            spread = seed_spread(seeds, min(values), max(values)) if len(seeds) > 1 else ""
            lines.append([*line[:spread_at], *([Html(spread)] if multi else []),
                          *line[spread_at:], links])
        header = [*header[:spread_at], *([f"seed spread ({self.primary['name']})"]
                                         if multi else []), *header[spread_at:],
                  "records (per seed)" if multi else "record"]
        return table_html(header, lines, names=(1,), cls="ranking",
                          unsorted=(spread_at, len(header) - 1) if multi else (len(header) - 1,))

    def section(self, key: str, section: dict[str, Any]) -> str:
        rows = bt.board_rows(self.board, key)
        parts = [f'<section class="board" id="{_anchor(key)}">'
                 f"<h2>{esc(lb.section_heading(section))}</h2>"
                 f'<p><span class="badge">profile: {esc(section["profile"])}</span>'
                 f'<span class="badge">provenance: {esc(section["provenance"])}</span>'
                 + (f'<span class="badge">{esc(section["condition"])}</span>'
                    if section.get("condition") else "")
                 + f'<span class="badge">device: {esc(section.get("device", "cpu"))}</span>'
                 + "</p>"]
        parts += [markdown_html(text, self.figure) for text in lb.section_intro(self.board,
                                                                                 section)]
        parts.append(self.ranking(key, rows))
        parts += [markdown_html(text, self.figure)
                  for text in lb.section_notes(self.board, section, rows)]
        charts = condition_plots(self.board, rows)
        if charts:
            parts.append('<h3>Per-condition plots</h3><div class="figures">'
                         + "".join(charts) + "</div>")
        blocks = [markdown_html(block, self.figure) for report in self.task.reports
                  for block in report.markdown(self.board, section, rows)]
        if blocks:
            parts.append("<h3>Breakdowns and figures</h3>" + "".join(blocks))
        return "".join(parts) + "</section>"

    def reported(self) -> str:
        if not self.board.get("reported"):
            return ""
        header, body = lb.reported_rows(self.board)
        return (f'<section class="board" id="reported"><h2>{esc(lb.REPORTED_TITLE)}</h2>'
                f'<p><span class="badge reported">reported, not reproduced</span></p>'
                f"<p>{esc(lb.REPORTED_NOTE)}</p>"
                + table_html(header, body, names=(1,), cls="reported") + "</section>")

    def metrics(self) -> str:
        items = []
        for metric in self.board["metrics"]:
            arrow = "↑" if metric["higher_is_better"] else "↓"
            primary = " (primary)" if metric is self.primary else ""
            unit = f" [{metric['unit']}]" if metric.get("unit") else ""
            items.append(f"<dt>{esc(metric['name'])} {arrow}{primary}</dt>"
                         f"<dd>{esc((metric.get('description') or '') + unit)}</dd>")
        return f'<dl class="metrics">{"".join(items)}</dl>'

    def render(self) -> str:
        sections = self.board["sections"]
        toc = "".join(f'<a href="#{_anchor(k)}">{esc(lb.section_heading(s))}</a>'
                      for k, s in sections.items())
        if self.board.get("reported"):
            toc += f'<a href="#reported">{esc(lb.REPORTED_TITLE)}</a>'
        body = (f"<h1>{esc(self.task.name)}</h1>"
                f'<p class="lead">{esc(self.board.get("description", ""))}</p>'
                f"<p class=\"note\">{esc(lb.BOARD_NOTE)} Click a column header to sort. "
                f"{esc(RECORDS_NOTE)}</p>{self.metrics()}<nav class=\"toc\">{toc}</nav>"
                + "".join(self.section(k, s) for k, s in sections.items()) + self.reported())
        return _page(f"{self.task.name} leaderboard", body)


def _leader(board: dict[str, Any]) -> list[Any]:
    """Section, method and primary value of the top row of the default (else first) section."""
    keys = list(board["sections"])
    key = next((k for k in keys if board["sections"][k]["profile"] == "default"), keys[0])
    rows = bt.board_rows(board, key)
    table = bt.ranking_table(board)
    if not rows or not rows[0].values(board["primary"], table):
        return [key, "-", "-"]
    return [key, rows[0].name, bt.score_cell(rows[0], board["primary"], table, False)]


def _index(boards: list[tuple[Path, TaskSpec, dict[str, Any]]]) -> str:
    rows = []
    for _, task, board in boards:
        primary = next(m for m in board["metrics"] if m["name"] == board["primary"])
        profiles = sorted({s["profile"] for s in board["sections"].values()})
        leader = _leader(board) if board["sections"] else ["-", "-", "-"]
        rows.append([Html(f'<a href="{esc(quote(task.name))}.html">{esc(task.name)}</a>'),
                     board.get("description", ""), len(board["sections"]),
                     ", ".join(profiles),
                     f"{primary['name']} {'↑' if primary['higher_is_better'] else '↓'}",
                     *leader, len(board.get("reported") or [])])
    header = ["task", "description", "sections", "profiles", "primary metric",
              "leader in section", "leader", "leader's value", "reported numbers"]
    body = ("<h1>perloc leaderboards</h1><p class=\"lead\">Every committed board: one page per "
            "task, one ranked table per profile and data provenance, the papers' reported "
            f"numbers apart.</p><p class=\"note\">{esc(lb.BOARD_NOTE)}</p>"
            + table_html(header, rows, names=(0,), cls="index"))
    return _page("perloc leaderboards", body)


def render_site(boards_folder: Path, runs: Path) -> Site:
    """Every page in memory (nothing written); bad boards raise ``UserError`` naming them."""
    boards = load_boards(boards_folder)
    site = Site(pages={"assets/site.css": STYLE, "assets/sort.js": SORTER})
    for path, task, board in boards:
        try:
            site.pages[f"{task.name}.html"] = _TaskPage(site, task, board, boards_folder,
                                                        runs).render()
        except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as exc:
            raise UserError(f"{path}: not a complete perloc leaderboard ({type(exc).__name__}: "
                            f"{exc})") from None
    try:
        site.pages["index.html"] = _index(boards)
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration, IndexError) as exc:
        raise UserError(f"{boards_folder}: a board is not complete ({type(exc).__name__}: "
                        f"{exc})") from None
    site.pages[MARKER] = json.dumps({"generator": "bench site",
                                     "boards": [p.name for p, _, _ in boards]}, indent=1) + "\n"
    return site


def write_site(site: Site, out: Path) -> None:
    """Write ``site`` to a temporary sibling of ``out``, then rename it into place."""
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    tmp, old = out.parent / f".{out.name}.tmp-{token}", out.parent / f".{out.name}.old-{token}"
    try:
        for relative, text in site.pages.items():
            (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp / relative).write_text(text, encoding="utf-8")
        for relative, source in site.copies.items():
            (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / relative)
        if out.is_dir():
            os.rename(out, old)
        os.rename(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise UserError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    shutil.rmtree(old, ignore_errors=True)


def build_site(boards_folder: Path, runs: Path, out: Path) -> Site:
    """``bench site``: check the output folder, render every page, then write the site."""
    check_out(out)
    site = render_site(boards_folder, runs)
    write_site(site, out)
    return site
