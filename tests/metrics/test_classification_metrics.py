"""Known answers and invariances of the classification metrics (Paper III)."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.metrics.classification import (
    ACCURACY,
    confusion_counts,
    correct_percent,
    per_class_accuracy,
)


def test_accuracy_known_answer():
    pred = np.array([0, 1, 2, 2, 1])
    true = np.array([0, 1, 1, 2, 0])
    assert ACCURACY.score(pred, true) == pytest.approx(60.0)


def test_confusion_rows_are_true_classes_and_sum_to_class_counts():
    pred = np.array([0, 1, 2, 2, 1, 0])
    true = np.array([0, 1, 1, 2, 0, 0])
    counts = confusion_counts(pred, true, 3)
    assert counts.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert counts.sum(axis=1).tolist() == np.bincount(true, minlength=3).tolist()
    assert np.trace(counts) / counts.sum() * 100 == pytest.approx(
        correct_percent(pred, true).mean())


def test_per_class_accuracy_is_the_recall_of_each_class():
    counts = confusion_counts(np.array([0, 1, 2, 2]), np.array([0, 0, 2, 2]), 4)
    np.testing.assert_allclose(per_class_accuracy(counts), [50.0, np.nan, 100.0, np.nan])


def test_accuracy_is_invariant_to_the_order_of_clips_and_renaming_classes():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 12, 200)
    pred = np.where(rng.random(200) < 0.7, true, rng.integers(0, 12, 200))
    order = rng.permutation(200)
    rename = rng.permutation(12)
    base = correct_percent(pred, true).mean()
    assert correct_percent(pred[order], true[order]).mean() == base
    assert correct_percent(rename[pred], rename[true]).mean() == base


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="share a shape"):
        correct_percent(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="0..2"):
        confusion_counts(np.array([3]), np.array([0]), 3)
