"""The Speech Commands adapter on a generated fixture in the real layout."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.speech_commands import (
    SILENCE,
    UNKNOWN,
    WANTED,
    SpeechCommands,
    which_set,
)

WORDS = (*WANTED, "cat", "dog", "bed")


def _speaker(k: int) -> str:
    return hashlib.md5(str(k).encode()).hexdigest()[:8]


@pytest.fixture
def corpus(tmp_path):
    """13 words x 12 speakers x 2 takes of short noise clips, background files, hash lists."""
    rng = np.random.default_rng(0)
    root = tmp_path / "speech_commands"
    lists = {"validation": [], "testing": []}
    for word in WORDS:
        (root / word).mkdir(parents=True)
        for k in range(12):
            for take in range(2):
                name = f"{_speaker(k)}_nohash_{take}.wav"
                length = 16000 if take == 0 else 12000  # some clips are short
                sf.write(root / word / name, 0.1 * rng.standard_normal(length), 16000,
                         subtype="PCM_16")
                split = which_set(name)
                if split in lists:
                    lists[split].append(f"{word}/{name}")
    (root / "_background_noise_").mkdir()
    sf.write(root / "_background_noise_" / "white_noise.wav", rng.standard_normal(32000) * 0.1,
             16000, subtype="PCM_16")
    (root / "validation_list.txt").write_text("\n".join(lists["validation"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["testing"]) + "\n")
    return root


def test_hash_rule_known_answer():
    speaker = "0a7c2a8d"
    digest = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 2**27
    percent = digest * 100.0 / (2**27 - 1)
    expected = "validation" if percent < 10 else "testing" if percent < 20 else "training"
    assert which_set(f"{speaker}_nohash_3.wav") == expected
    assert which_set(f"{speaker}_nohash_0.wav") == which_set(f"{speaker}_nohash_7.wav")


def test_split_from_lists_equals_the_hash_rule(corpus):
    with_lists = SpeechCommands(corpus).split_of
    (corpus / "validation_list.txt").unlink()
    (corpus / "testing_list.txt").unlink()
    by_hash = SpeechCommands(corpus).split_of
    assert with_lists == by_hash
    assert {which_set(p.name) for p in by_hash} == set(by_hash.values())


def test_twelve_class_sizes_follow_the_ten_percent_rule(corpus):
    data = SpeechCommands(corpus)
    for split in ("training", "validation", "testing"):
        entries = data.entries(split)
        known = sum(e.label in WANTED for e in entries)
        extra = math.ceil(0.1 * known)
        available = sum(1 for p, s in data.split_of.items()
                        if s == split and p.parent.name not in WANTED)
        assert sum(e.label == SILENCE for e in entries) == extra
        assert sum(e.label == UNKNOWN for e in entries) == min(extra, available)
    assert data.labels[:2] == (SILENCE, UNKNOWN) and data.labels[2:] == WANTED
    assert data.entries("testing") == SpeechCommands(corpus).entries("testing")  # seeded


def test_clips_are_zero_padded_and_silence_is_zero(corpus):
    data = SpeechCommands(corpus)
    short = next(e for e in data.entries("training") if e.path and e.path.name.endswith("_1.wav"))
    clip = data.load(short)
    assert clip.shape == (16000,) and not clip[12000:].any() and clip[:12000].any()
    silence = next(e for e in data.entries("training") if e.label == SILENCE)
    assert not data.load(silence).any()
    assert data.background[0].shape == (32000,)


def test_corrupt_wav_is_named(corpus):
    path = corpus / "yes" / f"{_speaker(0)}_nohash_0.wav"
    path.write_bytes(b"RIFF....not audio")
    data = SpeechCommands(corpus)
    entry = next(e for e in data.entries(data.split_of[path]) if e.path == path)
    with pytest.raises(UserError, match=f"{path.name}: cannot decode audio"):
        data.load(entry)


def test_wrong_sample_rate_is_named(corpus):
    path = corpus / "no" / f"{_speaker(1)}_nohash_0.wav"
    sf.write(path, np.zeros(8000), 8000, subtype="PCM_16")
    data = SpeechCommands(corpus)
    entry = next(e for e in data.entries(data.split_of[path]) if e.path == path)
    with pytest.raises(UserError, match="sample rate 8000 Hz, expected 16000 Hz"):
        data.load(entry)


def test_list_entries_escaping_the_root_are_rejected(corpus):
    (corpus / "testing_list.txt").write_text("yes/../../etc/passwd\n")
    with pytest.raises(UserError, match=r"testing_list.txt:1: .* not a <word>/<file>.wav path"):
        SpeechCommands(corpus).split_of  # noqa: B018


def test_bad_file_names_are_named(corpus):
    (corpus / "yes" / "notes.wav").write_bytes(b"")
    with pytest.raises(UserError, match="notes.wav: not a Speech Commands name"):
        SpeechCommands(corpus).files  # noqa: B018


def test_35_class_task_needs_the_v2_words(corpus):
    with pytest.raises(UserError, match="35-class task needs v2 words"):
        SpeechCommands(corpus, task="35").entries("training")
