import numpy as np
import pytest

from perloc.metrics.localization import (
    LOCALIZATION_METRICS,
    euclidean_error_cm,
    within_percent,
)


def test_euclidean_not_per_axis_and_truncated_at_3_m():
    true = np.zeros((3, 3))
    pred = np.array([[1.0, 2.0, 2.0], [10.0, 0.0, 0.0], [0.0, 0.1, 0.0]])
    np.testing.assert_allclose(euclidean_error_cm(pred, true), [300.0, 300.0, 10.0])
    pred2 = np.array([[0.1, 0.2, 0.2]])
    assert euclidean_error_cm(pred2, np.zeros((1, 3)))[0] == pytest.approx(30.0)


def test_failed_frames_count_as_the_cap():
    pred = np.array([[np.nan, np.nan, np.nan], [np.inf, 0.0, 0.0]])
    np.testing.assert_array_equal(euclidean_error_cm(pred, np.zeros((2, 3))), [300.0, 300.0])


def test_acc_is_strict_and_cards_reduce():
    pred = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [0.299, 0.0, 0.0], [5.0, 0.0, 0.0]])
    true = np.zeros((4, 3))
    np.testing.assert_array_equal(within_percent(pred, true), [100.0, 0.0, 100.0, 0.0])
    mae, acc = LOCALIZATION_METRICS
    assert mae.score(pred, true) == pytest.approx((0 + 30 + 29.9 + 300) / 4)
    assert acc.score(pred, true) == pytest.approx(50.0)


def test_permutation_of_frames_does_not_change_scores():
    rng = np.random.default_rng(0)
    pred, true = rng.uniform(0, 4, (50, 3)), rng.uniform(0, 4, (50, 3))
    order = rng.permutation(50)
    for card in LOCALIZATION_METRICS:
        assert card.score(pred, true) == pytest.approx(
            card.score(pred[order], true[order]))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        euclidean_error_cm(np.zeros((2, 3)), np.zeros((3, 3)))
