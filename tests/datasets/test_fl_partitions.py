"""Federated partitions: disjoint and covering, iid balance, Dirichlet label skew falling as
alpha grows (both schemes), FedDyn's equal client sizes, determinism per seed, and the
speaker-id split of Speech Commands (one client per training speaker of the adapter)."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.fl_partitions import (
    client_label_counts,
    dirichlet_class_partition,
    dirichlet_partition,
    iid_partition,
    label_skew,
    speaker_partition,
)
from perloc.datasets.kws_data import KwsClips
from perloc.datasets.speech_commands import SpeechCommands
from tests.datasets.test_speech_commands import corpus  # noqa: F401  (fixture)

LABELS = np.random.default_rng(5).permutation(np.arange(3000) % 10)
ALPHAS = (0.05, 0.3, 1.0, 10.0, 1000.0)


def _assert_partition(parts, n):
    """Every index 0..n-1 in exactly one client, each client's indices sorted."""
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))
    assert all(np.all(np.diff(p) > 0) for p in parts)


@pytest.mark.parametrize("n, clients", [(1000, 10), (1003, 7), (5, 5), (9, 1)])
def test_iid_shards_cover_everything_equally(n, clients):
    parts = iid_partition(n, clients, seed=0)
    _assert_partition(parts, n)
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_iid_shards_are_label_balanced():
    parts = iid_partition(len(LABELS), 10, seed=1)
    assert label_skew(parts, LABELS) < 0.1
    counts = client_label_counts(parts, LABELS)
    assert counts.min() >= 10 and counts.max() <= 55  # 30 expected per client and class


@pytest.mark.parametrize("alpha", ALPHAS)
def test_dirichlet_clients_are_disjoint_covering_and_equal_sized(alpha):
    parts = dirichlet_partition(LABELS, 20, alpha, seed=0)
    _assert_partition(parts, len(LABELS))
    assert {len(p) for p in parts} == {150}


@pytest.mark.parametrize("alpha", ALPHAS)
def test_per_class_dirichlet_is_disjoint_and_covering(alpha):
    parts = dirichlet_class_partition(LABELS, 20, alpha, seed=0)
    _assert_partition(parts, len(LABELS))
    assert min(len(p) for p in parts) >= 1


@pytest.mark.parametrize("split", [dirichlet_partition, dirichlet_class_partition])
def test_label_skew_falls_as_alpha_grows(split):
    """The mean over three seeds of the clients' distance to the global label mixture."""
    skew = [np.mean([label_skew(split(LABELS, 20, a, seed=s), LABELS) for s in range(3)])
            for a in ALPHAS]
    assert all(a > b for a, b in zip(skew, skew[1:], strict=False)), skew
    assert skew[0] > 0.5 and skew[-1] < 0.1, skew


def test_low_alpha_concentrates_each_client_on_few_classes():
    counts = client_label_counts(dirichlet_partition(LABELS, 20, 0.05, seed=0), LABELS)
    top_share = np.sort(counts, axis=1)[:, -2:].sum(axis=1) / counts.sum(axis=1)
    assert np.median(top_share) > 0.8  # two classes hold most of a typical client


@pytest.mark.parametrize("split", [
    lambda seed: iid_partition(3000, 20, seed),
    lambda seed: dirichlet_partition(LABELS, 20, 0.3, seed),
    lambda seed: dirichlet_class_partition(LABELS, 20, 0.3, seed),
])
def test_same_seed_same_partition_other_seed_another(split):
    first, again, other = split(0), split(0), split(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_dirichlet_handles_exhausted_classes_and_odd_sizes():
    labels = np.array([0] * 95 + [1] * 3 + [2] * 2)
    parts = dirichlet_partition(labels, 7, 0.01, seed=3)
    _assert_partition(parts, 100)
    assert sorted(len(p) for p in parts) == [14] * 5 + [15] * 2


@pytest.mark.parametrize("call, needle", [
    (lambda: iid_partition(10, 0, 0), "n_clients must be an integer in 1..10"),
    (lambda: iid_partition(10, 11, 0), "n_clients must be an integer in 1..10"),
    (lambda: dirichlet_partition(LABELS, 10, 0.0, 0), "alpha"),
    (lambda: dirichlet_partition(LABELS, 10, float("nan"), 0), "alpha"),
    (lambda: dirichlet_partition([0.5, 1.0], 1, 1.0, 0), "non-negative integers"),
    (lambda: dirichlet_class_partition(LABELS, 3000, 0.01, 0, tries=2), "no draw in 2"),
    (lambda: speaker_partition(["silence-0", "silence-1"]), "no example has a speaker id"),
])
def test_bad_arguments_are_user_errors(call, needle):
    with pytest.raises(UserError, match=needle):
        call()


def test_speaker_partition_gives_each_speaker_one_client():
    speakers = np.array(["b", "a", "b", "c", "silence-0", "a", "silence-1", "silence-2"],
                        dtype=object)
    names, parts = speaker_partition(speakers, seed=0)
    assert names == ("a", "b", "c")
    _assert_partition(parts, len(speakers))
    for name, part in zip(names, parts, strict=True):
        assert {s for s in speakers[part] if not s.startswith("silence-")} == {name}
    assert sorted(len(p) for p in parts) == [2, 3, 3]  # 3 silence clips dealt one each


def test_speaker_partition_of_the_speech_commands_adapter(corpus, tmp_path):  # noqa: F811
    """The adapter's training speakers (12-class task, with its silence entries): one client
    per speaker holding all of that speaker's clips."""
    clips = KwsClips(SpeechCommands(corpus, task="12"), FeatureCache(tmp_path / "f.h5"))
    speakers = clips.speakers("training")
    entries = clips.commands.entries("training")
    names, parts = speaker_partition(speakers, seed=0)
    _assert_partition(parts, len(speakers))
    training = {e.path.name.split("_nohash_")[0] for e in entries if e.path is not None}
    assert set(names) == training and len(parts) == len(training)
    for name, part in zip(names, parts, strict=True):
        own = {s for s in speakers[part] if not s.startswith("silence-")}
        assert own == {name}
        assert np.sum(speakers == name) == len(part) - sum(s.startswith("silence-")
                                                             for s in speakers[part])
