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


# ------------------------------------------------------------------ the task's summable cards


def _truth(scene, points_i, points_j, T=None):
    from perloc.datasets.matching_data import PairTruth

    return PairTruth(scene, points_i, points_j, np.eye(4) if T is None else T)


def _score(pairs, n_scenes=3):
    """Score (pred, truth) pairs through the cards, summing their rows as the harness does."""
    from perloc.metrics.points import matching_cards

    cards = matching_cards(n_scenes)
    pred = np.empty(len(pairs), dtype=object)
    truth = np.empty(len(pairs), dtype=object)
    for r, (p, t) in enumerate(pairs):
        pred[r], truth[r] = p, t
    rows = cards[0].rows(pred, truth)
    assert all(c.rows(pred, truth) is rows for c in cards)  # one matching pass per batch
    return {c.name: c.value(rows.sum(axis=0)) for c in cards}


def test_identity_transform_with_identical_descriptors_recalls_every_pair():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 5, (200, 3))
    desc = rng.normal(size=(200, 32))
    scores = _score([((desc, desc), _truth(0, pts, pts)), ((desc, desc), _truth(2, pts, pts))])
    assert scores == {"fmr": 100.0, "fmr_std": 0.0, "inlier_ratio": 100.0}


def test_pure_outliers_give_zero():
    rng = np.random.default_rng(1)
    pts_i = rng.uniform(0, 5, (100, 3))
    pts_j = pts_i + (10.0, 0.0, 0.0)  # every match 10 m off under the identity T
    desc = rng.normal(size=(100, 8))
    scores = _score([((desc, desc), _truth(1, pts_i, pts_j))])
    assert scores == {"fmr": 0.0, "fmr_std": 0.0, "inlier_ratio": 0.0}


def test_cards_average_scenes_not_pairs_and_keep_tau_edges():
    """Scene 0: one pair at ratio exactly 0.05 (fails, strict) and one at 0.1 (succeeds);
    scene 1: one pair at 0.1 -> FMR = (0.5 + 1) / 2 = 75 %, pooled over pairs it would be
    2/3; std over scenes 25 %; mean ratio (0.05 + 0.1 + 0.1) / 3."""
    def pair(n_in, n):
        offsets = [0.0999] * n_in + [0.10] * (n - n_in)  # 0.10 exactly is an outlier
        args = _pair(offsets)
        return (args[1], args[3]), args[0], args[2]

    rows = []
    for scene, (n_in, n) in ((0, (1, 20)), (0, (1, 10)), (1, (1, 10))):
        desc, p_i, p_j = pair(n_in, n)
        rows.append((desc, _truth(scene, p_i, p_j)))
    scores = _score(rows)
    assert math.isclose(scores["fmr"], 75.0) and math.isclose(scores["fmr_std"], 25.0)
    assert math.isclose(scores["inlier_ratio"], 100 * (0.05 + 0.1 + 0.1) / 3)
