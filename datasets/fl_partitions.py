"""Federated partitions of a training set: the example indices each client holds.

Pure functions of the labels (or speaker ids) and a seed: the same arguments give the same
partition, every example goes to exactly one client, and each client's indices are sorted.

* :func:`iid_partition`: a seeded shuffle cut into ``n_clients`` equal shards (sizes differ by
  at most one when ``n`` is not a multiple), spec kws_fl.md §1.5 / §5.7 "iid".
* :func:`dirichlet_partition`: Paper IV's non-iid CIFAR split, Dir(alpha) with alpha = 0.3.
  The paper does not state the scheme; this is the **per-client class prior** scheme of
  FedDyn's splitter (Acar et al. 2021), the reconstruction spec §5.7 infers: every client gets
  the same number of examples; client k draws a class prior q_k ~ Dir(alpha * 1_C); examples are
  dealt one at a time to a random client that still has room, with a class drawn from its q_k,
  redrawn while the class drawn has no examples left. Here the redraw is done exactly by
  drawing from q_k restricted to the classes left, renormalised (the same distribution, without
  FedDyn's loop, which can spin for a long time once a client's mass sits on exhausted
  classes); where that mass is zero in floating point, any class left is drawn uniformly.
* :func:`dirichlet_class_partition`: the other common scheme, **per-class client
  proportions** (Yurochkin et al. 2019, Wang et al. 2020; Flower Datasets'
  ``DirichletPartitioner``): for each class c, proportions p_c ~ Dir(alpha * 1_K) over the
  clients cut that class's shuffled examples; client sizes then vary. Offered for comparison;
  Paper IV's setups use :func:`dirichlet_partition`.
* :func:`speaker_partition`: Speech Commands' speaker-id split (spec §1.5, Li et al. 2022):
  one client per speaker, e.g. of ``KwsClips.speakers("training")``
  (:class:`perloc.datasets.kws_data.KwsClips`, the file name's hash prefix); the 12-class
  task's silence clips (ids ``silence-<i>``) have no speaker and are dealt round-robin to the
  speakers' clients in a seeded order.

:func:`client_label_counts` and :func:`label_skew` describe a partition (what the tests and a
board's note use).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perloc.bench.core.errors import UserError

__all__ = ["client_label_counts", "dirichlet_class_partition", "dirichlet_partition",
           "iid_partition", "label_skew", "speaker_partition"]


def _check_clients(n_clients: int, n: int) -> None:
    if isinstance(n_clients, bool) or not isinstance(n_clients, (int, np.integer)) \
            or not 1 <= n_clients <= n:
        raise UserError(f"n_clients must be an integer in 1..{n} (the examples), "
                        f"got {n_clients!r}")


def _check_alpha(alpha: float) -> None:
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha > 0 \
            or not np.isfinite(alpha):
        raise UserError(f"alpha (the Dirichlet concentration) must be a positive number, "
                        f"got {alpha!r}")


def _labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    out = np.asarray(labels)
    if out.ndim != 1 or (len(out) and out.dtype.kind not in "iu") or (len(out) and out.min() < 0):
        raise UserError("labels must be a 1-D array of non-negative integers")
    return out.astype(np.int64)


def iid_partition(n: int, n_clients: int, seed: int) -> list[np.ndarray]:
    """``n_clients`` sorted index arrays: a seeded permutation of range(n) cut into equal
    shards (the first n % n_clients shards one longer)."""
    _check_clients(n_clients, n)
    order = np.random.default_rng([seed, 101]).permutation(n)
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def dirichlet_partition(labels: Sequence[int] | np.ndarray, n_clients: int, alpha: float,
                        seed: int) -> list[np.ndarray]:
    """Per-client class priors q_k ~ Dir(alpha), equal client sizes (FedDyn's scheme, see the
    module docstring): ``n_clients`` sorted index arrays into ``labels``."""
    y = _labels(labels)
    _check_clients(n_clients, len(y))
    _check_alpha(alpha)
    rng = np.random.default_rng([seed, 202])
    n_classes = int(y.max()) + 1
    priors = rng.dirichlet(np.full(n_classes, float(alpha)), size=n_clients)
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in range(n_classes)]
    left_in_class = np.array([len(p) for p in pools], dtype=float)
    room = np.array([len(s) for s in np.array_split(np.arange(len(y)), n_clients)])
    open_clients = list(np.flatnonzero(room > 0))
    owner = np.empty(len(y), dtype=np.int64)
    while open_clients:
        slot = int(rng.integers(len(open_clients)))
        k = open_clients[slot]
        weights = priors[k] * (left_in_class > 0)
        if weights.sum() <= 0:
            weights = (left_in_class > 0).astype(float)
        c = int(np.searchsorted(np.cumsum(weights), rng.random() * weights.sum(), side="right"))
        c = min(c, n_classes - 1)
        while left_in_class[c] == 0:  # only at a floating-point edge of the cumulative sum
            c -= 1
        owner[pools[c].pop()] = k
        left_in_class[c] -= 1
        room[k] -= 1
        if room[k] == 0:
            open_clients.pop(slot)
    return [np.flatnonzero(owner == k) for k in range(n_clients)]


def dirichlet_class_partition(labels: Sequence[int] | np.ndarray, n_clients: int,
                              alpha: float, seed: int, *, min_size: int = 1,
                              tries: int = 100) -> list[np.ndarray]:
    """Per-class client proportions p_c ~ Dir(alpha) over the clients (see the module
    docstring); redrawn (up to ``tries`` times) until every client holds ``min_size``."""
    y = _labels(labels)
    _check_clients(n_clients, len(y))
    _check_alpha(alpha)
    rng = np.random.default_rng([seed, 303])
    for _ in range(tries):
        owner = np.empty(len(y), dtype=np.int64)
        for c in range(int(y.max()) + 1):
            members = rng.permutation(np.flatnonzero(y == c))
            share = rng.dirichlet(np.full(n_clients, float(alpha)))
            cuts = np.round(np.cumsum(share)[:-1] * len(members)).astype(int)
            for k, part in enumerate(np.split(members, cuts)):
                owner[part] = k
        parts = [np.flatnonzero(owner == k) for k in range(n_clients)]
        if min(len(p) for p in parts) >= min_size:
            return parts
    raise UserError(f"dirichlet_class_partition: no draw in {tries} gave every one of "
                    f"{n_clients} clients {min_size} examples (alpha {alpha}); use fewer "
                    "clients or a larger alpha")


def speaker_partition(speakers: Sequence[str] | np.ndarray, seed: int = 0, *,
                      unattributed: str = "silence-") -> tuple[tuple[str, ...], list[np.ndarray]]:
    """(speaker ids sorted, one sorted index array per speaker): every example of a speaker on
    that speaker's client. Ids starting with ``unattributed`` (no speaker) are dealt
    round-robin to the clients in a seeded order."""
    ids = np.asarray(speakers, dtype=object)
    orphan = np.array([str(s).startswith(unattributed) for s in ids], dtype=bool)
    names = tuple(sorted({str(s) for s in ids[~orphan]}))
    if not names:
        raise UserError("speaker_partition: no example has a speaker id")
    client = {name: k for k, name in enumerate(names)}
    owner = np.array([client.get(str(s), -1) for s in ids], dtype=np.int64)
    deal = np.random.default_rng([seed, 404]).permutation(len(names))
    orphans = np.flatnonzero(orphan)
    owner[orphans] = deal[np.arange(len(orphans)) % len(names)]
    return names, [np.flatnonzero(owner == k) for k in range(len(names))]


def client_label_counts(parts: Sequence[np.ndarray], labels: Sequence[int] | np.ndarray,
                        n_classes: int | None = None) -> np.ndarray:
    """[clients, classes] counts of each client's labels."""
    y = _labels(labels)
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    return np.stack([np.bincount(y[p], minlength=n_classes) for p in parts])


def label_skew(parts: Sequence[np.ndarray], labels: Sequence[int] | np.ndarray) -> float:
    """Mean over clients (weighted by size) of the total-variation distance between the
    client's label distribution and the whole set's: 0 for identical mixtures, near 1 when
    each client holds one class of many.

    >>> label_skew([np.array([0, 1]), np.array([2, 3])], [0, 1, 0, 1])
    0.0
    >>> label_skew([np.array([0, 2]), np.array([1, 3])], [0, 1, 0, 1])
    0.5
    """
    counts = client_label_counts(parts, labels).astype(float)
    sizes = counts.sum(axis=1)
    whole = counts.sum(axis=0) / sizes.sum()
    keep = sizes > 0
    tv = 0.5 * np.abs(counts[keep] / sizes[keep, None] - whole).sum(axis=1)
    return float(np.average(tv, weights=sizes[keep]))
