import numpy as np
import pytest

from perloc.metrics.bootstrap import bootstrap_ci, bootstrap_cis
from perloc.metrics.tdoa import (
    MAE_CM,
    RMSE_CM,
    TDOA_METRICS,
    abs_error_cm,
    cm_per_sample,
    hit_percent,
    mean,
    root_mean_square,
)


def test_cm_per_sample_is_the_paper_constant():
    assert cm_per_sample() == pytest.approx(2.14375)
    assert 10 / cm_per_sample() == pytest.approx(4.6647, abs=1e-4)


def test_known_answers_mae_rmse():
    pred, true = np.array([0, 2, -3]), np.array([0.0, 0.5, -1.0])
    errors = abs_error_cm(pred, true)
    np.testing.assert_allclose(errors, [0.0, 1.5 * 2.14375, 2 * 2.14375])
    assert MAE_CM.score(MAE_CM.values(pred, true)) == pytest.approx(3.5 / 3 * 2.14375)
    rmse = np.sqrt((1.5**2 + 2**2) / 3) * 2.14375
    assert RMSE_CM.score(RMSE_CM.values(pred, true)) == pytest.approx(rmse)


def test_accuracy_threshold_is_strict_and_in_percent():
    # 4.6647 samples is 10 cm: 4.66 samples is a hit, 4.67 is a miss
    true = np.zeros(3)
    pred = np.array([4.66, 4.67, 10 / 2.14375])
    np.testing.assert_array_equal(hit_percent(pred, true, 10.0), [100.0, 0.0, 0.0])
    names = [card.name for card in TDOA_METRICS]
    assert names == ["mae_cm", "rmse_cm", "acc_10cm", "acc_8cm", "acc_6cm", "acc_4cm", "acc_2cm"]
    acc10 = TDOA_METRICS[2]
    assert acc10.score(acc10.values(np.array([0, 0, 5, 9]), np.zeros(4))) == pytest.approx(50.0)


def test_integer_estimator_on_real_delay_has_rounding_error():
    true = np.array([2.5, -0.5])
    assert MAE_CM.score(MAE_CM.values(np.round(true + 1e-9), true)) == pytest.approx(0.5 * 2.14375)


def test_reductions_act_on_last_axis():
    values = np.array([[3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(mean(values), [3.5, 1.0])
    np.testing.assert_allclose(root_mean_square(values), [np.sqrt(12.5), 1.0])


def test_bootstrap_ci_brackets_the_estimate_and_is_deterministic():
    values = np.random.default_rng(1).normal(5.0, 1.0, size=400)
    a = bootstrap_ci(values, mean, rng=np.random.default_rng(3))
    b = bootstrap_ci(values, mean, rng=np.random.default_rng(3))
    assert a == b
    assert a[0] < values.mean() < a[1]
    # a 95% CI of the mean is about +-1.96 sigma/sqrt(n)
    assert a[1] - a[0] == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.2)


def test_bootstrap_cis_share_resamples_and_handle_edge_cases():
    ones = np.ones(50)
    (lo, hi), (lo2, hi2) = bootstrap_cis([ones, 2 * ones], [mean, root_mean_square],
                                         rng=np.random.default_rng(0))
    assert (lo, hi, lo2, hi2) == (1.0, 1.0, 2.0, 2.0)
    assert all(np.isnan(bootstrap_ci(np.array([]), mean, rng=np.random.default_rng(0))))
    assert bootstrap_ci(np.array([1.0, 3.0]), mean, n_resamples=0,
                        rng=np.random.default_rng(0)) == (2.0, 2.0)
