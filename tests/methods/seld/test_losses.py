"""ADPIT and the multi-target PIT loss: values worked out by hand on one frame, and their
invariance to permuting the output tracks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from perloc.datasets.dcase_csv import DcaseEvents, polar_to_unit
from perloc.datasets.seld_labels import adpit_labels
from perloc.methods.seld.losses import ARRANGEMENTS, IGNORE, adpit_loss, pit_tdoa_loss


def _labels(*rows, frames=1):
    frame, cls, az, el, dist = (np.asarray(c) for c in zip(*rows, strict=True))
    ev = DcaseEvents(frame.astype(np.int64), cls.astype(np.int64), np.zeros(len(rows), np.int64),
                     polar_to_unit(az, el), dist.astype(float))
    return torch.from_numpy(adpit_labels(ev, frames))[None]  # [1, T, 6, 5, 13]


def _output(*tracks, cls=0):
    out = torch.zeros(1, 1, 3, 4, 13)
    for k, value in enumerate(tracks):
        out[0, 0, k, :, cls] = torch.tensor(value, dtype=torch.float32)
    return out


def test_thirteen_arrangements():
    assert len(ARRANGEMENTS) == 13 and len({slots for slots, _ in ARRANGEMENTS}) == 13


def test_one_instance_by_hand():
    labels = _labels((0, 0, 0, 0, 2.0))  # class 0 at (1, 0, 0), 2 m: slot A0
    assert adpit_loss(_output(*[(1, 0, 0, 2)] * 3), labels).item() == pytest.approx(0, abs=1e-6)
    only_first = _output((1, 0, 0, 2))
    # tracks 1 and 2 miss (1, 0, 0, 2): 2 x (1 + 4) over 12 values, one of 13 classes
    assert adpit_loss(only_first, labels, relative_distance=False).item() == \
        pytest.approx(10 / 12 / 13, rel=1e-5)
    # the distance term divided by 2 + 0.001
    assert adpit_loss(only_first, labels).item() == \
        pytest.approx(2 * (1 + 4 / 2.001) / 12 / 13, rel=1e-5)


def test_two_instances_by_hand():
    labels = _labels((0, 0, 0, 0, 1.0), (0, 0, 90, 0, 1.0))  # B0 (1,0,0), B1 (0,1,0)
    b0, b1 = (1, 0, 0, 1), (0, 1, 0, 1)
    for tracks in ((b0, b1, b1), (b1, b0, b0), (b0, b0, b1), (b1, b1, b0)):
        assert adpit_loss(_output(*tracks), labels).item() == pytest.approx(0, abs=1e-6)
    # all three on B0: the best arrangement misses one track by (1, -1, 0, 0)
    assert adpit_loss(_output(b0, b0, b0), labels).item() == pytest.approx(2 / 12 / 13, rel=1e-5)


def test_three_instances_by_hand():
    labels = _labels((0, 0, 0, 0, 1.0), (0, 0, 90, 0, 2.0), (0, 0, 180, 0, 3.0))
    c = [(1, 0, 0, 1), (0, 1, 0, 2), (-1, 0, 0, 3)]
    assert adpit_loss(_output(c[2], c[0], c[1]), labels).item() == pytest.approx(0, abs=1e-6)
    # two tracks on C0 leave C2 unmatched whatever the permutation: the best pairs the second
    # C0 with C1 ((1,-1,0,-1)^2 = 3, /2.001 on the distance) or C2 ((2,0,0,-2)^2 = 8)
    expected = (1 + 1 + 1 / 2.001) / 12 / 13
    assert adpit_loss(_output(c[0], c[0], c[2]), labels).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_adpit_is_invariant_to_permuting_output_tracks(seed):
    rng = np.random.default_rng(seed)
    rows = [(int(rng.integers(4)), int(rng.integers(3)), rng.uniform(-180, 180),
             rng.uniform(-40, 60), rng.uniform(0.5, 4)) for _ in range(12)]
    labels = _labels(*rows, frames=4)
    output = torch.from_numpy(rng.normal(size=(1, 4, 3, 4, 13)).astype(np.float32))
    base = adpit_loss(output, labels)
    for perm in ([1, 0, 2], [2, 0, 1], [2, 1, 0]):
        assert adpit_loss(output[:, :, perm], labels).item() == pytest.approx(base.item(),
                                                                             rel=1e-6)


def _one_hot(*lags, scale=60.0):
    logits = torch.zeros(1, len(lags), 13)
    for k, lag in enumerate(lags):
        logits[0, k, lag] = scale
    return logits


def test_pit_is_zero_on_one_hot_permuted_targets_and_any_duplicate():
    targets = torch.tensor([[3, 7, 9]])
    assert pit_tdoa_loss(_one_hot(9, 3, 7), targets).item() == pytest.approx(0, abs=1e-6)
    two = torch.tensor([[3, 7, IGNORE]])
    for lags in ((3, 7, 7), (3, 7, 3), (7, 3, 3), (7, 7, 3)):
        assert pit_tdoa_loss(_one_hot(*lags), two).item() == pytest.approx(0, abs=1e-6)
    one = torch.tensor([[5, IGNORE, IGNORE]])
    assert pit_tdoa_loss(_one_hot(5, 5, 5), one).item() == pytest.approx(0, abs=1e-6)
    assert pit_tdoa_loss(_one_hot(5, 5, 4), one).item() > 10  # one track off: no candidate fits


def test_pit_values_by_hand():
    # one track: p(lag 3) = 12 / 24, every other lag 1 / 24
    logits = torch.zeros(1, 1, 13)
    logits[0, 0, 3] = math.log(12)
    assert pit_tdoa_loss(logits, torch.tensor([[3, 5, IGNORE]])).item() == \
        pytest.approx(math.log(2), rel=1e-6)  # K = 1 < P = 2: the better single target
    assert pit_tdoa_loss(logits, torch.tensor([[5, IGNORE, IGNORE]])).item() == \
        pytest.approx(math.log(24), rel=1e-6)
    # uniform logits: ln 13 per track whatever the targets; an empty row is left out
    flat = torch.zeros(2, 3, 13)
    targets = torch.tensor([[1, 2, 3], [IGNORE, IGNORE, IGNORE]])
    assert pit_tdoa_loss(flat, targets).item() == pytest.approx(math.log(13), rel=1e-6)


def test_pit_is_invariant_to_track_order_and_ignores_empty_rows():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 3, 13, generator=gen)
    targets = torch.randint(0, 13, (50, 3), generator=gen)
    counts = torch.randint(0, 4, (50,), generator=gen)
    targets[torch.arange(3)[None] >= counts[:, None]] = IGNORE
    base = pit_tdoa_loss(logits, targets)
    assert pit_tdoa_loss(logits[:, [2, 0, 1]], targets).item() == pytest.approx(base.item(),
                                                                                rel=1e-6)
    empty = torch.full((7, 3), IGNORE)
    both = pit_tdoa_loss(torch.cat([logits, torch.randn(7, 3, 13)]), torch.cat([targets, empty]))
    assert both.item() == pytest.approx(base.item(), rel=1e-6)
    nothing = pit_tdoa_loss(logits[:2], torch.full((2, 3), IGNORE))
    assert nothing.item() == 0.0 and nothing.requires_grad is False
