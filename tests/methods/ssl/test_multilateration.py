import numpy as np
import pytest

from perloc.datasets.ssl_schema import SAMPLE_RATE, SPEED_OF_SOUND, tdoa_samples
from perloc.methods.ssl.multilateration import (
    REASON_INLIERS,
    REASON_MEASUREMENTS,
    RansacParams,
    failure_reasons,
    gauss_newton,
    multilaterate,
    multilaterate_batch,
    pair_measurements,
    star_solutions,
    top_peaks,
)

BOX = np.array([6.0, 6.0, 2.0])


def _scene(rng, m):
    """Mics uniform in the 6 x 6 x 2 m box, a source inside, exact all-pair measurements."""
    mics = rng.uniform(0, BOX, (m, 3))
    source = rng.uniform(0.1 * BOX, 0.9 * BOX)
    i, j = np.triu_indices(m, 1)
    dist = np.linalg.norm(mics - source, axis=1)
    return mics, source, i, j, dist[i] - dist[j]


@pytest.mark.parametrize("m", range(5, 12))
def test_exact_tdoas_recover_position(m):
    rng = np.random.default_rng(100 + m)
    mics, source, i, j, d = _scene(rng, m)
    params = RansacParams(min_measurements=10) if m == 5 else RansacParams()
    pos, inliers = multilaterate(mics, i, j, d, params, rng)
    assert np.linalg.norm(pos - source) < 1e-6
    assert inliers == len(d)


def test_default_gate_rejects_five_mics_single_peak():
    """Paper VII: Multilat* (one peak per pair) does not converge for 5 microphones (10 < 11)."""
    rng = np.random.default_rng(5)
    mics, _, i, j, d = _scene(rng, 5)
    pos, inliers = multilaterate(mics, i, j, d, RansacParams(), rng)
    assert np.isnan(pos).all() and inliers == -1
    assert failure_reasons([inliers])[0] == REASON_MEASUREMENTS


@pytest.mark.parametrize("seed", range(6))
def test_gross_outliers_and_noise(seed):
    rng = np.random.default_rng(seed)
    m = 8 + seed % 4
    mics, source, i, j, d = _scene(rng, m)
    d = d + rng.normal(0, 0.01, d.shape)
    bad = rng.choice(len(d), size=round(0.2 * len(d)), replace=False)
    d[bad] = rng.uniform(-3, 3, len(bad))
    pos, inliers = multilaterate(mics, i, j, d, RansacParams(), rng)
    assert np.linalg.norm(pos - source) < 0.05
    assert inliers >= RansacParams().min_inliers


def test_batch_with_multiple_peaks_and_unknown_mics():
    """4 candidates per pair (true one among wrong ones), NaN mic rows, invalid entries."""
    rng = np.random.default_rng(7)
    b, m, k = 6, 9, 4
    mics = rng.uniform(0, BOX, (b, m, 3))
    sources = rng.uniform(0.1 * BOX, 0.9 * BOX, (b, 3))
    pairs = np.stack(np.triu_indices(m, 1), axis=1)
    true = tdoa_samples(sources, mics, pairs)
    offset = rng.integers(10, 80, (b, len(pairs), k)) * rng.choice([-1, 1], (b, len(pairs), k))
    lags = np.round(true)[..., None] + offset  # wrong candidates, > 0.1 m off
    i, j, d, valid = pair_measurements(pairs, lags)
    d[:, 2::k] = true * SPEED_OF_SOUND / SAMPLE_RATE  # third candidate of each pair exact
    mics[1, 0] = np.nan  # unknown mic: its measurements are dropped
    valid[2, 5:] = False  # frame 2: too few measurements
    pos, inliers = multilaterate_batch(mics, i, j, d, valid, RansacParams(), rng)
    solved = [0, 1, 3, 4, 5]
    np.testing.assert_allclose(pos[solved], sources[solved], atol=1e-6)
    assert np.isnan(pos[2]).all() and inliers[2] == -1
    assert list(failure_reasons(inliers)) == ["", "", REASON_MEASUREMENTS, "", "", ""]


