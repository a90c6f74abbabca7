"""The kws task end to end through the CLI on the smoke speech-commands-tts stand-in."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import invoke, mlflow_runs
from test_cli_errors import _assert_clean_failure

from perloc.bench.core.registry import TASKS
from perloc.datasets.speech_commands import STANDIN_MARKER


@pytest.fixture(autouse=True)
def _data(commands_smoke):
    """Generated once per session where the smoke profile looks for it."""


def test_smoke_run_publishes_accuracy_efficiency_and_confusion(capsys, workspace):
    result = invoke(capsys, "run", "kws", "--profile", "smoke", "--publish", "--json")
    assert result.code == 0, result.err
    records = {r["method"]: r for r in json.loads(result.out)}
    assert set(records) == {"kwt-1", "kwt-1-distill", "mhatt-rnn", "ds-cnn"}
    for record in records.values():
        assert record["status"] == "ok"
        assert 0 <= record["scores"]["accuracy"]["value"] <= 100
        eff = record["extras"]["efficiency"]
        assert eff["params"] > 0 and eff["macs"] > 0 and eff["timing"]["latency_ms"] > 0
        assert eff["timing"]["threads"] == 1 and eff["example_shape"] == [1, 16000]
        confusion = record["extras"]["confusion"]
        counts = np.array(confusion["counts"])
        assert counts.shape == (12, 12) and counts.sum() == record["n_examples"]
        assert confusion["classes"][:2] == ["_silence_", "_unknown_"]
        assert record["resampling_unit"] == "speaker"
        assert record["scores"]["accuracy"]["units"] < record["n_examples"]
        assert any(name.startswith("word=") for name in record["slices"])
        assert record["series"]["val_accuracy"]
    # the distilled KWT's teacher is the mhatt-rnn row's own checkpoint, trained at most once
    # (another test file may have trained it first: the session's checkpoints are shared)
    assert result.err.count("mhatt-rnn: training") <= 1
    assert "mhatt-rnn: using cached checkpoint" in result.err
    board = (workspace / "leaderboards" / "kws.md").read_text()
    assert "Paper III Table 3" in board and "MACs/example" in board and "By word" in board
    assert (workspace / "leaderboards" / "kws-confusion-smoke-synthetic.png").stat().st_size > 5000


def test_a_parameter_variant_gets_its_own_leaderboard_row(capsys, workspace):
    for extra in ((), ("-p", "precision=bf16")):
        result = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "kwt-1", "--publish",
                        *extra)
        assert result.code == 0, result.err
    board = json.loads((workspace / "leaderboards" / "kws.json").read_text())
    entries = board["sections"]["smoke/synthetic"]["entries"]
    assert sorted(json.dumps(e["overrides"]) for e in entries) == ['{"precision": "bf16"}', "{}"]
    assert "kwt-1 [precision=bf16]" in (workspace / "leaderboards" / "kws.md").read_text()


def test_mlflow_gets_the_training_curves_and_the_confusion_matrix(capsys, workspace):
    assert invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "kwt-1").code == 0
    client, (run,) = mlflow_runs(workspace / "results", "kws")
    curve = client.get_metric_history(run.info.run_id, "train/val_accuracy")
    epochs = TASKS.get("kws").profile("smoke").train["epochs"]
    assert [m.step for m in curve] == list(range(1, epochs + 1))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"record.json", "confusion.png"} <= artifacts


@pytest.mark.parametrize("argv,needles", [
    (("-p", "precision=fp16"), ("precision",)),
    (("-m", "kwt-1", "-p", "depth=0"), ("depth",)),
    (("-m", "multilat",), ("multilat", "not for kws")),
    (("-w", "snr=0:30"), ("no condition 'snr'",)),
    (("--profile", "paper"), ("--data-root", "Speech Commands")),
])
def test_bad_flags(capsys, workspace, argv, needles):
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", *argv)
    _assert_clean_failure(outcome, *needles, workspace=workspace)


def _real_copy(commands_smoke, tmp_path):
    root = tmp_path / "speech_commands"
    shutil.copytree(commands_smoke, root)
    (root / STANDIN_MARKER).unlink()
    return root, sorted((root / "yes").glob("*.wav"))[0]


def test_corrupt_wav_is_one_error_naming_the_file(capsys, workspace, tmp_path, commands_smoke):
    root, victim = _real_copy(commands_smoke, tmp_path)
    victim.write_bytes(b"RIFF\x00\x00")
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn",
                     "--data-root", str(root))
    _assert_clean_failure(outcome, victim.name, workspace=workspace)


def test_wrong_sample_rate_is_one_error_naming_the_file(capsys, workspace, tmp_path,
                                                        commands_smoke):
    root, victim = _real_copy(commands_smoke, tmp_path)
    sf.write(victim, np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn",
                     "--data-root", str(root))
    _assert_clean_failure(outcome, victim.name, "8000 Hz", workspace=workspace)


def test_real_layout_without_marker_is_reported_as_real(capsys, workspace, tmp_path,
                                                        commands_smoke):
    root, _ = _real_copy(commands_smoke, tmp_path)
    result = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn", "--data-root",
                    str(root), "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[0]["dataset"]["provenance"]["kind"] == "real"


def test_the_35_class_task_runs_the_same_methods(capsys):
    result = invoke(capsys, "run", "kws-35", "--profile", "smoke", "-m", "ds-cnn", "--json")
    assert result.code == 0, result.err
    (record,) = json.loads(result.out)
    assert np.array(record["extras"]["confusion"]["counts"]).shape == (35, 35)
    assert "backward" in record["extras"]["confusion"]["classes"]
    assert record["dataset"]["classes"] == 35
