import numpy as np
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.librispeech import LibriSpeech, split_of


def _write_real_layout(root, speakers=(61, 260, 1089), seconds=2.5):
    rng = np.random.default_rng(0)
    for speaker in speakers:
        folder = root / "LibriSpeech" / "test-clean" / str(speaker) / "100"
        folder.mkdir(parents=True)
        lines = []
        for utt in range(2):
            name = f"{speaker}-100-{utt:04d}"
            sf.write(folder / f"{name}.flac", 0.1 * rng.standard_normal(int(seconds * 16000)),
                     16000, subtype="PCM_16")
            lines.append(f"{name} SOME WORDS")
        (folder / f"{speaker}-100.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def test_speaker_split_of_paper_v():
    assert [split_of(s) for s in (61, 121, 237, 260, 672, 908, 1089)] == \
        ["test"] * 3 + ["val"] * 3 + ["train"]


def test_reads_real_layout_and_labels_provenance_real(tmp_path):
    corpus = LibriSpeech(_write_real_layout(tmp_path))
    splits = corpus.splits()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 2, 2]
    assert corpus.provenance.kind == "real"
    batch = next(corpus.batches("test", 8))
    assert batch["audio"].shape == (2, 32000)
    assert list(batch.meta["speaker"]) == [61, 61]


def test_version_changes_with_the_files(tmp_path):
    root = _write_real_layout(tmp_path)
    before = LibriSpeech(root).version
    extra = root / "LibriSpeech" / "test-clean" / "61" / "100" / "61-100-0009.flac"
    sf.write(extra, np.zeros(40000), 16000, subtype="PCM_16")
    assert LibriSpeech(root).version != before


def test_stand_in_is_read_by_the_same_adapter(smoke_corpus):
    corpus = LibriSpeech(smoke_corpus)
    assert corpus.provenance.kind == "synthetic"
    splits = corpus.splits()
    assert {u.speaker for u in splits["test"]} == {61, 121, 237}
    assert {u.speaker for u in splits["val"]} == {260, 672, 908}
    assert splits["train"]
    trimmed = corpus.trimmed("test")
    assert all(len(signal) > 32000 for _, signal in trimmed)


def test_bad_roots_and_names(tmp_path):
    with pytest.raises(UserError, match="--data-root: .* does not exist"):
        LibriSpeech(tmp_path / "nowhere")
    with pytest.raises(UserError, match="no LibriSpeech/test-clean"):
        LibriSpeech(tmp_path)
    folder = tmp_path / "LibriSpeech" / "test-clean" / "61" / "100"
    folder.mkdir(parents=True)
    with pytest.raises(UserError, match="no <speaker>/<chapter>/\\*.flac"):
        _ = LibriSpeech(tmp_path).utterances
    sf.write(folder / "61-999-0000.flac", np.zeros(100), 16000, subtype="PCM_16")
    with pytest.raises(UserError, match="61-999-0000.flac: not a LibriSpeech name"):
        _ = LibriSpeech(tmp_path).utterances


def test_wrong_rate_file_is_named(tmp_path):
    root = _write_real_layout(tmp_path, speakers=(61,))
    bad = root / "LibriSpeech" / "test-clean" / "61" / "100" / "61-100-0000.flac"
    sf.write(bad, np.zeros(40000), 8000, subtype="PCM_16")
    with pytest.raises(UserError, match="61-100-0000.flac: sample rate 8000 Hz"):
        LibriSpeech(root).trimmed("test")