def test_top_peaks_known_correlation():
    tau = 10
    corr = np.zeros((2, 1, 2 * tau + 1))
    peaks = {-7: 0.9, 3: 1.0, 8: 0.5, -tau: 0.7}  # includes an end lag
    for lag, value in peaks.items():
        corr[0, 0, lag + tau] = value
    lags = top_peaks(corr, 4)
    np.testing.assert_array_equal(lags[0, 0], [3, -7, -tau, 8])
    assert lags.shape == (2, 1, 4)
    assert np.isnan(top_peaks(corr, 5)[0, 0, 4])  # only 4 local maxima: NaN marker
    np.testing.assert_array_equal(lags[1, 0, :1], [-tau])  # flat: one plateau, at its left end
    assert np.isnan(lags[1, 0, 1:]).all()
    i, j, d, valid = pair_measurements(np.array([[0, 1]]), lags)
    assert list(i) == [0] * 4 and list(j) == [1] * 4
    assert valid[0].all() and list(valid[1]) == [True, False, False, False]
    np.testing.assert_allclose(d[0], lags[0, 0] * SPEED_OF_SOUND / SAMPLE_RATE)


def test_mic_permutation_invariance():
    rng = np.random.default_rng(11)
    mics, source, i, j, d = _scene(rng, 9)
    perm = rng.permutation(9)
    inverse = np.argsort(perm)  # new index of old mic k is inverse[k]
    pos, _ = multilaterate(mics, i, j, d, RansacParams(), np.random.default_rng(1))
    pos_p, _ = multilaterate(mics[perm], inverse[i], inverse[j], d, RansacParams(),
                             np.random.default_rng(2))
    np.testing.assert_allclose(pos, pos_p, atol=1e-6)
    np.testing.assert_allclose(pos, source, atol=1e-6)


def test_star_solver_known_answer():
    rng = np.random.default_rng(3)
    for _ in range(20):
        r_a, r_b = rng.uniform(0, BOX), rng.uniform(0, BOX, (3, 3))
        s = rng.uniform(0, BOX)
        d = np.linalg.norm(s - r_a) - np.linalg.norm(s - r_b, axis=1)
        sols = star_solutions(r_a, r_b, d)
        assert 1 <= len(sols) <= 2
        assert np.min(np.linalg.norm(sols - s, axis=1)) < 1e-8
        for sol in sols:  # every returned solution satisfies the measurements
            got = np.linalg.norm(sol - r_a) - np.linalg.norm(sol - r_b, axis=1)
            np.testing.assert_allclose(got, d, atol=1e-8)


def test_degenerate_collinear_mics_give_nan():
    rng = np.random.default_rng(4)
    m = 8
    mics = np.zeros((m, 3))
    mics[:, 0] = np.sort(rng.uniform(0, 6, m))
    source = np.array([2.0, 3.0, 1.0])
    i, j = np.triu_indices(m, 1)
    dist = np.linalg.norm(mics - source, axis=1)
    with np.errstate(all="raise"):
        pos, inliers = multilaterate(mics, i, j, dist[i] - dist[j], RansacParams(), rng)
    assert np.isnan(pos).all() and inliers == 0
    assert failure_reasons([inliers])[0] == REASON_INLIERS
    assert len(star_solutions(mics[0], mics[1:4], np.zeros(3))) == 0


def test_gauss_newton_converges_from_offset():
    rng = np.random.default_rng(9)
    mics, source, i, j, d = _scene(rng, 7)
    start = source + np.array([0.3, -0.2, 0.1])
    s = gauss_newton(mics[None], i[None], j[None], d[None], np.ones((1, len(d)), bool),
                     start[None])
    np.testing.assert_allclose(s[0], source, atol=1e-8)
