"""``bench site`` without a browser: what the pages hold, escaping, record links, and bad input
(one error line naming the file, exit 2, nothing written). The browser checks are in
test_site_browser.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import invoke, refused

from perloc.bench.report.site import MARKER
from perloc.bench.report.site_markup import column_types, markdown_html, sort_value
from perloc.bench.store.record_files import stored_path

BOARDS = Path(__file__).resolve().parents[2] / "leaderboards"
EVIL = '<script>alert("x")</script>'


@pytest.fixture
def boards(workspace) -> Path:
    """A copy of the committed tdoa board (the workspace's leaderboards folder)."""
    folder = workspace / "leaderboards"
    folder.mkdir()
    shutil.copy(BOARDS / "tdoa.json", folder / "tdoa.json")
    return folder


def _edit(path: Path, change) -> None:
    board = json.loads(path.read_text())
    change(board)
    path.write_text(json.dumps(board))


def _build(capsys, workspace) -> tuple[Path, str]:
    out = workspace / "site"
    outcome = invoke(capsys, "site", "--out", str(out))
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip() == str(out / "index.html")
    return out, (out / "tdoa.html").read_text()


def test_task_text_is_escaped(capsys, workspace, boards):
    def poison(board):
        board["description"] = EVIL
        board["reported"][0]["note"] = EVIL
        board["sections"]["default/synthetic"]["profile_description"] = EVIL
        board["sections"]["default/synthetic"]["entries"][0]["method"] = "<b>gcc</b>"

    _edit(boards / "tdoa.json", poison)
    out, page = _build(capsys, workspace)
    index = (out / "index.html").read_text()
    for text in (page, index):
        assert "<script>alert" not in text and "&lt;script&gt;alert(&quot;x&quot;)" in text
    assert "<b>gcc</b>" not in page and "&lt;b&gt;gcc&lt;/b&gt;" in page
    assert page.count("<script") == 1  # the site's own sorter, from assets/


def test_reported_numbers_have_their_own_table(capsys, workspace, boards):
    out, page = _build(capsys, workspace)
    board = json.loads((boards / "tdoa.json").read_text())
    measured, _, reported = page.partition('<section class="board" id="reported">')
    assert reported.count('<table class="sortable reported">') == 1
    assert measured.count('<table class="sortable ranking">') == len(board["sections"])
    for row in board["reported"]:
        assert row["source"].replace("'", "&#x27;") in reported
    assert "Paper V Table" not in measured and "eval.txt" not in measured
    assert "not reproduced" in reported
    for entry in board["sections"]["default/synthetic"]["entries"]:  # provenance, SHA per row
        assert f"<td>{entry['git_sha']}</td>" in measured
    assert measured.count("<td>synthetic</td>") == sum(
        len(s["entries"]) for s in board["sections"].values())
    assert "mae_cm by snr" in measured and "mae_cm by t60" in measured  # condition plots


def test_rows_link_to_the_records_in_this_checkout(capsys, workspace, boards):
    board = json.loads((boards / "tdoa.json").read_text())
    entry = board["sections"]["smoke/synthetic"]["entries"][0]
    record = stored_path(workspace / "results" / "runs", "tdoa", "smoke", entry["method"],
                         entry["seed"], entry["record_key"])
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"key": entry["record_key"]}) + "\n")
    out, page = _build(capsys, workspace)
    copied = f"records/tdoa/smoke/{record.name}"
    assert (out / copied).read_text() == record.read_text()
    assert f'href="{copied}"' in page
    other = board["sections"]["smoke/synthetic"]["entries"][1]["record_key"]
    assert f"record not in this checkout\">{other}</span>" in page
    assert page.count('class="rec" href=') == 1


def test_rebuild_replaces_a_previous_site(capsys, workspace, boards):
    out, _ = _build(capsys, workspace)
    (out / "stale.html").write_text("old")
    _build(capsys, workspace)
    assert not (out / "stale.html").exists() and (out / MARKER).is_file()
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".site")) == []


@pytest.mark.parametrize(("content", "needle"), [
    ("{", "malformed JSON"),
    ("[]", "no 'sections' object"),
    ('{"sections": {"a/b": {"profile": "a", "entries": [{"method": "m"}]}}}', "entry 0"),
])
def test_corrupt_board_is_refused(capsys, workspace, boards, content, needle):
    (boards / "tdoa.json").write_text(content)
    outcome = refused(capsys, workspace, "site", "--out", str(workspace / "site"))
    assert "tdoa.json" in outcome.err and needle in outcome.err


def test_incomplete_board_is_refused(capsys, workspace, boards):
    _edit(boards / "tdoa.json", lambda b: b["sections"]["smoke/synthetic"]["entries"][0]
          .pop("examples_per_s"))
    outcome = refused(capsys, workspace, "site", "--out", str(workspace / "site"))
    assert "tdoa.json" in outcome.err and "examples_per_s" in outcome.err


def test_missing_boards_and_unknown_tasks_are_refused(capsys, workspace, boards):
    (boards / "tdoa.json").unlink()
    outcome = refused(capsys, workspace, "site", "--out", str(workspace / "site"))
    assert str(boards) in outcome.err and "no boards" in outcome.err
    shutil.copy(BOARDS / "tdoa.json", boards / "nosuch.json")
    outcome = refused(capsys, workspace, "site", "--out", str(workspace / "site"))
    assert "nosuch.json" in outcome.err and "no registered task" in outcome.err


def test_output_folder_must_be_new_empty_or_a_site(capsys, workspace, boards):
    busy = workspace / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    outcome = refused(capsys, workspace, "site", "--out", str(busy))
    assert "busy" in outcome.err and MARKER in outcome.err
    afile = workspace / "afile"
    afile.write_text("x")
    assert "not a folder" in refused(capsys, workspace, "site", "--out", str(afile)).err
    assert "--out" in refused(capsys, workspace, "site").err
    empty = workspace / "empty"
    empty.mkdir()
    assert invoke(capsys, "site", "--out", str(empty)).code == 0
    assert (empty / "index.html").is_file()


def test_markup_sorting_values_and_tables():
    assert sort_value("4.36 [2.91, 6.02]") == 4.36 and sort_value("17.94 / 45.56") == 17.94
    assert sort_value("44f91c4ac1b9") is None and sort_value("N/A (2% failed)") is None
    assert column_types(["git", "mae", "name"], [["44f91c4ac1b9", "1.5", "a"],
                                                 ["123456789012", "N/A", "b2"]]) \
        == ["text", "num", "text"]
    html = markdown_html(f"By snr `{EVIL}`:\n\n| method | snr=0 |\n|---|---|\n| a<b | 1.5 |",
                         lambda alt, src: "")
    assert "<code>&lt;script&gt;" in html and "<td class=\"name\">a&lt;b</td>" in html
    assert '<td class="num" data-v="1.5">1.5</td>' in html
    figure = markdown_html("CDF: ![error CDF](x.png)", lambda alt, src: f"[{alt}|{src}]")
    assert figure == '<p>CDF</p><div class="figures">[error CDF|x.png]</div>'
