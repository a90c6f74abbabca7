"""Learned TDOA methods through the CLI: trained on demand, cached, curves in the record."""

import json

import pytest
from cli_helpers import invoke, mlflow_runs

pytestmark = pytest.mark.own_checkpoints  # these tests watch training happen


def test_learned_method_trains_once_then_uses_the_cache(capsys, workspace):
    first = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "pgcc-phat-ce", "--json")
    assert first.code == 0, first.err
    assert "pgcc-phat-ce: training (smoke profile, 2 epochs)" in first.err
    record = json.loads(first.out)[0]
    assert record["status"] == "ok" and record["durations"]["fit_s"] > 0
    assert len(record["series"]["train_loss"]) == 2 and len(record["series"]["val_mae_cm"]) == 2
    assert record["params"]["channels"] == [4, 4, 4, 4, 4]  # the smoke profile's size
    checkpoints = list((workspace / "results" / "checkpoints" / "tdoa").glob("pgcc-phat-ce-*.pt"))
    assert len(checkpoints) == 1

    second = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "pgcc-phat-ce", "--json",
                    "--rerun")
    assert "using cached checkpoint" in second.err
    again = json.loads(second.out)[0]
    assert again["durations"]["fit_s"] == 0.0
    assert again["scores"] == record["scores"]


def test_training_curves_reach_mlflow(capsys, workspace):
    assert invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "pgcc-phat").code == 0
    client, (run,) = mlflow_runs(workspace / "results", "tdoa")
    history = client.get_metric_history(run.info.run_id, "train/val_mae_cm")
    assert [m.step for m in history] == [1, 2]


def test_learned_runs_are_reproducible(capsys, workspace, monkeypatch):
    from perloc.bench.core.record import RunRecord

    first = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "ngcc-phat", "--json")
    monkeypatch.setenv("PERLOC_RESULTS", str(workspace / "elsewhere"))  # no cached checkpoint
    second = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "ngcc-phat", "--json")
    assert "training" in second.err and "cached" not in second.err
    a, b = (RunRecord.from_dict(json.loads(o.out)[0]) for o in (first, second))
    assert a.series == b.series
    assert a.comparable() == b.comparable()


def test_bench_train_reports_the_checkpoint(capsys, workspace):
    outcome = invoke(capsys, "train", "tdoa", "-m", "pgcc-phat-ce", "--profile", "smoke")
    assert outcome.code == 0, outcome.err
    name, path = outcome.out.strip().split(": ")
    assert name == "pgcc-phat-ce" and path.endswith(".pt")
    assert (workspace / "results" / "checkpoints" / "tdoa").joinpath(path.split("/")[-1]).exists()
    classical = invoke(capsys, "train", "tdoa", "-m", "gcc-phat", "--profile", "smoke")
    assert classical.code == 2 and "nothing to train" in classical.err
