"""Bad Speech Commands and LibriSpeech input read by the adapters directly: versions keyed by
content (a warm digest store and feature cache never hide a changed file), list files and
layouts that are wrong in every way we know of, training data checked at construction. Each
bad input is one UserError line naming the file (and the line of a list file)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.audio import _flac_frame_header, probe_audio
from perloc.datasets.digest import ContentDigests
from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.kws_data import KwsClips, KwsTest, KwsTraining, TrainingOptions
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.librispeech import check_root as check_librispeech
from perloc.datasets.speech_commands import BACKGROUND, SpeechCommands
from perloc.datasets.speech_commands import check_root as check_commands
from perloc.datasets.tdoa_train import TdoaTraining, TrainConfig

WORDS = ("yes", "no", "cat")
SPEAKERS = [f"{k:08x}" for k in (0xA0, 0xA1, 0xB0, 0xB1, 0xC0, 0xC1, 0xC2, 0xC3)]
SPLIT = {"a": "validation", "b": "testing", "c": "training"}  # by the id's 7th hex digit


def _one_line(exc: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


@pytest.fixture()
def commands(tmp_path):
    """3 words x 8 speakers of 1-s noise clips; lists by speaker (2 validation, 2 testing)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "speech_commands"
    lists = {"validation": [], "testing": []}
    for word in WORDS:
        (root / word).mkdir(parents=True)
        for speaker in SPEAKERS:
            name = f"{speaker}_nohash_0.wav"
            sf.write(root / word / name, 0.1 * rng.standard_normal(16000), 16000,
                     subtype="PCM_16")
            split = SPLIT[speaker[6]]
            if split in lists:
                lists[split].append(f"{word}/{name}")
    (root / BACKGROUND).mkdir()
    sf.write(root / BACKGROUND / "white_noise.wav", 0.1 * rng.standard_normal(32000), 16000,
             subtype="PCM_16")
    for split, entries in lists.items():
        (root / f"{split}_list.txt").write_text("\n".join(entries) + "\n")
    return root


def _clip(root, word="yes", split="training"):
    code = next(k for k, v in SPLIT.items() if v == split)
    return next(root / word / f"{s}_nohash_0.wav" for s in SPEAKERS if s[6] == code)


# -- versions follow content ------------------------------------------------------------------


def test_version_is_keyed_by_content_not_by_paths_or_sizes(commands, tmp_path):
    store = tmp_path / "digests.sqlite"
    before = SpeechCommands(commands, digests=ContentDigests(store)).version
    assert SpeechCommands(commands, digests=ContentDigests(store)).version == before
    moved = shutil.copytree(commands, tmp_path / "elsewhere")  # same bytes elsewhere: same data
    assert SpeechCommands(moved, digests=ContentDigests(store)).version == before
    clip = _clip(commands, split="testing")
    size = clip.stat().st_size
    clip.write_bytes(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())
    assert clip.stat().st_size == size
    assert SpeechCommands(commands, digests=ContentDigests(store)).version != before


@pytest.mark.parametrize("change", ["list", "background", "task"])
def test_version_covers_the_lists_the_background_and_the_task(commands, tmp_path, change):
    store = tmp_path / "digests.sqlite"
    before = SpeechCommands(commands, digests=ContentDigests(store)).version
    task = "12"
    if change == "list":  # a training clip moved to the test split
        with open(commands / "testing_list.txt", "a") as handle:
            handle.write(f"yes/{_clip(commands).name}\n")
    elif change == "background":
        noise = commands / BACKGROUND / "white_noise.wav"
        sf.write(noise, np.zeros(32000), 16000, subtype="PCM_16")
    else:
        task = "35"
    assert SpeechCommands(commands, task, digests=ContentDigests(store)).version != before


def test_a_warm_feature_cache_never_hides_a_changed_clip(commands, tmp_path):
    store, cache = tmp_path / "digests.sqlite", FeatureCache(tmp_path / "features.h5")

    def prepared():
        data = SpeechCommands(commands, digests=ContentDigests(store))
        return KwsTest(KwsClips(data, cache)).prepared

    features, labels = prepared()
    assert cache.computed > 0
    cache.computed = 0
    np.testing.assert_array_equal(prepared()[0], features)  # warm: read, not computed
    assert cache.computed == 0
    clip = _clip(commands, split="testing")
    clip.write_bytes(np.random.default_rng(2).integers(0, 256, clip.stat().st_size,
                                                       dtype=np.uint8).tobytes())
    with pytest.raises(UserError) as caught:
        prepared()
    _one_line(caught, str(clip), "cannot decode audio")


