"""Entries published before a task ranked on a headline cell rank on that cell's stored point
value, shown without a CI (the CI needs the examples)."""

from __future__ import annotations

from perloc.bench.core.registry import TASKS
from perloc.bench.report.leaderboard import render_markdown, update_board


def _entry(method, pooled, at_cell):
    return {"method": method, "params": {}, "overrides": {}, "seed": 0, "where": {},
            "status": "ok", "scores": {"mae_cm": {"value": pooled, "ci_low": pooled - 1,
                                                   "ci_high": pooled + 1}},
            "slices": {"t60=0.2": {"mae_cm": at_cell}}, "extras": {}, "failures": {},
            "excluded_cells": [], "fit_s": 0, "predict_s": 0, "examples_per_s": 1.0,
            "n_examples": 10, "git_sha": "abc", "record_key": method}


def test_old_entries_rank_on_the_headline_cell_without_ci():
    task = TASKS.get("tdoa")
    old = {"sections": {"default/synthetic": {
        "profile": "default", "provenance": "synthetic", "dataset": {"version": "v"},
        "scoring_version": 1, "resampling_unit": "example",
        "entries": [_entry("gcc-phat", 16.07, 5.81), _entry("ngcc-phat", 13.43, 3.78),
                    _entry("pgcc-phat", 12.48, 9.97)]}}}
    board = update_board(old, task, [])
    text = render_markdown(board, task)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "(no CI" in line]
    assert [r.split("|")[2].strip() for r in rows] == ["ngcc-phat", "gcc-phat", "pgcc-phat"]
    assert "3.78 (no CI: older record)" in rows[0] and "13.43" in rows[0]  # pooled column kept
