"""Paper II training pieces: smoothed cross-entropy, the per-sample augmentation and RSMix."""

from __future__ import annotations

import math

import numpy as np
import torch

from perloc.datasets.points_data import rsmix, scale_shift
from perloc.methods.points.classifiers import smoothed_ce


def test_smoothed_ce_puts_one_minus_eps_on_the_label_and_the_rest_evenly():
    # uniform logits over C = 5: every log p = -log 5, whatever q is
    loss = smoothed_ce(torch.zeros(1, 5), torch.tensor([2]), eps=0.2)
    assert math.isclose(float(loss), math.log(5), rel_tol=1e-6)
    # logits favouring class 0: q = (0.8, 0.05, 0.05, 0.05, 0.05)
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0]])
    log_p = torch.log_softmax(logits, dim=1)[0]
    expected = -(0.8 * log_p[0] + 0.05 * log_p[1:].sum())
    assert math.isclose(float(smoothed_ce(logits, torch.tensor([0]), 0.2)), float(expected),
                        rel_tol=1e-6)


def test_scale_and_shift_stay_in_the_paper_ranges():
    ones = np.ones((200, 1, 3), dtype=np.float32)
    zeros = np.zeros((200, 1, 3), dtype=np.float32)
    shift = scale_shift(zeros, np.random.default_rng(0))
    scaled = scale_shift(ones, np.random.default_rng(0)) - shift  # the scale alone
    assert shift.min() >= -0.2 and shift.max() <= 0.2
    assert scaled.min() >= 2 / 3 - 1e-6 and scaled.max() <= 1.5 + 1e-6


def test_rsmix_inserts_the_partners_ball_and_reports_its_share():
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(size=(1, 64, 3)), 0.5 * rng.normal(size=(1, 64, 3))]
                            ).astype(np.float32)
    labels = np.array([4, 9])
    seed = next(s for s in range(50)  # a draw where the two clouds swap and the balls hold points
                if (m := rsmix(points, labels, np.random.default_rng(s), nsample=16)
                    ).label_b.tolist() == [9, 4] and m.lam.min() > 0)
    mixed = rsmix(points, labels, np.random.default_rng(seed), nsample=16)
    for i in range(2):
        moved = np.flatnonzero(np.any(mixed.points[i] != points[i], axis=1))
        assert 0 < len(moved) <= 16 and math.isclose(mixed.lam[i], len(moved) / 64)
        # the inserted points are a rigidly translated piece of the partner cloud
        inserted, partner = mixed.points[i, moved], points[1 - i]
        rel = inserted - inserted[0]
        assert any(np.abs(partner[None, :, :] - (rel[:, None, :] + x)).sum(-1).min(1).max()
                   < 1e-4 for x in partner)
    assert mixed.points.shape == points.shape
