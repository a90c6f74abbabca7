"""The Paper V test protocol adapter: windows, conditions, targets, determinism."""

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.sim.rir_bank import RirBank
from perloc.datasets.sim.rooms import TEST_ROOM, true_tdoa
from perloc.datasets.tdoa_rooms import TdoaRooms

GRID = {"snr": (0, 30), "t60": (0.2,)}


@pytest.fixture(scope="module")
def rooms(smoke_corpus, session_cache):
    bank = RirBank(session_cache / "caches" / "rir-bank-v1.h5", workers=1)
    return TdoaRooms(LibriSpeech(smoke_corpus), bank, GRID, seed=0, n_utterances=2)


def test_windows_conditions_and_targets(rooms):
    batches = list(rooms.batches("test", 1000))
    assert [len(b) for b in batches] == [30, 30]  # one batch per (t60, snr) cell
    batch = batches[0]
    assert batch["signals"].shape == (30, 2, 2048) and batch["signals"].dtype == np.float32
    assert set(batch.meta) == {"snr", "t60", "file", "speaker", "window"}
    assert list(batch.meta["window"][:15]) == list(range(15))
    assert set(batch.meta["speaker"]) <= {61, 121, 237}
    sources = rooms.prepared.sources
    np.testing.assert_allclose(np.unique(batch["tau"]),
                               np.sort(true_tdoa(np.array(TEST_ROOM.mics), sources)))
    assert np.all(np.abs(batch["tau"]) <= 23.33)


def test_snr_changes_only_the_noise(rooms):
    low, high = list(rooms.batches("test", 1000))
    assert np.all(low["tau"] == high["tau"])
    diff = low["signals"].astype(np.float64) - high["signals"]
    assert 0.9 < diff.std() < 1.1  # noise std 1 at 0 dB against 0.03 at 30 dB


def test_same_seed_same_windows(smoke_corpus, session_cache, rooms):
    bank = RirBank(session_cache / "caches" / "rir-bank-v1.h5", workers=1)
    again = TdoaRooms(LibriSpeech(smoke_corpus), bank, GRID, seed=0, n_utterances=2)
    for a, b in zip(rooms.batches("test", 64), again.batches("test", 64), strict=True):
        np.testing.assert_array_equal(a["signals"], b["signals"])
    assert again.version == rooms.version
    other = TdoaRooms(LibriSpeech(smoke_corpus), bank, GRID, seed=1, n_utterances=2)
    assert other.version != rooms.version
    assert other.base_version == rooms.base_version  # the seeds of one run share a board section
    fewer = TdoaRooms(LibriSpeech(smoke_corpus), bank, GRID, seed=1, n_utterances=1)
    assert fewer.base_version != rooms.base_version


def test_where_and_limit_select(rooms):
    only_30 = list(rooms.batches("test", 1000, where={"snr": (30, 30)}))
    assert len(only_30) == 1 and set(only_30[0].meta["snr"]) == {30.0}
    assert sum(len(b) for b in rooms.batches("test", 7, limit=20)) == 20
    with pytest.raises(UserError, match="only the test split"):
        next(rooms.batches("train", 8))
