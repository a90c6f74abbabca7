"""SELD targets: ADPIT slots, Paper VI's TDOA classes for the spec §6.3 geometry cases, and
the ACS channel swaps checked against a free-field simulation."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.datasets.dcase_csv import DcaseEvents, polar_to_unit
from perloc.datasets.seld_labels import (
    ACS_TRANSFORMS,
    IGNORE,
    MIC_POSITIONS,
    TAU_MAX,
    adpit_labels,
    pair_tdoa,
    swap_channels,
    tdoa_targets,
)


def events(*rows):
    frame, cls, az, el, dist = (np.asarray(c) for c in zip(*rows, strict=True))
    return DcaseEvents(frame.astype(np.int64), cls.astype(np.int64),
                       np.arange(len(rows), dtype=np.int64), polar_to_unit(az, el),
                       dist.astype(float))


def test_capsules_are_the_published_tetrahedron():
    np.testing.assert_allclose(MIC_POSITIONS, [[0.02433, 0.02433, 0.02409],
                                               [0.02433, -0.02433, -0.02409],
                                               [-0.02433, 0.02433, -0.02409],
                                               [-0.02433, -0.02433, 0.02409]], atol=1e-5)


@pytest.mark.parametrize("az, el, dist, lags", [
    (0, 0, 2.0, [0, -3, -3, -3, -3, 0]),
    (90, 0, 2.0, [-3, 0, -3, 3, 0, -3]),
    (0, 90, 1.0, [-3, -3, 0, 0, 3, 3]),
    (180, 0, 3.0, [0, 3, 3, 3, 3, 0]),
])
def test_tdoa_of_the_spec_geometry_cases(az, el, dist, lags):
    assert pair_tdoa(polar_to_unit(az, el) * dist).tolist() == lags
    labels = adpit_labels(events((0, 3, az, el, dist)), 1)
    targets = tdoa_targets(labels, np.random.default_rng(0))
    assert targets[0, 0].tolist() == [lag + TAU_MAX for lag in lags]
    assert np.all(targets[0, 1:] == IGNORE)


def test_adpit_slots():
    ev = events((0, 2, 0, 0, 1.0),  # one instance -> A0
                (1, 4, 90, 0, 2.0), (1, 4, -90, 0, 3.0),  # two -> B0, B1 in file order
                (2, 4, 0, 0, 1.0), (2, 4, 90, 0, 1.5), (2, 4, 180, 0, 2.0), (2, 4, 0, 90, 2.5),
                (9, 1, 0, 0, 1.0))  # past the last frame: dropped
    labels = adpit_labels(ev, 3)
    assert labels.shape == (3, 6, 5, 13)
    np.testing.assert_allclose(labels[0, 0, :, 2], [1, 1, 0, 0, 1.0], atol=1e-7)
    assert labels[0].sum() == pytest.approx(3.0)  # nothing else in frame 0
    np.testing.assert_allclose(labels[1, 1, :, 4], [1, 0, 1, 0, 2.0], atol=1e-7)
    np.testing.assert_allclose(labels[1, 2, :, 4], [1, 0, -1, 0, 3.0], atol=1e-7)
    assert labels[1, [0, 3, 4, 5], 0].sum() == 0
    assert labels[2, 3:, 0, 4].tolist() == [1, 1, 1] and labels[2, :3, 0].sum() == 0
    np.testing.assert_allclose(labels[2, 5, 1:, 4], [-1, 0, 0, 2.0], atol=1e-7)  # the 4th: gone


def test_tdoa_targets_take_a_and_b_slots_and_skip_c_and_empty_frames():
    ev = events((0, 1, 0, 0, 2.0), (0, 5, 90, 0, 2.0), (0, 5, 180, 0, 3.0),  # A + B0 + B1
                (1, 7, 0, 0, 1.0), (1, 7, 90, 0, 1.0), (1, 7, 180, 0, 1.0))  # C slots only
    targets = tdoa_targets(adpit_labels(ev, 3), np.random.default_rng(1))
    assert targets[0, 0].tolist() == [6, 3, 3, 3, 3, 6]  # az 0 first: slot A0
    assert sorted(map(tuple, targets[0, 1:].tolist())) == sorted(
        [tuple(v + 6 for v in [-3, 0, -3, 3, 0, -3]), tuple(v + 6 for v in [0, 3, 3, 3, 3, 0])])
    assert np.all(targets[1:] == IGNORE)


def _arrivals(sources: np.ndarray) -> np.ndarray:
    return np.linalg.norm(sources[:, None, :] - MIC_POSITIONS, axis=-1)  # [N, 4] metres


@pytest.mark.parametrize("index", range(len(ACS_TRANSFORMS)))
def test_channel_swaps_match_a_free_field_simulation(index):
    # a broadband recording of a source at d and of one at g(d): the swapped channels of the
    # first equal the second (delays applied as exact phase shifts)
    rng = np.random.default_rng(index)
    az, el = rng.uniform(-180, 180, 1), rng.uniform(-60, 60, 1)
    ev = events((0, 0, az[0], el[0], 2.0))
    noise = np.fft.rfft(rng.normal(size=4096))
    freqs = np.fft.rfftfreq(4096, 1 / 24_000)

    def record(source):
        delays = _arrivals(source[None])[0] / 343.0
        return np.fft.irfft(noise * np.exp(-2j * np.pi * freqs * delays[:, None]), n=4096)

    audio = record(ev.xyz[0] * 2.0)
    swapped, moved = swap_channels(audio, ev, index)
    np.testing.assert_allclose(swapped, record(moved.xyz[0] * 2.0), atol=1e-9)
    assert moved.dist.tolist() == [2.0]


def test_the_eight_swaps_are_distinct_permutations():
    orders = {order for _, _, order in ACS_TRANSFORMS}
    assert len(orders) == 8 and all(sorted(o) == [0, 1, 2, 3] for o in orders)
