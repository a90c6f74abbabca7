"""Batched point ops (spec dold_pointtnt.md §4.2, §9.3): FPS and dilated kNN against hand
answers on tiny clouds and lines, and against the per-cloud loop references on random clouds."""

from __future__ import annotations

import pytest
import torch

from perloc.methods.points.ops import (
    farthest_point_sample,
    farthest_point_sample_loop,
    gather_points,
    knn,
    knn_features,
    knn_loop,
)

torch.set_num_threads(1)


def line(n: int, spacing=None) -> torch.Tensor:
    """n points on the x axis at ``spacing(j)`` (default j), as a [1, n, 3] cloud."""
    pos = torch.tensor([float(j if spacing is None else spacing(j)) for j in range(n)])
    return torch.stack([pos, torch.zeros(n), torch.zeros(n)], dim=-1)[None]


def clouds(b=3, n=96, seed=0) -> torch.Tensor:
    return torch.rand(b, n, 3, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- FPS


def test_fps_far_start_on_a_hand_example():
    # centroid (1.5, 1.5, 1.5): (5,5,5) is farthest -> 3; from it (0,0,0) is at 75 vs 66 -> 0;
    # then (1,0,0) and (0,1,0) are both at 1 from {3, 0}: the first index wins -> 1
    x = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]]])
    assert farthest_point_sample(x, 3).tolist() == [[3, 0, 1]]
    assert farthest_point_sample_loop(x, 3).tolist() == [[3, 0, 1]]


def test_fps_on_a_line_from_a_given_start():
    # 0..7 from 0: 7 is farthest; then 3 and 4 are both 3 away from {0, 7}: 3 (first index)
    start = torch.tensor([0])
    assert farthest_point_sample(line(8), 3, start=start).tolist() == [[0, 7, 3]]


def test_fps_picks_distinct_points_and_the_second_is_farthest_from_the_first():
    x = clouds()
    idx = farthest_point_sample(x, 32)
    for b in range(x.shape[0]):
        assert len(set(idx[b].tolist())) == 32
        d = ((x[b] - x[b, idx[b, 0]]) ** 2).sum(-1)
        assert idx[b, 1].item() == int(d.argmax())


@pytest.mark.parametrize("start", ["far", torch.tensor([5, 0, 95])])
def test_fps_batched_equals_the_loop(start):
    x = clouds()
    assert torch.equal(farthest_point_sample(x, 40, start), farthest_point_sample_loop(x, 40, start))


def test_fps_random_start_follows_the_generator():
    x = clouds()
    a = farthest_point_sample(x, 16, "random", torch.Generator().manual_seed(3))
    b = farthest_point_sample_loop(x, 16, "random", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_fps_far_start_is_permutation_invariant():
    x = clouds(b=1)
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(1))
    picked = gather_points(x, farthest_point_sample(x, 24))
    picked_perm = gather_points(x[:, perm], farthest_point_sample(x[:, perm], 24))
    assert torch.equal(picked, picked_perm)


def test_fps_rejects_bad_sizes_and_starts():
    with pytest.raises(ValueError, match="m <= N"):
        farthest_point_sample(clouds(n=8), 9)
    with pytest.raises(ValueError, match="start"):
        farthest_point_sample(clouds(n=8), 2, start="first")


# ----------------------------------------------------------------------------- kNN


@pytest.mark.parametrize("d", [1, 2, 3])
def test_knn_dilation_at_the_ends_of_a_line(d):
    # one-sided: the rank-r neighbour of point 0 is point r, so ranks 0, d, 2d are 0, d, 2d
    x = line(16)
    idx = knn(x, x, k=4, dilation=d)
    assert idx[0, 0].tolist() == [0, d, 2 * d, 3 * d]
    assert idx[0, 15].tolist() == [15, 15 - d, 15 - 2 * d, 15 - 3 * d]


def test_knn_dilation_inside_a_line_with_the_ties_broken():
    # x_j = j + 0.01 j^2: from i, i-t is nearer than i+t, and i+t nearer than i-t-1, so the
    # order is i, i-1, i+1, i-2, i+2, i-3, i+3, ...; every d-th of the k*d nearest:
    x = line(16, lambda j: j + 0.01 * j * j)
    assert knn(x, x, k=5)[0, 8].tolist() == [8, 7, 9, 6, 10]
    assert knn(x, x, k=3, dilation=2)[0, 8].tolist() == [8, 9, 10]
    assert knn(x, x, k=3, dilation=3)[0, 8].tolist() == [8, 6, 11]


def test_knn_interior_of_an_even_line_is_i_plus_minus_up_to_m():
    # with exact ties the k = 2m + 1 nearest of an interior point are {i - m, ..., i + m}
    x = line(16)
    idx = knn(x, x, k=5)
    for i in range(2, 14):
        assert idx[0, i, 0].item() == i
        assert set(idx[0, i].tolist()) == set(range(i - 2, i + 3))


def test_knn_includes_self_first():
    x = clouds()
    idx = knn(x, x, k=6)
    assert torch.equal(idx[..., 0], torch.arange(x.shape[1]).expand(x.shape[0], -1))


@pytest.mark.parametrize(("k", "d"), [(1, 1), (8, 1), (5, 2), (4, 3)])
def test_knn_batched_equals_the_loop(k, d):
    x = clouds()
    q = gather_points(x, farthest_point_sample(x, 20))
    assert torch.equal(knn(q, x, k, d), knn_loop(q, x, k, d))
    off = clouds(n=7, seed=5)                      # queries that are not among the points
    assert torch.equal(knn(off, x, k, d), knn_loop(off, x, k, d))


def test_knn_for_query_rows_equals_the_rows_of_the_full_table():
    x = clouds()
    rows = torch.tensor([[0, 10, 50]] * 3)
    assert torch.equal(knn(gather_points(x, rows), x, 6, 2), gather_points(knn(x, x, 6, 2), rows))


def test_knn_features_equals_the_loop_in_feature_space():
    h = torch.randn(2, 40, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert torch.equal(knn_features(h, 7), knn_loop(h, h, 7))


def test_knn_rejects_too_many_neighbours():
    with pytest.raises(ValueError, match="exceeds"):
        knn(clouds(n=10), clouds(n=10), k=6, dilation=2)


# ----------------------------------------------------------------------------- gather


def test_gather_points_by_hand():
    x = torch.arange(2 * 4 * 2, dtype=torch.float32).view(2, 4, 2)
    idx = torch.tensor([[[3, 0]], [[1, 1]]])                     # [B, 1, 2]
    out = gather_points(x, idx)
    assert out.shape == (2, 1, 2, 2)
    assert out.tolist() == [[[[6.0, 7.0], [0.0, 1.0]]], [[[10.0, 11.0], [10.0, 11.0]]]]
