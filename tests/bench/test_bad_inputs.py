"""Bad Speech Commands input through ``bench run kws``: one error line naming the file,
exit 2, nothing written (records, MLflow store, leaderboards, sweep manifests)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import invoke
from test_cli_errors import _assert_clean_failure

from perloc.datasets.speech_commands import BACKGROUND, STANDIN_MARKER


@pytest.fixture()
def copy(commands_smoke, tmp_path):
    root = tmp_path / "speech_commands"
    shutil.copytree(commands_smoke, root)
    (root / STANDIN_MARKER).unlink()
    return root


def _victim(root, split="training"):
    from perloc.datasets.speech_commands import which_set

    return next(p for p in sorted((root / "yes").glob("*.wav")) if which_set(p.name) == split)


def _truncated(root):
    path = _victim(root)
    path.write_bytes(path.read_bytes()[:30])
    return path.name, "cannot decode"


def _wrong_rate(root):
    path = _victim(root)
    sf.write(path, np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")
    return path.name, "8000 Hz"


def _stereo(root):
    path = _victim(root, "validation")
    sf.write(path, np.zeros((16000, 2), dtype=np.float32), 16000, subtype="PCM_16")
    return path.name, "2 channels"


def _empty(root):
    path = _victim(root, "testing")
    sf.write(path, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    return path.name, "no audio samples"


def _nan(root):
    path = _victim(root)
    audio = np.zeros(16000, dtype=np.float32)
    audio[100] = np.nan
    sf.write(path, audio, 16000, subtype="FLOAT")
    return path.name, "NaN"


def _escaping_list_entry(root):
    with open(root / "testing_list.txt", "a") as handle:
        handle.write("../../outside/secret.wav\n")
    return "testing_list.txt", "inside the dataset"


def _missing_listed_file(root):
    with open(root / "validation_list.txt", "a") as handle:
        handle.write("yes/00000000_nohash_9.wav\n")
    return "validation_list.txt", "does not exist"


def _bad_name(root):
    shutil.copy(_victim(root), root / "yes" / "speaker_one.wav")
    return "speaker_one.wav", "not a Speech Commands name"


def _no_background(root):
    shutil.rmtree(root / BACKGROUND)
    return BACKGROUND, "no background noise"


@pytest.mark.parametrize("damage", [_truncated, _wrong_rate, _stereo, _empty, _nan,
                                    _escaping_list_entry, _missing_listed_file, _bad_name,
                                    _no_background])
def test_bad_speech_commands_input(capsys, workspace, copy, damage):
    needle, reason = damage(copy)
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn",
                     "--data-root", str(copy))
    _assert_clean_failure(outcome, needle, reason, workspace=workspace)
    assert not (workspace / "results" / "sweeps").exists()
