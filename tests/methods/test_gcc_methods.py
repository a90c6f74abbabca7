"""The registered classical TDOA methods on speech: exact integer delays, anechoic rooms."""

import numpy as np
import pytest

from perloc.bench.core.batch import Batch
from perloc.bench.core.registry import METHODS
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.sim.rooms import TEST_ROOM, compute_rir, reverberate, sample_sources, true_tdoa


@pytest.fixture(scope="module")
def speech(smoke_corpus):
    (_, signal), *_ = LibriSpeech(smoke_corpus).trimmed("test", limit=1)
    return signal


def _delayed_pairs(speech, delays, n=2048):
    """x1[t] = s[t - d], x2[t] = s[t]: x1 lags by d samples, so the true TDOA is +d."""
    start = 4000
    pairs = [np.stack([speech[start - d:start - d + n], speech[start:start + n]]) for d in delays]
    return np.stack(pairs).astype(np.float32)


@pytest.mark.parametrize("method", ["gcc-phat", "gcc-scot", "gcc-roth", "gcc-cc"])
def test_integer_delays_recovered_exactly(speech, method):
    delays = np.arange(-23, 24)
    batch = Batch({"signals": _delayed_pairs(speech, delays)})
    predicted = METHODS.get(method)().predict(batch)["tau"]
    np.testing.assert_array_equal(predicted, delays)


def test_anechoic_room_estimates_round_to_the_true_delay(speech):
    rng = np.random.default_rng(0)
    sources = sample_sources(TEST_ROOM, 8, rng)
    signals, taus = [], []
    for source in sources:
        clean = reverberate(compute_rir(TEST_ROOM, source, 0.0), speech)
        start = 8000  # well inside the utterance, away from the start-up transient
        signals.append(clean[:, start:start + 2048])
        taus.append(true_tdoa(np.array(TEST_ROOM.mics), source))
    predicted = METHODS.get("gcc-phat")().predict(Batch({"signals": np.stack(signals)}))["tau"]
    assert np.all(np.abs(predicted - np.array(taus)) <= 0.5 + 1e-6)


def test_aliases_resolve():
    assert METHODS.canonical("phat") == "gcc-phat"
    assert METHODS.canonical("cc") == "gcc-cc"
