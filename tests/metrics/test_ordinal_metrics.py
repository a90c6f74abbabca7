"""Paper I metrics on hand-computed vectors (spec dold_pointtnt.md §3.1, §9.1)."""

from __future__ import annotations

import math

import numpy as np

from perloc.metrics.ordinal import ACCURACY, ANGLE_MAES, MAE


def test_mae_in_years_on_a_hand_vector():
    # |30-25| + |41-40| + |20-22| = 8 over 3 images
    assert math.isclose(MAE.score(np.array([[30.0], [41.0], [20.0]]),
                                  np.array([[25.0], [40.0], [22.0]])), 8 / 3)


def test_biwi_average_is_the_mean_of_the_three_angle_maes():
    pred = np.array([[1.0, 2.0, 3.0], [-4.0, 0.0, 10.0]])
    true = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 4.0]])
    # yaw: (1 + 4)/2 = 2.5, pitch: (2 + 1)/2 = 1.5, roll: (3 + 6)/2 = 4.5; average 8.5/3
    yaw, pitch, roll = (card.score(pred, true) for card in ANGLE_MAES)
    assert (yaw, pitch, roll) == (2.5, 1.5, 4.5)
    assert math.isclose(MAE.score(pred, true), 8.5 / 3)


def test_angle_maes_do_not_apply_to_one_dimensional_targets():
    assert math.isnan(ANGLE_MAES[0].score(np.array([[1.0]]), np.array([[2.0]])))


def test_hci_direct_accuracy_rounds_but_its_mae_does_not():
    pred = np.array([[1.4], [2.6], [4.7], [0.2]])
    true_class = np.array([1, 2, 4, 1])
    # rounded: 1, 3, 4 (clipped from 5), 0 -> correct, wrong, correct, wrong
    assert ACCURACY.score(pred, true_class) == 50.0
    # MAE on the unrounded values: .4 + .6 + .7 + .8 = 2.5 over 4
    assert math.isclose(MAE.score(pred, true_class[:, None].astype(float)), 0.625)


def test_accuracy_does_not_apply_to_continuous_targets():
    assert math.isnan(ACCURACY.score(np.array([[30.0]]), np.array([-1])))
