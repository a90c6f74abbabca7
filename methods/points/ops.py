"""Batched point-cloud ops: farthest point sampling, k nearest neighbours, gathering.

Shapes: a cloud batch ``xyz [B, N, 3]`` (any channel count C for :func:`knn` /
:func:`gather_points`); indices are int64 into the N axis of their own cloud. Every batched op
is vectorised over B (FPS loops over the m picks only); ``*_loop`` are the plain per-cloud
references used by the benchmark and the tests.

**FPS** (spec §4.2 step 1): with ``dist_j = min over picked s of ||x_j - x_s||^2`` (inf before
the first pick), pick ``s_0 = start`` then ``s_i = argmax_j dist_j`` (the first index on ties).
``start``: ``"far"`` the point farthest from the centroid ``mean_j x_j`` (deterministic; the
picked points, in order, do not depend on the point order when there are no ties), ``"random"``
a uniform index per cloud (the official code: evaluation is then non-deterministic, gotcha 17),
or an int tensor ``[B]`` (or scalar) of start indices. With duplicate points, once every
remaining distance is 0 the picks repeat index 0's argmax (ask for m <= distinct points).

**kNN** (spec §4.2 step 2): squared Euclidean distance ``sum_c (q_c - p_c)^2`` accumulated per
channel (exact: a query that is one of ``points`` is at distance 0 and is its own first
neighbour, the all-zero edge of gotcha 16); the ``k * dilation`` nearest, sorted by distance,
and every ``dilation``-th of them kept (ranks 0, d, 2d, ...). Only the query rows are computed,
[B, M, N] distances rather than all N^2 pairs (gotcha 16: same neighbours up to ties). Ties are
broken by ``torch.topk`` (unspecified); the loop reference uses a stable sort (lower index
first). :func:`knn_features` is DGCNN's feature-space variant over all pairs, via
``|x_i|^2 + |x_j|^2 - 2 x_i . x_j`` (C up to hundreds), self included.
"""

from __future__ import annotations

import torch
from torch import Tensor

FPS_STARTS = ("far", "random")


def _check_cloud(name: str, x: Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"{name} must be [B, N, C], got shape {tuple(x.shape)}")


def _start_index(xyz: Tensor, start, generator) -> Tensor:
    """Start indices [B] for FPS (see the module docstring)."""
    b, n, _ = xyz.shape
    if isinstance(start, Tensor):
        idx = start.to(device=xyz.device, dtype=torch.long).expand(b).clone()
        if idx.numel() and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"FPS start indices must be in [0, {n}), got {start.tolist()}")
        return idx
    if start == "far":
        centre = xyz.mean(dim=1, keepdim=True)
        return ((xyz - centre) ** 2).sum(-1).argmax(-1)
    if start == "random":
        # drawn by a host generator (the caller's, else torch's default CPU one, which is what
        # ``generator=None`` draws from), then moved: the same starts on every device
        gen = torch.default_generator if generator is None else generator
        return torch.randint(n, (b,), generator=gen, device=gen.device).to(xyz.device)
    raise ValueError(f"FPS start must be 'far', 'random' or an index tensor, got {start!r}")


def _check_m(m: int, n: int) -> None:
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= n:
        raise ValueError(f"FPS needs 1 <= m <= N = {n}, got m = {m!r}")


