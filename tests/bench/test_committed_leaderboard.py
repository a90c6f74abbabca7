"""CI keeps the committed leaderboard honest: the smoke numbers must reproduce."""

import json
from pathlib import Path

import pytest
from cli_helpers import invoke

from perloc.bench.core.registry import TASKS

BOARDS = Path(__file__).resolve().parents[2] / "leaderboards"


@pytest.mark.parametrize("task", ["tdoa"])
def test_committed_smoke_numbers_reproduce(capsys, monkeypatch, task):
    assert (BOARDS / f"{task}.json").exists(), f"leaderboards/{task}.json is not committed"
    monkeypatch.setenv("PERLOC_LEADERBOARDS", str(BOARDS))
    outcome = invoke(capsys, "regress", task)
    assert outcome.code == 0, outcome.out + outcome.err


def test_committed_board_has_default_and_reported_tables():
    board = json.loads((BOARDS / "tdoa.json").read_text())
    assert {"smoke/synthetic", "default/synthetic"} <= set(board["sections"])
    methods = {e["method"] for e in board["sections"]["default/synthetic"]["entries"]}
    assert set(TASKS.get("tdoa").default_methods) <= methods
    assert any(r["method"] == "gcc-phat" and r["scores"]["mae_cm"] == 6.84 for r in board["reported"])
    markdown = (BOARDS / "tdoa.md").read_text()
    assert "Reported in the papers (not reproduced here)" in markdown
    assert "/tmp/" not in markdown and "/work/" not in json.dumps(board)
