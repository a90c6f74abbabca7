"""Bad input: one clear error line naming the file or flag, exit 2, nothing half-written."""

import shutil

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import invoke


def _assert_clean_failure(outcome, *needles, workspace):
    assert outcome.code == 2, outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    results = workspace / "results"
    assert not list(results.glob("runs/**/*.json"))
    assert not (results / "mlflow.db").exists()
    assert not (results / "sweeps").exists()
    assert not (workspace / "leaderboards").exists()


@pytest.mark.parametrize("argv,needles", [
    (("--snr", "5:a"), ("--snr", "5:a")),
    (("--t60", "0.9:0.1"), ("--t60", "LO > HI")),
    (("--snr", "40:50"), ("--snr", "selects none")),
    (("-m", "nope"), ("unknown method 'nope'",)),
    (("--profile", "huge"), ("--profile", "huge")),
    (("-p", "max_tau=ten"), ("max_tau",)),
    (("-p", "bogus=1"), ("bogus", "unknown parameter")),
    (("--profile", "paper"), ("--data-root", "paper profile")),
])
def test_bad_flags(capsys, workspace, argv, needles):
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", *argv)
    _assert_clean_failure(outcome, *needles, workspace=workspace)


def test_unknown_task_and_option(capsys, workspace):
    _assert_clean_failure(invoke(capsys, "run", "tdoaa"), "unknown task 'tdoaa'",
                          workspace=workspace)
    _assert_clean_failure(invoke(capsys, "run", "tdoa", "--nope"), "--nope", workspace=workspace)


def test_missing_data_root(capsys, workspace, tmp_path):
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "--data-root",
                     str(tmp_path / "absent"))
    _assert_clean_failure(outcome, "--data-root", "absent", workspace=workspace)


def _copy_corpus(smoke_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(smoke_corpus, root)
    (root / ".perloc-corpus.json").unlink()
    return root, sorted((root / "LibriSpeech" / "test-clean" / "61").glob("*/*.flac"))[0]


def test_truncated_flac(capsys, workspace, tmp_path, smoke_corpus):
    root, victim = _copy_corpus(smoke_corpus, tmp_path)
    victim.write_bytes(victim.read_bytes()[:300])
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "--data-root", str(root))
    _assert_clean_failure(outcome, victim.name, workspace=workspace)


def test_wrong_sample_rate(capsys, workspace, tmp_path, smoke_corpus):
    root, victim = _copy_corpus(smoke_corpus, tmp_path)
    sf.write(victim, np.zeros(48000, dtype=np.float32), 22050, subtype="PCM_16")
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "--data-root", str(root))
    _assert_clean_failure(outcome, victim.name, "22050 Hz", workspace=workspace)


def test_unwritable_results(capsys, workspace, monkeypatch):
    blocker = workspace / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("PERLOC_RESULTS", str(blocker / "results"))
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat")
    assert outcome.code == 2 and outcome.err.startswith("error: results folder")
    assert len(outcome.err.strip().splitlines()) == 1