@torch.no_grad()
def farthest_point_sample(xyz: Tensor, m: int, start="far", generator=None) -> Tensor:
    """``xyz [B, N, 3]`` -> indices int64 ``[B, m]`` of m farthest-point picks per cloud."""
    _check_cloud("xyz", xyz)
    b, n, _ = xyz.shape
    _check_m(m, n)
    rows = torch.arange(b, device=xyz.device)
    out = torch.empty(b, m, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    current = _start_index(xyz, start, generator)
    for i in range(m):
        out[:, i] = current
        d = ((xyz - xyz[rows, current][:, None]) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        current = dist.argmax(-1)
    return out


@torch.no_grad()
def farthest_point_sample_loop(xyz: Tensor, m: int, start="far", generator=None) -> Tensor:
    """Reference FPS, one cloud at a time and one candidate row per pick (same picks as
    :func:`farthest_point_sample` for the same start)."""
    _check_cloud("xyz", xyz)
    b, n, _ = xyz.shape
    _check_m(m, n)
    starts = _start_index(xyz, start, generator).tolist()
    out = torch.empty(b, m, dtype=torch.long, device=xyz.device)
    for c in range(b):
        cloud = xyz[c]
        dist = torch.full((n,), float("inf"), dtype=xyz.dtype, device=xyz.device)
        current = starts[c]
        for i in range(m):
            out[c, i] = current
            dist = torch.minimum(dist, ((cloud - cloud[current]) ** 2).sum(-1))
            current = int(dist.argmax())
    return out


def _check_knn(query: Tensor, points: Tensor, k: int, dilation: int) -> None:
    _check_cloud("query", query)
    _check_cloud("points", points)
    if query.shape[0] != points.shape[0] or query.shape[2] != points.shape[2]:
        raise ValueError(f"query {tuple(query.shape)} and points {tuple(points.shape)} must "
                         "share B and C")
    for name, v in (("k", k), ("dilation", dilation)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if k * dilation > points.shape[1]:
        raise ValueError(f"k * dilation = {k * dilation} exceeds the {points.shape[1]} points")


def square_distances(query: Tensor, points: Tensor) -> Tensor:
    """``[B, M, C]``, ``[B, N, C]`` -> ``[B, M, N]`` exact squared distances (per channel)."""
    d = torch.zeros(query.shape[0], query.shape[1], points.shape[1], dtype=query.dtype,
                    device=query.device)
    for c in range(query.shape[2]):
        d += (query[:, :, c, None] - points[:, None, :, c]) ** 2
    return d


@torch.no_grad()
def knn(query: Tensor, points: Tensor, k: int, dilation: int = 1) -> Tensor:
    """Dilated kNN: ``query [B, M, C]``, ``points [B, N, C]`` -> int64 ``[B, M, k]`` indices
    into ``points``, nearest first (ranks 0, d, 2d, ... of the k*d nearest)."""
    _check_knn(query, points, k, dilation)
    d = square_distances(query, points)
    idx = d.topk(k * dilation, dim=-1, largest=False, sorted=True).indices
    return idx[..., ::dilation]


@torch.no_grad()
def knn_loop(query: Tensor, points: Tensor, k: int, dilation: int = 1) -> Tensor:
    """Reference kNN, one query point at a time (stable sort: lower index first on ties)."""
    _check_knn(query, points, k, dilation)
    b, m, _ = query.shape
    out = torch.empty(b, m, k, dtype=torch.long, device=query.device)
    for c in range(b):
        for i in range(m):
            d = ((points[c] - query[c, i]) ** 2).sum(-1)
            order = torch.sort(d, stable=True).indices
            out[c, i] = order[: k * dilation : dilation]
    return out


@torch.no_grad()
def knn_features(x: Tensor, k: int) -> Tensor:
    """DGCNN's feature-space kNN: ``x [B, N, C]`` -> int64 ``[B, N, k]`` over all pairs,
    self included (distance ``|x_i|^2 + |x_j|^2 - 2 x_i . x_j``)."""
    _check_knn(x, x, k, 1)
    sq = (x * x).sum(-1)
    d = sq[:, :, None] + sq[:, None, :] - 2 * torch.bmm(x, x.transpose(1, 2))
    return d.topk(k, dim=-1, largest=False, sorted=True).indices


def gather_points(x: Tensor, idx: Tensor) -> Tensor:
    """``x [B, N, C]``, ``idx`` int64 ``[B, ...]`` -> ``[B, ..., C]`` (``x[b, idx[b, ...]]``)."""
    _check_cloud("x", x)
    if idx.shape[0] != x.shape[0]:
        raise ValueError(f"idx batch {idx.shape[0]} != x batch {x.shape[0]}")
    rows = torch.arange(x.shape[0], device=x.device).view(-1, *[1] * (idx.dim() - 1))
    return x[rows, idx]