def test_a_warm_cache_never_hides_an_escaping_list_entry(commands, tmp_path):
    store, cache = tmp_path / "digests.sqlite", FeatureCache(tmp_path / "features.h5")
    KwsTest(KwsClips(SpeechCommands(commands, digests=ContentDigests(store)), cache)).prepared  # noqa: B018
    lines = (commands / "testing_list.txt").read_text().count("\n")
    with open(commands / "testing_list.txt", "a") as handle:
        handle.write("yes/../../x.wav\n")
    with pytest.raises(UserError) as caught:
        KwsTest(KwsClips(SpeechCommands(commands, digests=ContentDigests(store)), cache)).prepared  # noqa: B018
    _one_line(caught, f"testing_list.txt:{lines + 1}:", "inside the dataset")


# -- list files and layout ---------------------------------------------------------------------


def _non_utf8(root):
    path = root / "testing_list.txt"
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"yes/caf\xe9.wav"
    path.write_bytes(b"\n".join(lines))
    return "testing_list.txt:3: not UTF-8"


def _escaping(root):
    with open(root / "validation_list.txt", "a") as handle:
        handle.write("\n../../etc/passwd\n")
    return "validation_list.txt:8: '../../etc/passwd' is not a <word>/<file>.wav path"


def _escaping_inside_word(root):
    (root / "testing_list.txt").write_text("yes/../../x.wav\n")
    return "testing_list.txt:1: 'yes/../../x.wav' is not a <word>/<file>.wav path"


def _absolute(root):
    (root / "testing_list.txt").write_text(f"{_clip(root, split='testing')}\n")
    return "testing_list.txt:1: "


def _missing_entry(root):
    (root / "testing_list.txt").write_text("yes/00000000_nohash_9.wav\n")
    return "testing_list.txt:1: 'yes/00000000_nohash_9.wav' does not exist"


def _background_entry(root):
    (root / "testing_list.txt").write_text(f"{BACKGROUND}/white_noise.wav\n")
    return "testing_list.txt:1: '_background_noise_/white_noise.wav' is not a clip"


def _empty_list(root):
    (root / "validation_list.txt").write_text("\n  \n")
    return "validation_list.txt: empty list"


def _listed_twice(root):
    entry = (root / "validation_list.txt").read_text().splitlines()[0]
    with open(root / "testing_list.txt", "a") as handle:
        handle.write(entry + "\n")
    return f"testing_list.txt:7: '{entry}' is also in validation_list.txt"


def _broken_link(root):
    os.symlink(root / "nowhere.wav", root / "yes" / "0000abcd_nohash_0.wav")
    return "0000abcd_nohash_0.wav: broken symbolic link"


def _list_is_a_folder(root):
    (root / "testing_list.txt").unlink()
    (root / "testing_list.txt").mkdir()
    return "testing_list.txt: not a regular file"


@pytest.mark.parametrize("damage", [_non_utf8, _escaping, _escaping_inside_word, _absolute,
                                    _missing_entry, _background_entry, _empty_list,
                                    _listed_twice, _broken_link, _list_is_a_folder])
def test_bad_lists_and_layouts_are_one_line_naming_the_file(commands, damage):
    needle = damage(commands)
    with pytest.raises(UserError) as caught:
        SpeechCommands(commands).version  # noqa: B018
    _one_line(caught, needle)


def test_a_byte_order_mark_is_accepted(commands):
    before = SpeechCommands(commands).split_of
    for name in ("validation_list.txt", "testing_list.txt"):
        path = commands / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert SpeechCommands(commands).split_of == before
    assert sorted(before.values()).count("testing") == 6


def _truncated_wav(path):
    path.write_bytes(path.read_bytes()[:20000])
    return "truncated (the header announces 32000 bytes of audio, the file holds 19956)"


def _random_wav(path):
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 32044, np.uint8).tobytes())
    return "cannot decode audio"


def _wrong_rate_wav(path):
    sf.write(path, np.zeros(8000), 8000, subtype="PCM_16")
    return "sample rate 8000 Hz, expected 16000 Hz"


def _stereo_wav(path):
    sf.write(path, np.zeros((16000, 2)), 16000, subtype="PCM_16")
    return "2 channels, expected 1"


