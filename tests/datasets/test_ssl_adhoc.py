"""librispeech-adhoc: face microphones, the latency-aligned source, condition cells, training."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.sim.rir_bank import RirBank
from perloc.datasets.ssl_adhoc import (
    FRAME,
    ROOM,
    AdhocTest,
    AdhocTrainConfig,
    AdhocTraining,
    face_mics,
)
from perloc.datasets.ssl_schema import tdoa_samples
from perloc.methods.layers.gcc import GCCParams, all_pairs, gcc


def test_one_microphone_on_each_face():
    mics = face_mics(np.random.default_rng(0), 50)
    dims = np.asarray(ROOM)
    on_face = [np.isclose(mics[:, 0, 2], 1e-3), np.isclose(mics[:, 1, 2], dims[2] - 1e-3),
               np.isclose(mics[:, 2, 1], 1e-3), np.isclose(mics[:, 3, 0], 1e-3),
               np.isclose(mics[:, 4, 0], dims[0] - 1e-3), np.isclose(mics[:, 5, 1], dims[1] - 1e-3)]
    assert all(face.all() for face in on_face)
    assert ((mics > 0) & (mics < dims)).all()


@pytest.fixture(scope="module")
def test_set(smoke_corpus, session_cache):
    bank = RirBank(session_cache / "caches" / "rir-bank-adhoc-v1.h5")
    return AdhocTest(LibriSpeech(smoke_corpus), bank, {"snr": (30,), "t60": (0.0,)},
                     n_utterances=2, repeats=3)


def test_cells_have_the_schema_and_anechoic_delays_match_the_geometry(test_set):
    batch = next(test_set.batches("test", 64))
    assert batch["signals"].shape == (6, 6, FRAME) and batch["source_signal"].shape == (6, FRAME)
    assert set(batch.meta["setup"]) == {"1_a"} and set(batch.meta["mics"]) == {6}
    pairs = all_pairs(6)
    est = gcc(batch["signals"], pairs, GCCParams(max_tau=342)).argmax(-1).numpy() - 342
    true = np.stack([tdoa_samples(p, m, pairs.numpy()) for p, m in
                     zip(batch["position"].astype(float), batch["mic_pos"].astype(float),
                         strict=True)])
    assert np.median(np.abs(est - true)) <= 1.0  # anechoic, 30 dB: GCC-PHAT hits the delays


def test_source_signal_is_aligned_with_the_latency_compensation(test_set):
    batch = next(test_set.batches("test", 64))
    # the direct path to the nearest mic arrives after its propagation delay only
    x, s = batch["signals"][0], batch["source_signal"][0]
    nearest = int(np.argmin(np.linalg.norm(batch["mic_pos"][0] - batch["position"][0], axis=1)))
    delay = np.linalg.norm(batch["mic_pos"][0, nearest] - batch["position"][0]) * 16000 / 343
    corr = np.correlate(x[nearest], s, mode="full")
    lag = int(np.argmax(np.abs(corr))) - (FRAME - 1)
    assert abs(lag - delay) <= 2


def test_training_pool_batches_and_validation(smoke_corpus, session_cache):
    bank = RirBank(session_cache / "caches" / "rir-bank-adhoc-v1.h5")
    training = AdhocTraining(LibriSpeech(smoke_corpus), bank,
                             AdhocTrainConfig(rirs_per_utterance=1, max_utterances=3,
                                              val_examples=2, t60=(0.0, 0.2)))
    batch = training.batch(5, np.random.default_rng(0))
    assert batch["signals"].shape == (5, 6, FRAME) and batch["clean"].shape == (5, 6, FRAME)
    assert len(training.validation) == 2
    mean, std = training.position_stats()
    assert mean.shape == (3,) and (std > 0).all()
