"""Property-style corruption tests of the speech adapters (Speech Commands, LibriSpeech).

For a sample of files (a test clip, training clips, each list file, the background noise, a
test, validation and training FLAC, a transcript) x every corruption of
:mod:`corruption`: a copy of the stand-in is read once (warming the digest store and the
feature cache, as a previous run would), the file is broken in place, and everything the tasks
read is read again through the same digest store and cache. The outcome must be

* a UserError whose single line names the broken file, or
* no error, and then exactly what a fresh read (no digest store, no cache) of the broken copy
  gives: never data left over from the intact file; the version changes exactly when bytes
  the adapter reads changed (a transcript is never read: same version, same data).

Any other exception fails the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from corruption import CORRUPTIONS

from perloc.bench.core.errors import UserError
from perloc.datasets.digest import ContentDigests
from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.kws_data import KwsClips, KwsTest, KwsTraining
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.speech_commands import BACKGROUND, SPLITS, STANDIN_MARKER, SpeechCommands
from perloc.datasets.tdoa_train import TdoaTraining, TrainConfig

HOW = sorted(CORRUPTIONS)
KEEP_WORDS = ("yes", "no", "up", "bed", "cat")  # three wanted words, two read as unknown


@pytest.fixture(scope="module")
def commands_small(commands_smoke, tmp_path_factory) -> Path:
    """The smoke stand-in cut to five words (lists filtered alike), to keep this test fast."""
    root = tmp_path_factory.mktemp("commands-small") / "speech_commands"
    root.mkdir()
    for word in (*KEEP_WORDS, BACKGROUND):
        shutil.copytree(commands_smoke / word, root / word)
    for name in SPLITS:
        lines = (commands_smoke / name).read_text().splitlines()
        (root / name).write_text("".join(f"{line}\n" for line in lines
                                         if line.split("/")[0] in KEEP_WORDS))
    shutil.copy2(commands_smoke / STANDIN_MARKER, root / STANDIN_MARKER)
    return root


def _read_commands(root: Path, cache: FeatureCache, digests: ContentDigests) -> dict:
    """Everything the kws task reads: test features and labels, training and validation
    clips, the background recordings (augmentation), and the version keying the caches."""
    data = SpeechCommands(root, digests=digests)
    clips = KwsClips(data, cache)
    features, labels = KwsTest(clips).prepared
    KwsTraining(clips)
    return {"version": data.version, "test": features, "labels": labels,
            "speakers": clips.speakers("testing"),
            **{split: clips.audio(split) for split in ("training", "validation")},
            **{f"train-{split}": clips.labels(split) for split in ("training", "validation")},
            **{f"noise-{i}": noise for i, noise in enumerate(data.background)}}


def _read_librispeech(root: Path, digests: ContentDigests) -> dict:
    """Everything the tdoa / ssl-sim tasks read: the trimmed utterances of every split (the
    training set checks its files when made), and the version."""
    corpus = LibriSpeech(root, digests=digests)
    TdoaTraining(corpus, None, TrainConfig())
    out = {"version": corpus.version}
    for split in ("train", "val", "test"):
        for utt, signal in corpus.trimmed(split):
            out[f"{split}-{utt.id}"] = signal
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k] for k in a)


def _check(read, pristine: Path, work: Path, rel: str, how: str, seed: int,
           reads_file: bool) -> str:
    """Copy ``pristine`` to ``work``, read it warm, break ``rel`` by ``how``, read again.
    Returns "error" or "same" or "changed" (what happened, for the coverage assertion)."""
    shutil.copytree(pristine, work, symlinks=True)
    before = read(work, fresh=False)
    target = work / rel
    original = target.read_bytes()
    CORRUPTIONS[how](target, np.random.default_rng(seed))
    changed = target.read_bytes() != original
    try:
        after = read(work, fresh=False)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert str(target) in message, f"{rel} x {how}: {message}"
        return "error"
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{rel} x {how}: {type(exc).__name__}: {exc}")
    try:
        fresh = read(work, fresh=True)
    except UserError as exc:
        pytest.fail(f"{rel} x {how}: the warm read hid an error a fresh read reports: {exc}")
    assert _same(after, fresh), f"{rel} x {how}: the warm read differs from a fresh one"
    assert (after["version"] != before["version"]) == (changed and reads_file), (rel, how)
    if not (changed and reads_file):
        assert _same(after, before), f"{rel} x {how}: data changed"
    return "same" if _same(after, before) else "changed"


def _commands_files(root: Path) -> dict[str, bool]:
    """rel path -> whether the adapter reads it (all of these are read)."""
    data = SpeechCommands(root)
    test = next(e.path for e in data.entries("testing") if e.label == "yes")
    train = next(e.path for e in data.entries("training") if e.label == "no")
    unknown = next(e.path for e in data.entries("training") if e.label == "_unknown_")
    rel = [p.relative_to(root).as_posix() for p in (test, train, unknown)]
    return {**dict.fromkeys(rel, True), "validation_list.txt": True, "testing_list.txt": True,
            f"{BACKGROUND}/white_noise.wav": True}


def test_speech_commands_corruptions_are_named_or_harmless(commands_small, tmp_path):
    store = ContentDigests(tmp_path / "digests.sqlite")
    cache = FeatureCache(tmp_path / "features.h5")

    def read(root, fresh):
        if fresh:
            return _read_commands(root, FeatureCache(root.parent / "fresh.h5"),
                                  ContentDigests(None))
        return _read_commands(root, cache, store)

    files = _commands_files(commands_small)
    outcomes = {}
    for seed, (rel, how) in enumerate((rel, how) for rel in files for how in HOW):
        work = tmp_path / f"case-{seed}" / "speech_commands"
        outcomes[rel, how] = _check(read, commands_small, work, rel, how, seed, files[rel])
        shutil.rmtree(work.parent)
    # known answers: what no reader can accept (a header or an encoding that is not a WAV or
    # UTF-8 text any more) is an error for every file
    for rel in files:
        assert outcomes[rel, "wrong_header"] == "error", rel
        assert outcomes[rel, "wrong_encoding"] == "error", rel
    assert all(outcomes[rel, "truncate"] == "error" for rel in files if rel.endswith(".wav"))


def test_librispeech_corruptions_are_named_or_harmless(smoke_corpus, tmp_path):
    store = ContentDigests(tmp_path / "digests.sqlite")

    def read(root, fresh):
        return _read_librispeech(root, ContentDigests(None) if fresh else store)

    corpus = LibriSpeech(smoke_corpus)
    splits = corpus.splits()
    flacs = [splits[split][0].path for split in ("test", "val", "train")]
    transcript = next(flacs[2].parent.glob("*.trans.txt"))
    files = {p.relative_to(smoke_corpus).as_posix(): True for p in flacs}
    files[transcript.relative_to(smoke_corpus).as_posix()] = False  # never read
    outcomes = {}
    for seed, (rel, how) in enumerate((rel, how) for rel in files for how in HOW):
        work = tmp_path / f"case-{seed}" / "corpus"
        outcomes[rel, how] = _check(read, smoke_corpus, work, rel, how, 100 + seed, files[rel])
        shutil.rmtree(work.parent)
    for rel, reads in files.items():
        for how in HOW:
            assert outcomes[rel, how] == ("error" if reads else "same"), (rel, how)
