"""Label diversity (Paper I): bin sets over a label range, one-hot encoding and decoding.

A **partition** of the label axis is a list of L contiguous bins given by L - 1 increasing
``edges`` and L representative ``values``; a label t falls in bin
``l = #{e in edges : e < t}`` (numpy ``searchsorted(edges, t, side="left")``), so a label
exactly on an edge goes to the lower bin. Nearest-centre assignment with ties to the lower
centre (the official MATLAB code's argmin) is the partition whose edges are the midpoints
between consecutive centres and whose values are the centres.

A **bin set** is M partitions ("heads") per label dimension. Builders (spec dold_pointtnt.md
§1.2):

* :func:`rvc`: one head, one bin per base value (RvC's K classes);
* :func:`equal_width_centred`: the code's equal-width heads: head m (m = 0..w-1) has centres
  lo + m, lo + m + w, ... <= hi, with padding centres lo - 1 and hi + 1 when ``pad`` (UTK:
  w = 5 over 21..60 gives 5 heads of 10 outputs; BIWI: w = 3 over -75..74 gives 3 heads of 50);
* :func:`equal_width_left`: the paper's prose: L-wide left-aligned bins over the base values,
  head m shifted by m base values, bin means as values;
* :func:`randomized`: per head L centres drawn from a grid (without replacement by default,
  as the code's ``randsample``), sorted, nearest-centre bins;
* :func:`ordinal_groups`: head n has the groups "< n", "= n", "> n" over the K base classes
  (empty sides dropped): HCI's 5 heads of 2, 3, 3, 3, 2 outputs; values are group means.

Decoding (spec §1.6): with p_m the softmax of head m,

* member estimate  y_m = sum_l v_l^m p_m(l)  (expected value with the bin values), ensemble
  y = (1/M) sum_m y_m, per dimension;
* base-class posterior  p(c_k) = (1/M) sum_m sum_l p(c_k | d_l^m) p_m(l), with
  p(c_k | d) = |d ∩ c_k| / |d| (a bin's mass split evenly over the base values it holds), and
  the MAP class argmax_k p(c_k) (HCI).

The ambiguity decomposition (Krogh & Vedelsby; thesis §3.1): for weights w_m >= 0 summing to
1 and y = sum_m w_m y_m,  (y - t)^2 = sum_m w_m (y_m - t)^2 - sum_m w_m (y_m - y)^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["BinSet", "Partition", "ambiguity_terms", "equal_width_centred", "equal_width_left",
           "ordinal_groups", "randomized", "rvc"]


@dataclass(frozen=True, eq=False)
class Partition:
    """L contiguous bins: ``edges`` [L - 1] increasing, ``values`` [L] representatives."""

    edges: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64).reshape(-1)
        values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if len(values) != len(edges) + 1:
            raise ValueError(f"{len(values)} bin values for {len(edges)} edges")
        if np.any(np.diff(edges) <= 0):
            raise ValueError("bin edges must increase")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "values", values)

    @classmethod
    def nearest(cls, centres) -> Partition:
        """Nearest-centre bins (ties to the lower centre) represented by their centres."""
        centres = np.unique(np.asarray(centres, dtype=np.float64))
        return cls((centres[1:] + centres[:-1]) / 2, centres)

    @property
    def size(self) -> int:
        return len(self.values)

    def assign(self, labels) -> np.ndarray:
        """The bin index of each label, int64."""
        return np.searchsorted(self.edges, np.asarray(labels, dtype=np.float64), side="left")


def rvc(base) -> tuple[Partition, ...]:
    """RvC: one head whose classes are the base values."""
    return (Partition.nearest(base),)


def equal_width_centred(lo: int, hi: int, width: int, pad: bool) -> tuple[Partition, ...]:
    """The official code's equal-width heads over the integers lo..hi (see module doc)."""
    if width < 1 or hi - lo + 1 < width:
        raise ValueError(f"width {width} does not fit {lo}..{hi}")
    heads = []
    for m in range(width):
        centres = list(range(lo + m, hi + 1, width))
        if pad:
            centres = [lo - 1, *centres, hi + 1]
        heads.append(Partition.nearest(centres))
    return tuple(heads)


def equal_width_left(base, width: int) -> tuple[Partition, ...]:
    """The paper's equal-width heads: bins of ``width`` consecutive base values, head m's
    first bin holding m of them (m = 0 means a full first bin); values are bin means."""
    base = np.sort(np.asarray(base, dtype=np.float64))
    if width < 1 or len(base) < width:
        raise ValueError(f"width {width} does not fit {len(base)} base values")
    heads = []
    for m in range(width):
        starts = [0, *range(m if m else width, len(base), width)]
        groups = [base[a:b] for a, b in zip(starts, [*starts[1:], len(base)], strict=True)]
        heads.append(_grouped(base, groups))
    return tuple(heads)


def randomized(grid, bins: int, heads: int, rng: np.random.Generator, *,
               replace: bool = False) -> tuple[Partition, ...]:
    """``heads`` partitions of ``bins`` centres drawn from ``grid`` each (sorted; with
    ``replace`` a repeated draw merges, so a head may have fewer bins)."""
    grid = np.asarray(grid, dtype=np.float64)
    if not replace and bins > len(grid):
        raise ValueError(f"cannot draw {bins} distinct centres from {len(grid)} values")
    return tuple(Partition.nearest(rng.choice(grid, size=bins, replace=replace))
                 for _ in range(heads))


