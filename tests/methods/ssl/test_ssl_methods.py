"""The SSL methods as harness methods: multilateration on delayed signals, invariances, setups."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.bench.core.batch import Batch
from perloc.bench.core.registry import METHODS
from perloc.bench.tasks.ssl_invariance import reorder_mics
from perloc.datasets.luvira import LUVIRA_MICS_MM
from perloc.datasets.ssl_schema import SAMPLE_RATE, SPEED_OF_SOUND
from perloc.methods.ssl.multilat import Multilat, MultilatParams, canonical_order

MICS = np.asarray(LUVIRA_MICS_MM) / 1000.0


def delayed_frames(sources: np.ndarray, n: int = 2048, seed: int = 0) -> Batch:
    """White noise reaching every LuViRA mic with its exact (fractional) propagation delay."""
    rng = np.random.default_rng(seed)
    frames = []
    freqs = np.fft.rfftfreq(4 * n)
    for source in sources:
        spectrum = np.fft.rfft(rng.standard_normal(4 * n))
        delay = np.linalg.norm(MICS - source, axis=1) * SAMPLE_RATE / SPEED_OF_SOUND
        shifted = np.fft.irfft(spectrum * np.exp(-2j * np.pi * freqs * delay[:, None]), 4 * n)
        frames.append(shifted[:, n:2 * n])
    b = len(sources)
    mic_pos = np.broadcast_to(MICS, (b, *MICS.shape)).astype(np.float32)
    return Batch({"signals": np.stack(frames).astype(np.float32), "mic_pos": mic_pos,
                  "mic_true": mic_pos, "source_signal": np.zeros((b, n), np.float32),
                  "source_known": np.zeros(b, bool), "position": sources.astype(np.float32)},
                 {"setup": np.full(b, "1_a"), "mics": np.full(b, 11)})


@pytest.fixture(scope="module")
def frames() -> Batch:
    rng = np.random.default_rng(3)
    return delayed_frames(rng.uniform([-2.0, -2.5, 0.6], [1.8, 1.5, 1.6], size=(12, 3)))


def test_multilat_localizes_anechoic_frames_to_centimetres(frames):
    pred = Multilat().predict(frames)["position"]
    error = np.linalg.norm(pred - frames["position"], axis=1)
    assert np.isfinite(pred).all() and np.median(error) < 0.03 and error.max() < 0.1


def test_multilat_is_exactly_invariant_to_mic_order(frames):
    method = Multilat()
    base = method.predict(frames)["position"]
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(11)
        assert np.array_equal(method.predict(reorder_mics(frames, order))["position"], base)


def test_canonical_order_sorts_by_coordinates():
    pos = np.array([[[1.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1]]])
    assert canonical_order(pos).tolist() == [[2, 1, 0]]


def test_one_peak_per_pair_with_five_mics_fails_the_papers_gate(frames):
    five = reorder_mics(frames, np.arange(5))
    pred = Multilat(MultilatParams(peaks=1)).predict(five)["position"]
    assert np.isnan(pred).all()  # 10 measurements, the gate wants more than 10 (Table 2 "N/A")


def test_baselines_accept_only_setup_1a_and_wav2pos_all(frames):
    batch = Batch(frames.data, {**frames.meta, "setup": np.array(["1_a", "1_b", "2_a"] * 4)})
    for name in ("multilat", "gnn"):
        cls = METHODS.get(name)
        assert cls(cls.card.params()).accepts(batch).tolist() == [True, False, False] * 4
    wav2pos = METHODS.get("wav2pos")
    tiny = {"embed_dim": 16, "depth": 1, "heads": 2, "decoder_dim": 16, "decoder_depth": 1,
            "decoder_heads": 2, "coord_hidden": 8, "tdoa_hidden": 16, "head_hidden": (16, 8),
            "ngcc_channels": 2, "ngcc_sinc_kernel": 31}
    assert wav2pos(wav2pos.card.params(**tiny)).accepts(batch).all()


def test_wav2pos_predicts_every_setup_and_mic_count(frames):
    cls = METHODS.get("wav2pos")
    method = cls(cls.card.params(embed_dim=16, depth=1, heads=2, decoder_dim=16, decoder_depth=1,
                                 decoder_heads=2, coord_hidden=8, tdoa_hidden=16,
                                 head_hidden=(16, 8), ngcc_channels=2, ngcc_sinc_kernel=31))
    for m in (5, 7, 11):
        part = reorder_mics(frames, np.arange(m))
        unknown = part["mic_pos"].copy()
        unknown[:, :2] = np.nan  # setup 2_a: two coordinates unknown
        for batch in (part, Batch({**part.data, "mic_pos": unknown}, part.meta)):
            assert np.isfinite(method.predict(batch)["position"]).all()