@pytest.mark.parametrize("damage", [_truncated_wav, _random_wav, _wrong_rate_wav, _stereo_wav])
def test_bad_clips_are_named_when_loaded(commands, damage):
    clip = _clip(commands, split="testing")
    reason = damage(clip)
    data = SpeechCommands(commands)
    entry = next(e for e in data.entries("testing") if e.path == clip)
    with pytest.raises(UserError) as caught:
        data.load(entry)
    _one_line(caught, f"{clip}: {reason}")


def test_a_file_as_root_is_not_a_folder_naming_the_flag(tmp_path):
    stray = tmp_path / "a-file.txt"
    stray.write_text("")
    for adapter in (SpeechCommands, LibriSpeech):
        with pytest.raises(UserError) as caught:
            adapter(stray)
        assert str(caught.value) == f"--data-root: {stray} is not a folder"
    for check in (check_commands, check_librispeech):
        with pytest.raises(UserError) as caught:
            check(stray)
        assert str(caught.value) == f"--root: {stray} is not a folder"
        with pytest.raises(UserError, match=r"^--root: .*absent does not exist$"):
            check(tmp_path / "absent")


# -- training data is checked when the training set is made -------------------------------------


def test_kws_training_names_a_truncated_training_clip_when_constructed(commands, tmp_path):
    store, cache = tmp_path / "digests.sqlite", FeatureCache(tmp_path / "features.h5")

    def training():
        data = SpeechCommands(commands, digests=ContentDigests(store))
        return KwsTraining(KwsClips(data, cache), TrainingOptions(augment=False))

    training()  # warm: the training and validation clips are in the cache now
    clip = _clip(commands, "no", "training")  # (a "cat" clip is read only if drawn as unknown)
    clip.write_bytes(clip.read_bytes()[:9000])
    with pytest.raises(UserError) as caught:
        training()
    _one_line(caught, f"{clip}: truncated")


def _corpus_copy(smoke_corpus, tmp_path):
    root = shutil.copytree(smoke_corpus, tmp_path / "corpus")
    train = [u.path for u in LibriSpeech(root).splits()["train"]]
    return root, train[0]


def test_tdoa_training_names_a_truncated_training_flac_when_constructed(smoke_corpus, tmp_path):
    root, victim = _corpus_copy(smoke_corpus, tmp_path)
    data = victim.read_bytes()
    TdoaTraining(LibriSpeech(root), None, TrainConfig())  # the intact copy is fine
    for keep in (0.3, 0.7, 0.99):
        victim.write_bytes(data[:int(len(data) * keep)])
        with pytest.raises(UserError) as caught:
            TdoaTraining(LibriSpeech(root), None, TrainConfig())
        _one_line(caught, f"{victim}: truncated")


def test_tdoa_training_names_a_flac_that_only_decoding_finds_bad(smoke_corpus, tmp_path):
    root, victim = _corpus_copy(smoke_corpus, tmp_path)
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = np.random.default_rng(4).bytes(2000)
    victim.write_bytes(bytes(data))
    training = TdoaTraining(LibriSpeech(root), None, TrainConfig())  # header and end intact
    with pytest.raises(UserError) as caught:
        training.source.trimmed("train")  # what the training pool reads
    _one_line(caught, f"{victim}: ")


def test_librispeech_names_a_broken_link(smoke_corpus, tmp_path):
    root, victim = _corpus_copy(smoke_corpus, tmp_path)
    folder = victim.parent
    os.symlink(tmp_path / "nowhere.flac", folder / f"{folder.parent.name}-{folder.name}-9999.flac")
    with pytest.raises(UserError) as caught:
        LibriSpeech(root).utterances  # noqa: B018
    _one_line(caught, "-9999.flac: broken symbolic link")


def test_probe_finds_a_flac_cut_exactly_between_two_frames(tmp_path):
    path = tmp_path / "speech.flac"
    sf.write(path, 0.1 * np.random.default_rng(5).standard_normal(50000), 16000,
             subtype="PCM_16")
    assert probe_audio(path, 16000) == 50000
    data = path.read_bytes()
    starts = [at for at in range(len(data) - 1) if data[at:at + 2] in (b"\xff\xf8", b"\xff\xf9")
              and _flac_frame_header(data, at, 4096) is not None]
    assert len(starts) == 13  # 12 frames of 4096 samples and one of 848
    for cut in starts[1:]:
        path.write_bytes(data[:cut])
        with pytest.raises(UserError, match=r"speech.flac: truncated \(its FLAC frames end at"):
            probe_audio(path, 16000)