def ordinal_groups(base) -> tuple[Partition, ...]:
    """Head n (n = 1..K): the groups of base classes "< n", "= n", "> n" (empty ones dropped),
    each represented by its mean value."""
    base = np.sort(np.asarray(base, dtype=np.float64))
    heads = []
    for n in range(len(base)):
        groups = [g for g in (base[:n], base[n:n + 1], base[n + 1:]) if len(g)]
        heads.append(_grouped(base, groups))
    return tuple(heads)


def _grouped(base: np.ndarray, groups: list[np.ndarray]) -> Partition:
    """Bins holding consecutive groups of the sorted base values; edges midway between groups."""
    edges = [(a[-1] + b[0]) / 2 for a, b in zip(groups[:-1], groups[1:], strict=True)]
    return Partition(np.array(edges), np.array([g.mean() for g in groups]))


class BinSet:
    """M heads per label dimension, laid out flat for the network: head j (all dimensions in
    order) owns outputs ``offsets[j] : offsets[j] + sizes[j]``."""

    def __init__(self, heads: tuple[tuple[Partition, ...], ...], base: tuple[np.ndarray, ...]):
        if len(heads) != len(base) or not all(heads):
            raise ValueError("one non-empty tuple of heads and one base grid per dimension")
        self.heads = heads
        self.base = tuple(np.sort(np.asarray(b, dtype=np.float64)) for b in base)

    @property
    def dims(self) -> int:
        return len(self.heads)

    @cached_property
    def flat(self) -> tuple[Partition, ...]:
        return tuple(p for dim in self.heads for p in dim)

    @cached_property
    def sizes(self) -> np.ndarray:
        return np.array([p.size for p in self.flat], dtype=np.int64)

    @cached_property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @cached_property
    def segment(self) -> np.ndarray:
        """The head of each output, int64 [T]."""
        return np.repeat(np.arange(len(self.flat)), self.sizes)

    @cached_property
    def dim_of_head(self) -> np.ndarray:
        return np.repeat(np.arange(self.dims), [len(d) for d in self.heads])

    @cached_property
    def values(self) -> np.ndarray:
        """The bin values of every output, float64 [T]."""
        return np.concatenate([p.values for p in self.flat])

    @property
    def outputs(self) -> int:
        return int(self.sizes.sum())

    def encode(self, targets) -> np.ndarray:
        """Flat output index of the true bin per head: int64 [N, heads] for targets [N, dims]."""
        targets = np.asarray(targets, dtype=np.float64).reshape(-1, self.dims)
        cols = [p.assign(targets[:, d]) for d, p in zip(self.dim_of_head, self.flat, strict=True)]
        return np.stack(cols, axis=1) + self.offsets

    def one_hot(self, targets) -> np.ndarray:
        """The concatenated per-head one-hot targets, float64 [N, T] (spec §1.3)."""
        index = self.encode(targets)
        out = np.zeros((len(index), self.outputs))
        np.put_along_axis(out, index, 1.0, axis=1)
        return out

    def members(self, probs) -> np.ndarray:
        """Per-head expected values y_m = sum_l v_l p_m(l): [N, dims, M] from probs [N, T]
        (the heads of every dimension must be equally many)."""
        probs = np.asarray(probs, dtype=np.float64)
        sums = np.zeros((len(probs), len(self.flat)))
        np.add.at(sums.T, self.segment, (probs * self.values).T)
        return sums.reshape(len(probs), self.dims, -1)

    @cached_property
    def membership(self) -> tuple[np.ndarray, ...]:
        """Per dimension, p(c_k | bin) for every output of that dimension's heads, [T_d, K]."""
        out = []
        for dim, base in zip(self.heads, self.base, strict=True):
            rows = []
            for p in dim:
                a = np.zeros((p.size, len(base)))
                a[p.assign(base), np.arange(len(base))] = 1.0
                rows.append(a / np.maximum(a.sum(axis=1, keepdims=True), 1.0))
            out.append(np.concatenate(rows))
        return tuple(out)

    def class_posterior(self, probs, dim: int = 0) -> np.ndarray:
        """p(c_k) = (1/M) sum_m sum_l p(c_k | d_l^m) p_m(l), renormalised (a bin that holds no
        base value drops its mass): [N, K]."""
        probs = np.asarray(probs, dtype=np.float64)
        lo = self.offsets[self.dim_of_head == dim][0]
        hi = lo + self.sizes[self.dim_of_head == dim].sum()
        post = probs[:, lo:hi] @ self.membership[dim]
        return post / np.maximum(post.sum(axis=1, keepdims=True), 1e-300)


def ambiguity_terms(members, target, weights=None) -> dict[str, np.ndarray]:
    """Per example: ensemble squared error (y - t)^2, weighted member error
    sum_m w_m (y_m - t)^2 and ambiguity sum_m w_m (y_m - y)^2, for members [..., M] and
    target [...] (uniform weights by default); ensemble = member - ambiguity exactly."""
    members = np.asarray(members, dtype=np.float64)
    w = (np.full(members.shape[-1], 1.0 / members.shape[-1]) if weights is None
         else np.asarray(weights, dtype=np.float64))
    target = np.asarray(target, dtype=np.float64)[..., None]
    ensemble = (members * w).sum(axis=-1, keepdims=True)
    return {"ensemble": np.square(ensemble - target)[..., 0],
            "member": (w * np.square(members - target)).sum(axis=-1),
            "ambiguity": (w * np.square(members - ensemble)).sum(axis=-1)}
