"""Stores that heal, through ``bench run``: a truncated RIR bank is replaced, a lock held by a
live process is waited for, a damaged or half-built MLflow store is rebuilt from the records,
a full disk is one error line and the next run needs no repair, records keep the umask and
an unreadable record is skipped with a warning naming it."""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_helpers import invoke, mlflow_runs

from perloc.bench.store import mlflow_prepare, record_files
from perloc.bench.store.workspace import Workspace

RUN = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat")
CORPUS = Path("data") / "librispeech-tts-smoke"
BANK = Path("caches") / "rir-bank-v1.h5"
HOLD_LOCK = """
import sys, time
from pathlib import Path
from perloc.datasets import h5store
held = h5store.locked(Path(sys.argv[1]), "RIR bank", shared=False)
held.__enter__()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture()
def private_cache(session_cache, tmp_path, monkeypatch):
    """``private_cache(name)``: the tdoa smoke corpus and RIR bank (generated once in the
    session cache, which is shared: never break it) copied to a cache of this test's own,
    PERLOC_CACHE pointed at it. A new name is a new path: a process prepares the dataset of
    a cache path once, so a run on a new path reads its bank again."""
    from perloc.bench.core.registry import TASKS
    from perloc.bench.run.evaluate import prepare_dataset

    dataset = prepare_dataset(TASKS.get("tdoa"), "smoke", 0, {}, data_root=None,
                              workspace=Workspace.from_env())
    dataset.splits()  # reads the RIRs from the bank (simulated into it the first time)

    def copy(name: str) -> Path:
        cache = tmp_path / name
        shutil.copytree(session_cache / CORPUS, cache / CORPUS)
        (cache / BANK).parent.mkdir(parents=True)
        shutil.copy2(session_cache / BANK, cache / BANK)
        monkeypatch.setenv("PERLOC_CACHE", str(cache))
        return cache
    return copy


def _records(results: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(results.glob("runs/tdoa/smoke/*.json"))}


def _one_run_per_record(results: Path) -> None:
    _, runs = mlflow_runs(results, "tdoa")
    keys = sorted(json.loads(text)["key"] for text in _records(results).values())
    assert sorted(r.data.tags["cell_key"] for r in runs) == keys
    assert all(r.info.status == "FINISHED" for r in runs)


def _scores(outcome) -> list[dict]:
    return [r["scores"] for r in json.loads(outcome.out)]


def test_a_truncated_rir_bank_is_replaced_and_a_locked_one_waited_for(
        capsys, caplog, workspace, private_cache, monkeypatch):
    from perloc.datasets import h5store

    caplog.set_level(logging.WARNING, logger="perloc.datasets.h5store")
    private_cache("cache-whole")
    first = invoke(capsys, *RUN, "--json")
    assert first.code == 0, first.err
    bank = private_cache("cache-truncated") / BANK
    size = bank.stat().st_size
    bank.write_bytes(bank.read_bytes()[:size // 2])
    monkeypatch.setattr(h5store, "LOCK_WAIT_S", 0.0)  # a truncated bank is no lock: no wait
    start = time.monotonic()
    healed = invoke(capsys, *RUN, "--json", "--rerun")
    healed_s = time.monotonic() - start
    assert healed.code == 0, healed.err
    assert _scores(healed) == _scores(first)
    assert f"RIR bank {bank} is damaged" in caplog.text
    with h5py.File(bank, "r") as rebuilt:  # a whole bank again, with the RIRs this run read
        assert len(rebuilt) > 0 and all(rebuilt[key][()].size for key in rebuilt)
    monkeypatch.setattr(h5store, "LOCK_WAIT_S", 600.0)
    caplog.clear()
    bank = private_cache("cache-locked") / BANK
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(bank), "3"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    waited = invoke(capsys, *RUN, "--json", "--rerun")
    waited_s = time.monotonic() - start
    holder.wait(timeout=60)
    assert waited.code == 0, waited.err
    assert _scores(waited) == _scores(first)
    assert f"waiting for RIR bank {bank}: pid {holder.pid} is writing it" in caplog.text
    assert "lock released after" in caplog.text and "is damaged" not in caplog.text
    print(f"\nwall time: truncated bank {healed_s:.1f} s, bank locked for 3 s {waited_s:.1f} s")


def test_an_unknown_tracking_uri_scheme_is_one_error_line(capsys, workspace, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://x")
    outcome = invoke(capsys, *RUN)
    assert outcome.code == 2
    assert outcome.err.strip().splitlines() == [outcome.err.strip()]
    assert outcome.err.startswith("error: MLFLOW_TRACKING_URI=foo://x: MLflow has no tracking "
                                  "store for 'foo'")
    assert not list(workspace.glob("results/runs/**/*.json"))


def test_a_tracking_server_that_does_not_answer_is_one_error_line(capsys, workspace,
                                                                    monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    outcome = invoke(capsys, *RUN)
    assert outcome.code == 2
    assert outcome.err.strip().splitlines() == [outcome.err.strip()]
    assert "no MLflow server answers" in outcome.err and f":{port}" in outcome.err
    assert not list(workspace.glob("results/runs/**/*.json"))


def _random_bytes(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[8192:len(data) // 2] = np.random.default_rng(0).integers(
        0, 256, len(data) // 2 - 8192, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))


def _half_built(db: Path) -> None:
    """What a full disk during the first write leaves: the tables of MLflow's first schema
    revision, an alembic revision that is not the head (later tables missing)."""
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TABLE spans")
        connection.execute("UPDATE alembic_version SET version_num = '770bee3ae1dd'")


BREAKAGES = {
    "random bytes": _random_bytes,
    "truncated": lambda db: db.write_bytes(db.read_bytes()[:db.stat().st_size // 3]),
    "zero bytes": lambda db: db.write_bytes(b""),
    "half-built": _half_built,
    "deleted": lambda db: db.unlink(),
}


def test_a_broken_mlflow_store_is_rebuilt_from_the_records(capsys, workspace):
    results = workspace / "results"
    assert invoke(capsys, *RUN, "--seeds", "0:1").code == 0
    records = _records(results)
    db = results / "mlflow.db"
    for name, breakage in BREAKAGES.items():
        breakage(db)
        outcome = invoke(capsys, *RUN, "--seeds", "0:1")
        assert outcome.code == 0, (name, outcome.err)
        assert "2 of 2 cells already finished" in outcome.err
        if name in ("zero bytes", "deleted"):  # nothing to keep: filled from the records
            assert "mirrored the records it lacked" in outcome.err, name
        else:
            assert "moved to mlflow.db.broken-" in outcome.err, (name, outcome.err)
            assert "rebuilt, 2 records mirrored" in outcome.err, name
        assert _records(results) == records, name  # the source of truth untouched
        _one_run_per_record(results)
    assert len(list(results.glob("mlflow.db.broken-*"))) == 3  # none overwritten


def _limited(limit: int):
    def apply() -> None:  # a file size limit: writes past it fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _empty_store_size(folder: Path) -> int:
    from mlflow.tracking import MlflowClient

    MlflowClient(f"sqlite:///{folder / 'empty.db'}").search_experiments()
    return (folder / "empty.db").stat().st_size


def test_a_disk_full_during_the_first_mlflow_write_needs_no_repair(workspace, private_cache):
    """The file size limit lets the records and the TTS library copy be written but not a
    whole MLflow store: the first run ends on one error line with a half-built mlflow.db;
    the next run rebuilds it and loses nothing."""
    import espeakng_loader

    results = workspace / "results"
    private_cache("cache")
    library = Path(espeakng_loader.get_library_path()).stat().st_size
    whole = _empty_store_size(workspace)
    limit = (library + whole) // 2
    assert library + 20_000 < limit < whole - 20_000, (library, whole)
    argv = [str(Path(sys.executable).parent / "bench"), *RUN, "--seeds", "0:1"]
    first = subprocess.run(argv, preexec_fn=_limited(limit), capture_output=True, text=True,
                           cwd=workspace, timeout=600)
    assert first.returncode in (1, 2), first.stderr
    errors = [line for line in first.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in first.stderr, first.stderr
    assert "mlflow.db" in errors[0]
    saved = _records(results)
    assert saved and all(json.loads(text) for text in saved.values())
    assert 0 < (results / "mlflow.db").stat().st_size < whole  # half-built
    second = subprocess.run(argv, capture_output=True, text=True, cwd=workspace, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "moved to mlflow.db.broken-" in second.stderr
    after = _records(results)
    assert len(after) == 2 and all(after[p] == text for p, text in saved.items())
    _one_run_per_record(results)


def test_a_failed_mlflow_write_is_one_line_and_mirrored_later(capsys, workspace, monkeypatch):
    """The store is whole but the disk fills while a run is logged: one error line; the
    next run (on other cells) mirrors the record that was saved but not logged."""
    from mlflow.tracking import MlflowClient

    results = workspace / "results"
    real = MlflowClient.log_batch
    calls = {"n": 0}

    def full(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode, error.sqlite_errorname = 13, "SQLITE_FULL"
            raise error
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", full)
    first = invoke(capsys, *RUN, "--seeds", "0:2")
    assert first.code == 2
    errors = [line for line in first.err.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: MLflow store {results / 'mlflow.db'}: cannot write (database "
                      "or disk is full); the records are saved, the next run mirrors them"]
    saved = _records(results)
    assert len(saved) == 2
    monkeypatch.setattr(MlflowClient, "log_batch", real)
    second = invoke(capsys, *RUN, "--seeds", "2")
    assert second.code == 0, second.err
    assert "mirrored the records it lacked (tdoa" in second.err
    after = _records(results)
    assert len(after) == 3 and all(after[p] == text for p, text in saved.items())
    _one_run_per_record(results)


def test_records_get_the_folders_usual_permissions(capsys, workspace):
    assert invoke(capsys, *RUN).code == 0
    umask = os.umask(0o022)
    os.umask(umask)
    (path,) = _records(workspace / "results")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    old = os.umask(0o027)
    try:
        record_files.write_atomic(workspace / "x.json", "{}\n")
        record_files.write_atomic(workspace / "x.json", "{}\n")  # replacing keeps it so
    finally:
        os.umask(old)
    assert (workspace / "x.json").stat().st_mode & 0o777 == 0o640


def test_a_record_write_on_a_full_disk_leaves_the_old_record_whole(tmp_path):
    path = tmp_path / "runs" / "record.json"
    record_files.write_atomic(path, "old\n")
    script = ("import sys; from pathlib import Path; "
              "from perloc.bench.store.record_files import write_atomic; "
              "write_atomic(Path(sys.argv[1]), 'x' * 100_000)")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, preexec_fn=_limited(50_000), timeout=120)
    assert done.returncode == 1 and f"[Errno {errno.EFBIG}]" in done.stderr, done.stderr
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]  # no temporary


def test_an_unreadable_record_is_skipped_with_a_warning_and_written_again(
        capsys, caplog, workspace):
    results = workspace / "results"
    assert invoke(capsys, *RUN, "--seeds", "0:1").code == 0
    empty, cut = _records(results)
    empty.write_bytes(b"")
    cut.write_text(cut.read_text()[:500])
    caplog.set_level(logging.WARNING, logger="perloc.bench.store.record_files")
    outcome = invoke(capsys, *RUN, "--seeds", "0:1")
    assert outcome.code == 0, outcome.err
    assert f"record {empty} cannot be read (empty file)" in caplog.text
    assert f"record {cut} cannot be read (JSONDecodeError" in caplog.text
    assert "running 2 cells" in outcome.err  # counted as not run: run again
    assert all(json.loads(text)["status"] == "ok" for text in _records(results).values())
    _one_run_per_record(results)


def test_a_record_of_a_newer_schema_is_one_error_line(capsys, workspace):
    results = workspace / "results"
    assert invoke(capsys, *RUN).code == 0
    (path,) = _records(results)
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
    outcome = invoke(capsys, *RUN)
    assert outcome.code == 2
    assert outcome.err.strip().splitlines()[-1] == (
        f"error: record {path}: schema_version 99 is newer than this perloc reads (2); "
        "upgrade perloc")


def test_the_results_lock_is_waited_for_and_said(tmp_path, caplog):
    from perloc.bench.store.locking import results_lock

    script = ("import sys, time; from pathlib import Path; "
              "from perloc.bench.store.locking import results_lock\n"
              "with results_lock(Path(sys.argv[1])):\n"
              "    print('held', flush=True); time.sleep(2)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with caplog.at_level(logging.WARNING, logger="perloc.bench.store.locking"), \
            results_lock(tmp_path):
        pass
    holder.wait(timeout=60)
    assert f"pid {holder.pid} is writing to it" in caplog.text
    assert "lock released after" in caplog.text


def test_prepare_leaves_a_missing_store_alone_when_there_is_nothing_to_mirror(tmp_path):
    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    mlflow_prepare.prepare(uri, tmp_path / "results" / "runs")
    assert not (tmp_path / "results").exists()  # bad input later: nothing written
