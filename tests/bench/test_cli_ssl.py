"""The ssl task end to end through the CLI on the smoke luvira-sim stand-in."""

from __future__ import annotations

import json

import pytest

from tests.bench.cli_helpers import invoke


@pytest.fixture(autouse=True)
def _data(luvira_smoke):
    """Generated once per session where the smoke profile looks for it."""


def test_smoke_run_publishes_every_default_method(capsys, workspace):
    result = invoke(capsys, "run", "ssl", "--profile", "smoke", "--publish", "--json")
    assert result.code == 0, result.err
    records = json.loads(result.out)
    assert {r["method"] for r in records} == {"mean-position", "multilat", "multilat-ngcc",
                                              "di-nn", "gnn", "wav2pos", "wav2pos-fixed"}
    by_method = {r["method"]: r for r in records}
    assert all(r["status"] == "ok" for r in records)
    # baselines see setup 1_a only; wav2pos also 2_a; the Table 2 cells exist
    assert "setup=2_a" not in by_method["gnn"]["slices"]
    assert "setup=2_a|mics=5" in by_method["wav2pos"]["slices"]
    # the fixed-mask model of Table 1 is scored on setup 1_a with the whole array only
    assert set(by_method["wav2pos-fixed"]["slices"]) >= {"setup=1_a|mics=11"}
    assert not any("mics=5" in k or "2_a" in k for k in by_method["wav2pos-fixed"]["slices"])
    assert by_method["multilat"]["failed_examples"] >= 0
    board = (workspace / "leaderboards" / "ssl.md").read_text()
    assert "Ranked on the cell `setup=1_a|mics=11`" in board
    assert "By setup and mics" in board and "Paper VII Table 2" in board
    assert "ms/frame" in board
    assert (workspace / "leaderboards" / "ssl-cdf-smoke-synthetic.png").stat().st_size > 1000
    assert "setup=1_a|mics=11" in by_method["wav2pos"]["extras"]["error_cdf"]


def test_where_selects_conditions_and_rejects_bad_ones(capsys):
    ok = invoke(capsys, "run", "ssl", "--profile", "smoke", "-m", "multilat", "-w", "mics=11",
                "--json")
    assert ok.code == 0, ok.err
    slices = json.loads(ok.out)[0]["slices"]
    assert {k for k in slices if k.startswith("mics=") and "|" not in k} == {"mics=11"}
    for flag, needle in (("mics=9:5", "LO > HI"), ("setup=3_c", "selects none"),
                         ("snr=0:30", "no condition 'snr'"), ("mics", "CONDITION=VALUES")):
        bad = invoke(capsys, "run", "ssl", "--profile", "smoke", "-m", "multilat", "-w", flag)
        assert bad.code == 2 and needle in bad.err and len(bad.err.strip().splitlines()) == 1


def test_invariance_passes_for_multilat_and_is_reported_for_gnn(capsys):
    result = invoke(capsys, "invariance", "multilat", "--task", "ssl", "--frames", "8")
    assert result.code == 0, result.err
    assert "permute 11 mics" in result.out and "pass" in result.out
    result = invoke(capsys, "invariance", "gnn", "--task", "ssl", "--frames", "8")
    assert result.code == 0 and "reported" in result.out


def test_invariance_rejects_a_task_without_arrays(capsys):
    result = invoke(capsys, "invariance", "gcc-phat", "--task", "tdoa")
    assert result.code == 2 and "no microphone arrays" in result.err


def test_ssl_sim_smoke_runs_the_ssl_methods_on_six_face_mics(capsys):
    result = invoke(capsys, "run", "ssl-sim", "--profile", "smoke", "-m", "multilat", "-m", "gnn",
                    "-m", "wav2pos", "--json")
    assert result.code == 0, result.err
    records = {r["method"]: r for r in json.loads(result.out)}
    assert set(records) == {"multilat", "gnn", "wav2pos"}
    assert all(r["status"] == "ok" and "snr=0|t60=0.2" in r["slices"] for r in records.values())
    assert records["gnn"]["params"]["n_lags"] == 685  # the 5 x 5 x 2 m room's lag window
