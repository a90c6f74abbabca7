"""SRP-PHAT with oracle detection finds a free-field source's direction on the tetrahedron."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.bench.core.batch import Batch
from perloc.datasets.dcase_csv import DcaseEvents, polar_to_unit
from perloc.datasets.seld_labels import MIC_POSITIONS
from perloc.methods.seld.srp import SrpParams, SrpPhat


def _recording(direction: np.ndarray, n: int, rng) -> np.ndarray:
    """Broadband noise from a source 2 m away, each capsule's delay as an exact phase shift."""
    source = direction * 2.0
    delays = np.linalg.norm(source - MIC_POSITIONS, axis=1) / 343.0
    noise = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1 / 24_000)
    return np.fft.irfft(noise * np.exp(-2j * np.pi * freqs * delays[:, None]), n=n)


@pytest.mark.parametrize("az, el", [(30, 10), (-120, 40), (170, -20)])
def test_srp_points_at_the_source_and_takes_the_reference_class(az, el):
    rng = np.random.default_rng(az + 360)
    direction = polar_to_unit(az, el)
    audio = _recording(direction, 4 * 2400, rng)
    truth = DcaseEvents(np.array([1, 2]), np.array([7, 7]), np.zeros(2, np.int64),
                        np.stack([direction, direction]), np.array([2.0, 2.0]))
    audio_col, events_col = np.empty(1, dtype=object), np.empty(1, dtype=object)
    audio_col[0], events_col[0] = audio, truth
    pred = SrpPhat(SrpParams(grid_deg=5.0)).predict(
        Batch({"audio": audio_col, "events": events_col}))["events"][0]
    assert pred.frame.tolist() == [1, 2] and pred.cls.tolist() == [7, 7]
    angle = np.degrees(np.arccos(np.clip(pred.xyz @ direction, -1, 1)))
    assert angle.max() < 8.0  # 5-degree grid
    assert pred.dist.tolist() == [2.0, 2.0]
