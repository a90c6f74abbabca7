"""Label-diversity bin sets (spec dold_pointtnt.md §1.2, §9.2): known tables and oracles."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.methods.ordinal.bins import (
    BinSet,
    Partition,
    ambiguity_terms,
    equal_width_centred,
    equal_width_left,
    ordinal_groups,
    randomized,
    rvc,
)

AGES = np.arange(21, 61)


def _ranges(partition: Partition, labels) -> list[tuple[int, int]]:
    """(first, last) label of every non-empty bin, in bin order."""
    bins = partition.assign(labels)
    return [(int(labels[bins == b].min()), int(labels[bins == b].max()))
            for b in np.unique(bins)]


def _oracle(binset: BinSet, targets) -> np.ndarray:
    """Ensemble of heads that put probability 1 on the true bin."""
    return binset.members(binset.one_hot(targets)).mean(axis=-1)


def test_utk_code_mode_bins_match_the_spec_table():
    heads = equal_width_centred(21, 60, 5, pad=True)
    assert [h.size for h in heads] == [10] * 5
    # spec §1.2a, derived bins in years
    assert _ranges(heads[0], AGES)[:3] == [(21, 23), (24, 28), (29, 33)]
    assert _ranges(heads[0], AGES)[-2:] == [(54, 58), (59, 60)]
    assert _ranges(heads[1], AGES)[:3] == [(21, 21), (22, 24), (25, 29)]
    assert _ranges(heads[1], AGES)[-2:] == [(55, 59), (60, 60)]
    assert _ranges(heads[2], AGES)[:2] == [(21, 21), (22, 25)]
    assert _ranges(heads[3], AGES)[:2] == [(21, 22), (23, 26)]
    assert _ranges(heads[3], AGES)[-2:] == [(52, 56), (57, 60)]
    assert _ranges(heads[4], AGES)[-1] == (58, 60)
    # head 1 never uses its padding centre 20 (centroid 0); head 4 never uses 61 (centroid 41)
    assert 0 not in heads[0].assign(AGES) and 9 not in heads[3].assign(AGES)


def test_utk_oracle_is_exact_inside_and_biased_at_the_padded_edges():
    binset = BinSet((equal_width_centred(21, 60, 5, pad=True),), (AGES,))
    error = _oracle(binset, AGES[:, None])[:, 0] - AGES
    expected = np.zeros(40)
    expected[[0, 1, 39]] = (-0.8, -0.8, 0.4)  # ages 21, 22, 60
    np.testing.assert_allclose(error, expected, atol=1e-12)
    single = binset.members(binset.one_hot(AGES[:, None]))[:, 0, :] - AGES[:, None]
    assert np.abs(single[2:-1]).max() == 2  # one head alone errs by up to 2 years


def test_biwi_equal_width_oracle_rounds_and_clamps():
    heads = equal_width_centred(-75, 74, 3, pad=False)
    assert [h.size for h in heads] == [50, 50, 50]
    assert heads[0].values[[0, -1]].tolist() == [-75, 72]
    assert heads[2].values[[0, -1]].tolist() == [-73, 74]
    binset = BinSet((heads,) * 3, (np.arange(-75, 76),) * 3)
    t = np.array([[-80.0, -75.0, -3.4], [-0.6, 0.2, 12.49], [74.0, 75.0, 73.2]])
    expected = np.array([[-74, -74, -3], [-1, 0, 12], [73, 73, 73]])
    np.testing.assert_allclose(_oracle(binset, t), expected, atol=1e-12)


def test_paper_mode_equal_width_is_left_aligned():
    heads = equal_width_left(AGES, 5)
    assert _ranges(heads[0], AGES)[:2] == [(21, 25), (26, 30)] and heads[0].size == 8
    assert _ranges(heads[1], AGES)[:3] == [(21, 21), (22, 26), (27, 31)]
    assert _ranges(heads[1], AGES)[-1] == (57, 60)
    assert heads[1].values[1] == 24.0  # the bin mean, as the paper's eq. 3


def test_hci_ordinal_groups_and_marginalisation():
    heads = ordinal_groups(np.arange(5))
    assert [h.size for h in heads] == [2, 3, 3, 3, 2]
    binset = BinSet((heads,), (np.arange(5),))
    truth = np.arange(5)
    onehot = binset.one_hot(truth[:, None])
    post = binset.class_posterior(onehot)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    assert post.argmax(axis=1).tolist() == truth.tolist()
    # the worked formula of spec §1.6 for p(c1) on random head outputs
    rng = np.random.default_rng(0)
    probs = np.concatenate([rng.dirichlet(np.ones(s), size=7) for s in binset.sizes], axis=1)
    h = [probs[:, o:o + s] for o, s in zip(binset.offsets, binset.sizes, strict=True)]
    p1 = (h[0][:, 0] + h[1][:, 0] + h[2][:, 0] / 2 + h[3][:, 0] / 3 + h[4][:, 0] / 4) / 5
    np.testing.assert_allclose(binset.class_posterior(probs)[:, 0], p1, atol=1e-12)


def test_randomized_centres_are_unique_sorted_and_cover_every_label():
    heads = randomized(np.arange(21, 61), 10, 30, np.random.default_rng(3))
    for head in heads:
        assert head.size == 10 and np.all(np.diff(head.values) > 0)
        assert set(head.values) <= set(range(21, 61))
        bins = head.assign(AGES)
        assert bins.min() >= 0 and bins.max() < 10
    with pytest.raises(ValueError, match="distinct"):
        randomized(np.arange(5), 6, 1, np.random.default_rng(0))


def test_rvc_oracle_is_exact_on_the_grid():
    binset = BinSet((rvc(AGES),), (AGES,))
    np.testing.assert_allclose(_oracle(binset, AGES[:, None])[:, 0], AGES)


def test_ambiguity_identity_holds_on_random_inputs():
    rng = np.random.default_rng(1)
    members, target = rng.normal(size=(50, 3, 7)), rng.normal(size=(50, 3))
    weights = rng.dirichlet(np.ones(7))
    for w in (None, weights):
        terms = ambiguity_terms(members, target, w)
        np.testing.assert_allclose(terms["ensemble"], terms["member"] - terms["ambiguity"],
                                   atol=1e-12)
        assert np.all(terms["ambiguity"] >= 0)
    # hand example: members 1 and 3, target 0 -> ensemble 2: 4 = (1 + 9) / 2 - 1
    terms = ambiguity_terms(np.array([[1.0, 3.0]]), np.array([0.0]))
    assert (terms["ensemble"][0], terms["member"][0], terms["ambiguity"][0]) == (4.0, 5.0, 1.0)
