"""Paper II metrics on hand-built answers (spec dold_pointtnt.md §9.1)."""

from __future__ import annotations

import math

import numpy as np

from perloc.metrics.points import (
    feature_match_recall,
    inlier_ratio,
    mean_class_accuracy,
    mutual_matches,
)


def test_mean_class_accuracy_differs_from_overall_accuracy_on_a_hand_count():
    # class 0: 4 objects, 3 right; class 1: 1 object, 0 right; class 2: never in the truth
    true = np.array([0, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 2, 0])
    card = mean_class_accuracy(3)
    assert math.isclose(card.score(pred, true), 100 * (3 / 4 + 0 / 1) / 2)  # 37.5; OA is 60
    halves = card.rows(pred[:2], true[:2]).sum(0) + card.rows(pred[2:], true[2:]).sum(0)
    assert math.isclose(card.value(halves), 37.5)


def _pair(distances):
    """Keypoints of i on the x axis and of j offset by ``distances`` along y, identity T,
    descriptors that make every index its own mutual match."""
    n = len(distances)
    points_i = np.stack([np.arange(n) * 10.0, np.zeros(n), np.zeros(n)], axis=1)
    points_j = points_i + np.stack([np.zeros(n), np.asarray(distances), np.zeros(n)], axis=1)
    desc = np.eye(n)
    return points_i, desc, points_j, desc.copy(), np.eye(4)


def test_one_inlier_in_ten_gives_ratio_point_one_and_the_pair_succeeds():
    ratio = inlier_ratio(*_pair([0.099] + [0.5] * 9))
    assert math.isclose(ratio, 0.1)
    assert feature_match_recall([ratio], ["s"])["fmr"] == 1.0


def test_the_thresholds_are_strict():
    assert inlier_ratio(*_pair([0.10] * 4)) == 0.0  # exactly tau1 is not an inlier
    assert feature_match_recall([0.05], ["s"])["fmr"] == 0.0  # exactly tau2 fails
    assert feature_match_recall([0.0501], ["s"])["fmr"] == 1.0


def test_ground_truth_transform_is_applied_j_into_i():
    points_i, desc_i, _, desc_j, _ = _pair([0.0] * 5)
    T = np.eye(4)
    T[:3, 3] = (1.0, 2.0, 3.0)  # j's frame is i's shifted back by (1, 2, 3)
    points_j = points_i - (1.0, 2.0, 3.0)
    assert inlier_ratio(points_i, desc_i, points_j, desc_j, T) == 1.0
    assert inlier_ratio(points_i, desc_i, points_j, desc_j, np.eye(4)) == 0.0


def test_mutual_matches_drop_one_sided_neighbours():
    a = np.array([[0.0], [1.0], [1.1]])
    b = np.array([[0.05], [1.04]])
    ia, ib = mutual_matches(a, b)
    # a0 <-> b0 mutual; a1 and a2 both pick b1, whose nearest is a1 (0.04 against 0.06)
    assert ia.tolist() == [0, 1] and ib.tolist() == [0, 1]


def test_fmr_is_the_mean_over_scenes_with_the_population_std():
    result = feature_match_recall([0.2, 0.0, 0.3, 0.3, 0.3], ["a", "a", "b", "b", "b"])
    assert result["per_scene"] == {"a": 0.5, "b": 1.0}
    assert math.isclose(result["fmr"], 0.75) and math.isclose(result["std"], 0.25)
