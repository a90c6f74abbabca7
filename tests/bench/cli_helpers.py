"""Run the ``bench`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from perloc.bench.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def invoke(capsys, *argv: str) -> Outcome:
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def start_bench(env: dict, *argv: str) -> subprocess.Popen:
    """``bench *argv`` as a separate process (its own session, so a test can signal its
    group), stdout and stderr captured as text."""
    return subprocess.Popen([sys.executable, "-m", "perloc.bench.cli.main", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=REPO)


def records_by_key(results: Path, task: str = "tdoa", profile: str = "smoke") -> dict[str, dict]:
    """The record files of ``task``/``profile`` under ``results``, by cell key (asserting one
    record per cell)."""
    out = {}
    for path in (results / "runs" / task / profile).glob("*.json"):
        record = json.loads(path.read_text())
        assert record["key"] not in out, f"two records for cell {record['key']}"
        out[record["key"]] = record
    return out


def written(folder) -> list[str]:
    """Every file under ``folder`` (relative paths, sorted)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def refused(capsys, workspace, *argv: str) -> Outcome:
    """Run ``bench *argv`` on bad input and check the house rule: exit 2, one stderr line,
    nothing on stdout, nothing written to the workspace. Returns the outcome (its one line in
    ``err``) for the caller's checks of what the line names."""
    before = written(workspace)
    result = invoke(capsys, *argv)
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1, result.err
    assert result.out == "" and written(workspace) == before
    return result


def mlflow_runs(results, task: str, max_results: int = 1000):
    """(client, runs) of ``task``'s experiment in the local SQLite store under ``results``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(task)
    return client, client.search_runs([experiment.experiment_id], max_results=max_results)


def toy_record(created: str, seed: int = 0):
    """A scored tdoa record of cell ``cell-<seed>`` created at ``created`` (ISO 8601)."""
    from perloc.bench.core.record import RunRecord, Score

    return RunRecord(task="tdoa", method="gcc-phat", profile="smoke", seed=seed, dataset={},
                     params={}, key=f"cell-{seed}", created_at=created,
                     scores={"mae_cm": Score(1.0, 0.5, 1.5)})


def scratch_registry(monkeypatch, registry):
    """Let a test add entries to ``registry`` that are gone after it (Registry has no removal):
    scan first, so that the scanned entries are in the copy the test adds to and in the
    original that is put back."""
    registry.names()
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    return registry
