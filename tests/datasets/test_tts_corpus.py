"""Tests for the eSpeak NG stand-in for LibriSpeech test-clean (perloc.datasets.synth)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from perloc.datasets.synth import librispeech_tts as lt
from perloc.datasets.synth.tts import EspeakSynthesizer
from perloc.datasets.synth.words import make_sentence

FLAC_RE = re.compile(r"^LibriSpeech/test-clean/(\d+)/(\d+)/\1-\2-(\d{4})\.flac$")
TRANS_RE = re.compile(r"^LibriSpeech/test-clean/(\d+)/(\d+)/\1-\2\.trans\.txt$")
LINE_RE = re.compile(r"^(\d+-\d+-\d{4}) ([A-Z']+(?: [A-Z']+)*)$")
TINY = lt.CorpusSize("tiny", (61, 9906), 1)


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory) -> Path:
    return lt.write_corpus(tmp_path_factory.mktemp("tts") / "corpus", "smoke", progress=False)


def _samples(root: Path) -> dict[str, np.ndarray]:
    return {f.stem: sf.read(f, dtype="int16")[0] for f in sorted(root.rglob("*.flac"))}


def test_speaker_ids_and_table():
    assert lt.SPEAKER_IDS[:40] == lt.REAL_SPEAKER_IDS and len(lt.REAL_SPEAKER_IDS) == 40
    assert len(set(lt.SPEAKER_IDS)) == len(lt.SPEAKER_IDS) >= 46
    table = lt.speaker_table()
    assert len({(v.voice, v.pitch, v.rate_wpm, v.pitch_range) for v in table}) == len(table)
    assert all(1 <= len(v.chapters) <= 2 for v in table)
    assert lt.SIZES["default"].speaker_ids() == lt.SPEAKER_IDS
    assert lt.SIZES["smoke"].speaker_ids()[:6] == (61, 121, 237, 260, 672, 908)


def test_corpus_version_tracks_config():
    v = lt.corpus_version("smoke", 0)
    assert v == lt.corpus_version(lt.SIZES["smoke"], 0)
    assert len({v, lt.corpus_version("smoke", 1), lt.corpus_version("default", 0)}) == 3


def test_sentences_are_seeded_and_bounded():
    a = [make_sentence(np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = make_sentence(rng, 12, 30)
        assert 12 <= len(s.words) <= 30
        assert LINE_RE.match(f"1-2-0000 {s.transcript}")


def test_layout_matches_librispeech(smoke_root):
    files = [p.relative_to(smoke_root).as_posix() for p in smoke_root.rglob("*") if p.is_file()]
    assert lt.MARKER_NAME in files
    flacs = [f for f in files if FLAC_RE.match(f)]
    trans = [f for f in files if TRANS_RE.match(f)]
    assert len(flacs) + len(trans) + 1 == len(files), "unexpected files in the corpus"
    size = lt.SIZES["smoke"]
    assert len(flacs) == len(size.speaker_ids()) * size.utterances_per_speaker
    assert {int(FLAC_RE.match(f)[1]) for f in flacs} == set(size.speaker_ids())
    for t in trans:
        folder = (smoke_root / t).parent
        lines = (smoke_root / t).read_text().splitlines()
        ids = [LINE_RE.match(line)[1] for line in lines]
        stems = sorted(p.stem for p in folder.glob("*.flac"))
        assert ids == stems
        assert [s.rsplit("-", 1)[1] for s in stems] == [f"{k:04d}" for k in range(len(stems))]


def test_audio_format_and_levels(smoke_root):
    for f in smoke_root.rglob("*.flac"):
        info = sf.info(f)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (
            16000, 1, "FLAC", "PCM_16")
        assert info.duration > 2.0
        x, _ = sf.read(f, dtype="float32")
        assert 0.4 < np.abs(x).max() < 0.95
        lead = x[: int(0.15 * 16000)]
        assert 0 < np.sqrt(np.mean(lead**2)) < 10 ** (-50 / 20), "lead-in should be faint noise"


def test_same_seed_same_samples(tmp_path, smoke_root):
    a = _samples(lt.write_corpus(tmp_path / "a", TINY, seed=0, progress=False))
    b = _samples(lt.write_corpus(tmp_path / "b", TINY, seed=0, progress=False))
    c = _samples(lt.write_corpus(tmp_path / "c", TINY, seed=1, progress=False))
    assert a.keys() == b.keys() == c.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not any(np.array_equal(a[k], c[k]) for k in a)
    smoke = _samples(smoke_root)   # an utterance depends only on (seed, speaker, chapter, index)
    shared = [k for k in a if k.startswith("61-")]
    assert shared and all(np.array_equal(a[k], smoke[k]) for k in shared)


def _features(x: np.ndarray, sr: int = 16000) -> np.ndarray:
    """log spectral centroid, log median autocorrelation f0 of loud frames, log duration."""
    frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::512] * np.hanning(1024)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(0)
    centroid = (np.fft.rfftfreq(1024, 1 / sr) * power).sum() / power.sum()
    frames = np.lib.stride_tricks.sliding_window_view(x, 800)[::400]
    frames = frames[(frames**2).mean(1) > 0.1 * (frames**2).mean(1).max()]
    lo, hi = sr // 400, sr // 60
    f0 = [sr / (lo + np.argmax(np.correlate(w - w.mean(), w - w.mean(), "full")[799 + lo:799 + hi]))
          for w in frames]
    return np.log([centroid, np.median(f0), len(x) / sr])


def test_speakers_sound_different():
    synth = EspeakSynthesizer()
    text = "the old sailor walked slowly along the narrow road toward the quiet harbour"
    feats = {v.speaker_id: _features(synth.synthesize(text, v.voice, v.pitch, v.rate_wpm,
                                                      v.pitch_range))
             for v in lt.speaker_table(lt.SIZES["smoke"].speaker_ids())}
    assert feats[121][1] - feats[61][1] > np.log(1.5)   # female variant vs male variant
    ids = sorted(feats)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert np.linalg.norm(feats[a] - feats[b]) > 0.03, (a, b)


def test_synthesizer_is_deterministic_and_validates():
    synth = EspeakSynthesizer()
    runs = [synth.synthesize("a quiet test of the voice", "en+f3", 60, 170, 50, seed=4)
            for _ in range(2)]
    assert runs[0].dtype == np.float32 and np.array_equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="variant"):
        synth.synthesize("hello", "en+no_such_variant", 50, 170, 50)
    with pytest.raises(RuntimeError, match="espeak_SetVoiceByName"):
        synth.synthesize("hello", "zz-nolang", 50, 170, 50)


def test_marker_makes_second_call_a_noop(smoke_root, monkeypatch):
    marker = smoke_root / lt.MARKER_NAME
    before = marker.stat().st_mtime_ns
    assert json.loads(marker.read_text())["version"] == lt.corpus_version("smoke", 0)

    def boom(*_args, **_kwargs):
        raise AssertionError("should not synthesize")

    monkeypatch.setattr(lt, "render_utterance", boom)
    assert lt.write_corpus(smoke_root, "smoke", progress=False) == smoke_root
    assert marker.stat().st_mtime_ns == before


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = lt._write_flac

    def flaky(path, audio):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        real(path, audio)

    monkeypatch.setattr(lt, "_write_flac", flaky)
    with pytest.raises(KeyboardInterrupt):
        lt.write_corpus(tmp_path / "corpus", TINY, progress=False)
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_stale_corpus_replaced_foreign_folder_kept(tmp_path):
    dest = lt.write_corpus(tmp_path / "corpus", TINY, progress=False)
    marker = dest / lt.MARKER_NAME
    marker.write_text(json.dumps({"version": "old"}))
    lt.write_corpus(dest, TINY, progress=False)
    assert json.loads(marker.read_text())["version"] == lt.corpus_version(TINY, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        lt.write_corpus(foreign, TINY, progress=False)
    assert (foreign / "keep.txt").exists()
