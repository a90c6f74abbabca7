"""``--executor ray`` on a local Ray cluster started by the test gives the in-process scores."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke

pytest.importorskip("ray", reason="the ray extra is part of the dev install")


def _scores(results) -> dict:
    out = {}
    for path in results.glob("runs/tdoa/smoke/*.json"):
        record = json.loads(path.read_text())
        out[record["key"]] = (record["status"], record["scores"])
    return out


def test_ray_sweep_matches_in_process(capsys, workspace, monkeypatch):
    argv = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-roth", "--seeds",
            "0:1", "--split", "snr")
    assert invoke(capsys, *argv).code == 0
    local = _scores(workspace / "results")
    monkeypatch.setenv("PERLOC_RESULTS", str(workspace / "ray"))
    outcome = invoke(capsys, *argv, "--executor", "ray", "--jobs", "2")
    assert outcome.code == 0, outcome.err
    assert "ray on a local Ray cluster" in outcome.err
    assert len(local) == 8 and _scores(workspace / "ray") == local
