"""luvira-sim's real-recording impairments: the carrier's torso shadows the direct sound of the
microphones behind the walker, and microphones 7 and 9 are noisy in some seconds."""

from __future__ import annotations

import numpy as np

from perloc.datasets.synth.luvira_sim import (
    BODY_BEHIND,
    BODY_RADIUS,
    _body_axes,
    noisy_stretches,
    shadowed,
)


def test_only_microphones_behind_the_torso_are_shadowed():
    speaker = np.array([0.0, 0.0, 1.2])
    axis = np.array([-BODY_BEHIND, 0.0])  # walking towards +x: torso behind, at -x
    mics = np.array([[-3.0, 0.0, 1.5],   # straight behind: through the torso
                     [-3.0, 0.5, 0.2],   # behind, 0.5 m aside at 3 m: the path passes the
                     #                     axis at 0.3 / 3 * 0.5 = 0.05 m < radius
                     [-3.0, 3.0, 1.5],   # 45 degrees aside: the path misses the torso
                     [3.0, 0.0, 1.5],    # in front
                     [0.0, 2.0, 0.2]])   # beside
    np.testing.assert_array_equal(shadowed(speaker, axis, mics),
                                  [True, True, False, False, False])
    assert BODY_RADIUS < BODY_BEHIND  # the loudspeaker itself is in front of the torso


def test_the_torso_trails_the_walking_direction():
    t = np.arange(0, 2, 0.01)
    path = np.column_stack([0.8 * t, np.zeros_like(t), np.full_like(t, 1.2)])  # +x at 0.8 m/s
    blocks = np.array([0.5, 1.0])
    pos = np.column_stack([0.8 * blocks, [0, 0], [1.2, 1.2]])
    np.testing.assert_allclose(_body_axes(path, blocks, pos),
                               [[0.4 - BODY_BEHIND, 0], [0.8 - BODY_BEHIND, 0]], atol=1e-9)


def test_noisy_stretches_are_whole_seconds_at_zero_to_ten_db():
    track = np.sin(np.arange(16_000 * 40) * 0.05)
    out = noisy_stretches(track, np.random.default_rng(0))
    noise = (out - track).reshape(40, 16_000)
    hit = np.abs(noise).max(axis=1) > 0
    assert 4 <= hit.sum() <= 20  # about 30 % of 40 seconds
    active = np.percentile(np.abs(track), 95)
    snr = 20 * np.log10(active / noise[hit].std(axis=1))
    assert (snr > -0.5).all() and (snr < 10.5).all()
