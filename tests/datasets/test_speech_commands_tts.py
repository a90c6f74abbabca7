"""The speech-commands-tts stand-in, read back by the real adapter."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from perloc.datasets.speech_commands import (
    BACKGROUND,
    SILENCE,
    UNKNOWN,
    V2_WORDS,
    SpeechCommands,
    which_set,
)
from perloc.datasets.synth.speech_commands_tts import SIZES, write_commands


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    return write_commands(tmp_path_factory.mktemp("sc") / "speech_commands", "smoke")


def test_written_in_the_real_layout_and_read_back(stand_in):
    data = SpeechCommands(stand_in)
    assert data.provenance.kind == "synthetic" and data.words == tuple(sorted(V2_WORDS))
    assert len(data.files) == SIZES["smoke"].speakers * 35
    assert {p.name for p in (stand_in / BACKGROUND).iterdir()} == {
        "white_noise.wav", "pink_noise.wav", "babble.wav", "hum.wav"}
    info = sf.info(str(data.files[0]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


def test_lists_agree_with_the_hash_rule_and_every_split_is_used(stand_in):
    data = SpeechCommands(stand_in)
    assert all(which_set(p.name) == split for p, split in data.split_of.items())
    assert set(data.split_of.values()) == {"training", "validation", "testing"}


def test_twelve_and_35_class_tasks(stand_in):
    twelve = SpeechCommands(stand_in).entries("testing")
    assert {e.label for e in twelve} >= {SILENCE, UNKNOWN, "yes"}
    testing = SpeechCommands(stand_in, task="35").entries("testing")
    speakers = {e.path.name.split("_")[0] for e in testing}
    assert len(testing) == 35 * len(speakers) and 1 <= len(speakers) < SIZES["smoke"].speakers


def test_clips_are_one_second_and_not_silent(stand_in):
    data = SpeechCommands(stand_in)
    clips = np.stack([data.load(e) for e in data.entries("training")[:30] if e.path])
    assert clips.shape[1] == 16000 and (np.abs(clips).max(axis=1) > 0.01).all()
