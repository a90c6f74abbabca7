import numpy as np
import pytest

from perloc.bench.core.cards import ratio, sum_and_count
from perloc.metrics.bootstrap import bootstrap_cis, cluster_rows
from perloc.metrics.tdoa import (
    MAE_CM,
    RMSE_CM,
    TDOA_METRICS,
    abs_error_cm,
    cm_per_sample,
    hit_percent,
)


def test_cm_per_sample_is_the_paper_constant():
    assert cm_per_sample() == pytest.approx(2.14375)
    assert 10 / cm_per_sample() == pytest.approx(4.6647, abs=1e-4)


def test_known_answers_mae_rmse():
    pred, true = np.array([0, 2, -3]), np.array([0.0, 0.5, -1.0])
    errors = abs_error_cm(pred, true)
    np.testing.assert_allclose(errors, [0.0, 1.5 * 2.14375, 2 * 2.14375])
    assert MAE_CM.score(pred, true) == pytest.approx(3.5 / 3 * 2.14375)
    rmse = np.sqrt((1.5**2 + 2**2) / 3) * 2.14375
    assert RMSE_CM.score(pred, true) == pytest.approx(rmse)


def test_accuracy_threshold_is_strict_and_in_percent():
    # 4.6647 samples is 10 cm: 4.66 samples is a hit, 4.67 is a miss
    true = np.zeros(3)
    pred = np.array([4.66, 4.67, 10 / 2.14375])
    np.testing.assert_array_equal(hit_percent(pred, true, 10.0), [100.0, 0.0, 0.0])
    names = [card.name for card in TDOA_METRICS]
    assert names == ["mae_cm", "rmse_cm", "acc_10cm", "acc_8cm", "acc_6cm", "acc_4cm", "acc_2cm"]
    acc10 = TDOA_METRICS[2]
    assert acc10.score(np.array([0, 0, 5, 9]), np.zeros(4)) == pytest.approx(50.0)


def test_integer_estimator_on_real_delay_has_rounding_error():
    true = np.array([2.5, -0.5])
    assert MAE_CM.score(np.round(true + 1e-9), true) == pytest.approx(0.5 * 2.14375)


def test_state_rows_add_up_to_the_batch_score():
    """Splitting a batch anywhere and summing the update rows gives the whole batch's score."""
    rng = np.random.default_rng(4)
    pred, true = rng.integers(-20, 20, 50), rng.normal(0, 8, 50)
    for card in TDOA_METRICS:
        rows = card.rows(pred, true)
        halves = card.rows(pred[:17], true[:17]).sum(0) + card.rows(pred[17:], true[17:]).sum(0)
        assert card.value(halves) == pytest.approx(card.value(rows.sum(0)))
    errors = np.abs(pred - true) * 2.14375
    assert RMSE_CM.score(pred, true) == pytest.approx(np.sqrt(np.mean(errors ** 2)))


def _mean_ci(values, **kwargs):
    return bootstrap_cis([sum_and_count(values)], [ratio], **kwargs)[0]


def test_bootstrap_ci_brackets_the_estimate_and_is_deterministic():
    values = np.random.default_rng(1).normal(5.0, 1.0, size=400)
    a = _mean_ci(values, rng=np.random.default_rng(3))
    b = _mean_ci(values, rng=np.random.default_rng(3))
    assert a == b
    assert a[0] < values.mean() < a[1]
    # a 95% CI of the mean is about +-1.96 sigma/sqrt(n)
    assert a[1] - a[0] == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.2)


def test_bootstrap_cis_share_resamples_and_handle_edge_cases():
    ones = np.ones(50)
    rms = lambda s: np.sqrt(ratio(s))  # noqa: E731
    (lo, hi), (lo2, hi2) = bootstrap_cis([sum_and_count(ones), sum_and_count(4 * ones)],
                                         [ratio, rms], rng=np.random.default_rng(0))
    assert (lo, hi, lo2, hi2) == (1.0, 1.0, 2.0, 2.0)
    assert all(np.isnan(_mean_ci(np.array([]), rng=np.random.default_rng(0))))
    assert _mean_ci(np.array([1.0, 3.0]), n_resamples=0, rng=np.random.default_rng(0)) == (2.0, 2.0)


def test_clustered_bootstrap_is_wider_when_units_are_correlated():
    """Ten utterances, each with 30 identical windows: resampling windows pretends 300
    independent examples; resampling utterances gives the honest (wider) interval, close to
    the CI of ten independent values."""
    per_utterance = np.random.default_rng(2).normal(0.0, 1.0, 10)
    values = np.repeat(per_utterance, 30)
    units = np.repeat(np.arange(10), 30)
    rows = sum_and_count(values)
    naive = bootstrap_cis([rows], [ratio], rng=np.random.default_rng(0))[0]
    honest = bootstrap_cis([cluster_rows(rows, units)], [ratio], rng=np.random.default_rng(0))[0]
    ten = _mean_ci(per_utterance, rng=np.random.default_rng(0))
    assert honest[1] - honest[0] > 4 * (naive[1] - naive[0])
    assert honest == pytest.approx(ten)
