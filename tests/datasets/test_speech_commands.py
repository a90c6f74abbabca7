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
        extra = math.ceil(known * 10 / 100)
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


# ---- the 12-class draw against a transcription of kws_streaming's prepare_data_index ------
# Speakers whose split is known from Google's published lists (see
# test_speech_commands_published_lists.py): validation, testing, training.
DRAW_SPEAKERS = {"validation": ("3bdf05d3", "1942abd7", "a69b9b3e"),
                 "testing": ("bb05582b", "5f449e17", "beb458a4"),
                 "training": ("59fe87e6", "b7669804", "e91d173e")}
DRAW_KNOWN = ("yes", "no", "up", "down", "left")
DRAW_OTHER = ("cat", "dog", "bed", "tree")


def _reference_draw(root: str) -> dict[str, list[tuple[str, str]]]:
    """kws_streaming ``AudioProcessor.prepare_data_index`` (split_data=1, silence and unknown
    10 %, wanted words yes..go) transcribed line by line, with the glob sorted (the order the
    adapter documents) and entries as (label, path relative to root; '' for silence)."""
    import glob
    import os
    import random
    import re

    def which(filename):  # the reference's which_set, 10 % / 10 %
        hash_name = re.sub(r"_nohash_.*$", "", os.path.basename(filename))
        h = int(hashlib.sha1(hash_name.encode()).hexdigest(), 16)
        percentage_hash = (h % (2**27 - 1 + 1)) * (100.0 / (2**27 - 1))
        if percentage_hash < 10:
            return "validation"
        if percentage_hash < 20:
            return "testing"
        return "training"

    saved = random.getstate()
    try:
        random.seed(59185)
        wanted = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
        data_index = {"validation": [], "testing": [], "training": []}
        unknown_index = {"validation": [], "testing": [], "training": []}
        for wav_path in sorted(glob.glob(os.path.join(root, "*", "*.wav"))):
            word = os.path.split(os.path.dirname(wav_path))[1].lower()
            if word == "_background_noise_":
                continue
            set_index = which(wav_path)
            rel = os.path.relpath(wav_path, root)
            if word in wanted:
                data_index[set_index].append({"label": word, "file": rel})
            else:
                unknown_index[set_index].append({"label": "_unknown_", "file": rel})
        for set_index in ["validation", "testing", "training"]:
            set_size = len(data_index[set_index])
            silence_size = int(math.ceil(set_size * 10.0 / 100))
            for _ in range(silence_size):
                data_index[set_index].append({"label": "_silence_", "file": ""})
            random.shuffle(unknown_index[set_index])
            unknown_size = int(math.ceil(set_size * 10.0 / 100))
            data_index[set_index].extend(unknown_index[set_index][:unknown_size])
        for set_index in ["validation", "testing", "training"]:
            random.shuffle(data_index[set_index])
    finally:
        random.setstate(saved)
    return {k: [(e["label"], e["file"]) for e in v] for k, v in data_index.items()}


@pytest.fixture
def draw_corpus(tmp_path):
    """5 wanted words x 3 speakers x 2 takes per split (30 known: 3 silence, 3 unknown drawn
    from 12 others), 4 other words x 3 speakers x 1 take; tiny clips, no list files."""
    root = tmp_path / "draw"
    for speakers in DRAW_SPEAKERS.values():
        for speaker in speakers:
            for word, takes in [*((w, 2) for w in DRAW_KNOWN), *((w, 1) for w in DRAW_OTHER)]:
                (root / word).mkdir(parents=True, exist_ok=True)
                for take in range(takes):
                    sf.write(root / word / f"{speaker}_nohash_{take}.wav", np.zeros(160), 16000,
                             subtype="PCM_16")
    return root


def test_twelve_class_draw_follows_kws_streaming(draw_corpus):
    expected = _reference_draw(str(draw_corpus))
    data = SpeechCommands(draw_corpus)
    for split, speakers in DRAW_SPEAKERS.items():
        got = [(e.label, "" if e.path is None else e.path.relative_to(draw_corpus).as_posix())
               for e in data.entries(split)]
        assert got == expected[split]
        assert len(got) == 30 + 3 + 3
        assert {p.split("/")[1].split("_")[0] for _, p in got if p} <= set(speakers)


def test_twelve_class_draw_is_part_of_the_version(draw_corpus, monkeypatch):
    """A new draw gives the 12-class task a new version (no cached result is reused); the
    35-class task has no draw and keeps its version."""
    twelve = SpeechCommands(draw_corpus).version
    thirty_five = SpeechCommands(draw_corpus, task="35").version
    monkeypatch.setattr("perloc.datasets.speech_commands.TWELVE_CLASS_DRAW", "another draw")
    assert SpeechCommands(draw_corpus).version != twelve
    assert SpeechCommands(draw_corpus, task="35").version == thirty_five
