"""Robust TDOA multilateration with known microphones (Paper VII's "Multilat" / "Multilat*").

Re-implements the RANSAC + Gauss-Newton scheme of Åström et al., EUSIPCO 2021
(StructureFromSound2 ``estimate_spoints_ransac_truncl2``) as used by wav2pos (IPIN 2024):

1. candidates: per unordered mic pair the top-k GCC-PHAT peaks (k = 4, "Multilat") or the single
   argmax (NGCC-PHAT, "Multilat*"), see :func:`top_peaks` and :func:`pair_measurements`;
2. a frame is skipped (NaN, "too few measurements") unless it has MORE than 10 valid measurements;
3. RANSAC, 100 draws of 3 measurements, score = #measurements with
   ``|(|s - r_i| - |s - r_j|) - d| < 0.1 m``; the best hypothesis is kept (ties -- common with
   few mics, where a far-off mirror point can fit every measurement to a few mm -- go to the
   smaller sum of squared inlier residuals; this tie-break is ours);
4. if it has >= 10 inliers, 10 Gauss-Newton iterations on them (step halving up to 50 times
   while the sum of squared residuals grows), else NaN ("too few inliers").

A measurement is ``(i, j, d)`` with ``d = |s - r_i| - |s - r_j|`` in metres (TDOA in samples
times c / fs, positive when mic i is farther), see :mod:`perloc.datasets.ssl_schema`.

Difference from the reference: its minimal solver handles any 3 measurements (8x8 action matrix,
up to 8 solutions). Here each draw is a *star* -- 3 measurements sharing one microphone ``a`` with
distinct partners ``b1, b2, b3`` -- solved in closed form (:func:`star_solutions`, <= 2
solutions). The closed form is exact, needs no eigen-solver and vectorises over all draws and
frames at once (no Python loop over iterations; frames are scored in memory-bounded chunks); every frame with all pairs measured has
many star triples (each mic has M - 1 partners), so restricting the draws loses little. Sampling:
a mic ``a`` uniformly among mics with measurements to >= 3 distinct partners, 3 distinct partners
uniformly, then one of the valid measurements of each pair uniformly. A star whose 4 mics are
coplanar is degenerate (no solution for that draw), so an array whose mics all lie in one plane
never yields a hypothesis (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perloc.datasets.ssl_schema import SAMPLE_RATE, SPEED_OF_SOUND

_CHUNK = 1 << 22  # frames * hypotheses * measurements scored at once
_DEGENERATE = 1e-9  # |det E| / prod(row norms) below this: the star is degenerate
_RANGE_TOL = 1e-6  # metres of slack for rho >= 0 and rho - d_k >= 0
_CONVERGED = 1e-8  # metres: shorter Gauss-Newton steps (below float64 cost resolution) are skipped
REASON_MEASUREMENTS = "too few measurements"
REASON_INLIERS = "too few inliers"


@dataclass(frozen=True)
class RansacParams:
    """iterations: RANSAC draws per frame; inlier_m: inlier threshold in metres; min_measurements:
    fewest valid measurements for a frame to be tried (the paper's "more than 10"); min_inliers:
    fewest inliers of the best hypothesis for refinement; gn_iterations / max_halvings: Gauss-Newton
    iterations and step halvings per iteration."""

    iterations: int = 100
    inlier_m: float = 0.1
    min_measurements: int = 11
    min_inliers: int = 10
    gn_iterations: int = 10
    max_halvings: int = 50


def top_peaks(corr: np.ndarray, k: int) -> np.ndarray:
    """Lags ``[B, P, k]`` of the k largest local maxima of ``corr [B, P, 2T + 1]`` (lags -T..T).

    Lags are integer values in a float64 array, in descending order of correlation (ties: smaller
    lag first); the marker for a missing peak (fewer than k local maxima) is NaN. A local maximum
    is strictly above its left neighbour and not below its right one (plateaus count once, at
    their left end); the end lags count, their outer neighbour being -inf.
    """
    corr = np.asarray(corr, dtype=np.float64)
    tau = (corr.shape[-1] - 1) // 2
    pad = np.full(corr.shape[:-1] + (1,), -np.inf)
    ext = np.concatenate([pad, corr, pad], axis=-1)
    peak = (corr > ext[..., :-2]) & (corr >= ext[..., 2:])
    score = np.where(peak, corr, -np.inf)
    order = np.argsort(-score, axis=-1, kind="stable")[..., :k]
    found = np.take_along_axis(peak, order, axis=-1)
    lags = np.where(found, order - tau, np.nan).astype(np.float64)
    if lags.shape[-1] < k:  # fewer lags than k
        missing = np.full(lags.shape[:-1] + (k - lags.shape[-1],), np.nan)
        lags = np.concatenate([lags, missing], axis=-1)
    return lags


def pair_measurements(pairs: np.ndarray, lags: np.ndarray, fs: float = SAMPLE_RATE,
                      c: float = SPEED_OF_SOUND) -> tuple[np.ndarray, ...]:
    """Measurements from ``pairs [P, 2]`` and ``lags [B, P, k]`` (NaN = no peak).

    Returns ``i [K], j [K]`` (int64, K = P k, pair-major), ``d [B, K]`` metres and ``valid [B, K]``.
    """
    pairs, lags = np.asarray(pairs, dtype=np.int64), np.asarray(lags, dtype=np.float64)
    k = lags.shape[-1]
    i, j = np.repeat(pairs[:, 0], k), np.repeat(pairs[:, 1], k)
    flat = lags.reshape(lags.shape[0], -1)
    return i, j, flat * c / fs, np.isfinite(flat)


def star_solutions_batch(r_a: np.ndarray, r_b: np.ndarray,
                         d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sources ``[..., 2, 3]`` and a mask ``[..., 2]`` for stars ``r_a [..., 3]``, ``r_b [..., 3, 3]``.

    ``d[..., k] = |s - r_a| - |s - r_bk|`` is the sign-flipped measurement (a as first mic), so
    with ``rho = |s - r_a|``: ``|s - r_bk| = rho - d_k``. With ``x = s - r_a`` and ``e_k = r_bk -
    r_a``, subtracting ``|x|^2 = rho^2`` from ``|x - e_k|^2 = (rho - d_k)^2`` gives the linear
    system ``2 e_k . x = |e_k|^2 - d_k^2 + 2 d_k rho``, i.e. ``x = p + q rho``; then
    ``|p + q rho|^2 = rho^2`` is a quadratic in rho. Real roots with rho >= 0 and rho - d_k >= 0
    are kept; singular (coplanar) stars have no solution.
    """
    e = r_b - r_a[..., None, :]
    g = np.sum(e * e, axis=-1) - d * d
    mat = 2.0 * e
    scale = np.prod(np.linalg.norm(mat, axis=-1), axis=-1)
    with np.errstate(all="ignore"):
        ok = np.abs(np.linalg.det(mat)) > _DEGENERATE * scale
        safe = np.where(ok[..., None, None], mat, np.eye(3))
        pq = np.linalg.solve(safe, np.stack([g, 2.0 * d], axis=-1))
        p, q = pq[..., 0], pq[..., 1]
        a2, a1, a0 = np.sum(q * q, -1) - 1.0, 2.0 * np.sum(p * q, -1), np.sum(p * p, -1)
        disc = a1 * a1 - 4.0 * a2 * a0
        disc = np.where((disc < 0) & (disc > -1e-12 * (a1 * a1 + np.abs(4 * a2 * a0))), 0, disc)
        t = -0.5 * (a1 + np.copysign(np.sqrt(disc), a1))
        rho = np.stack([t / a2, a0 / t], axis=-1)  # numerically stable pair of roots
        sol = r_a[..., None, :] + p[..., None, :] + q[..., None, :] * rho[..., None]
        fine = (rho >= -_RANGE_TOL) & np.all(rho[..., None] - d[..., None, :] >= -_RANGE_TOL, -1)
    good = ok[..., None] & np.isfinite(rho) & fine & np.all(np.isfinite(sol), -1)
    return np.where(good[..., None], sol, np.nan), good


def star_solutions(r_a: np.ndarray, r_b: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Solutions ``[n <= 2, 3]`` of one star (see :func:`star_solutions_batch`)."""
    sol, good = star_solutions_batch(*(np.asarray(x, dtype=np.float64) for x in (r_a, r_b, d)))
    return sol[good]


def _difference_matrix(i: np.ndarray, j: np.ndarray, m: int) -> np.ndarray:
    """``A [B, K, M]`` with ``A[b, k] = e_i - e_j`` so that ``A @ dist`` are range differences."""
    eye = np.eye(m)
    return eye[i] - eye[j]


def _ranges(s: np.ndarray, mics: np.ndarray) -> np.ndarray:
    """Distances ``[B, H, M]`` of points ``s [B, H, 3]`` to ``mics [B, M, 3]``."""
    return np.linalg.norm(s[:, :, None, :] - mics[:, None, :, :], axis=-1)


def gauss_newton(mic_pos: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray,
                 mask: np.ndarray, s0: np.ndarray, iterations: int = 10,
                 max_halvings: int = 50) -> np.ndarray:
    """Refine ``s0 [B, 3]`` minimising ``sum_mask ((|s - r_i| - |s - r_j|) - d)^2``.

    ``mic_pos [B, M, 3]`` (finite), ``i, j, d, mask [B, K]``. Each iteration takes the Gauss-Newton
    step (Jacobian rows ``(s - r_i)/|s - r_i| - (s - r_j)/|s - r_j|``) and halves it, up to
    ``max_halvings`` times, until the cost does not grow; if it always grows the point stays.
    """
    mic_pos, d = np.asarray(mic_pos, dtype=np.float64), np.asarray(d, dtype=np.float64)
    i, j = (np.broadcast_to(np.asarray(x, dtype=np.int64), d.shape) for x in (i, j))
    diff = _difference_matrix(i, j, mic_pos.shape[1])
    w, d = np.asarray(mask, dtype=np.float64), np.where(mask, d, 0.0)
    s = np.array(s0, dtype=np.float64)
    for _ in range(iterations):
        vec = s[:, None, :] - mic_pos
        dist = np.maximum(np.linalg.norm(vec, axis=-1, keepdims=True), 1e-12)
        jac = diff @ (vec / dist)  # [B, K, 3]
        res = (diff @ dist)[..., 0] - d
        jwt = (jac * w[..., None]).transpose(0, 2, 1)
        step = -(np.linalg.pinv(jwt @ jac) @ (jwt @ res[..., None]))[..., 0]
        s = _halve(s, step, np.sum(w * res * res, axis=-1), (mic_pos, diff, d, w), max_halvings)
    return s


def _halve(s: np.ndarray, step: np.ndarray, cost0: np.ndarray, problem: tuple[np.ndarray, ...],
           max_halvings: int) -> np.ndarray:
    """``s + 2^-h step`` for the smallest h <= max_halvings whose cost is <= ``cost0``, else s.

    Steps shorter than ``_CONVERGED`` metres (converged frames, where rounding noise would make
    every halving fail) are skipped: s stays.
    """
    mic_pos, diff, d, w = problem
    out, todo = s.copy(), np.flatnonzero(np.linalg.norm(step, axis=-1) > _CONVERGED)
    for h in range(max_halvings + 1):
        trial = s[todo] + 0.5**h * step[todo]
        res = (_ranges(trial[:, None], mic_pos[todo]) @ diff[todo].transpose(0, 2, 1))[:, 0]
        res -= d[todo]
        done = np.sum(w[todo] * res * res, axis=-1) <= cost0[todo]
        out[todo[done]] = trial[done]
        todo = todo[~done]
        if len(todo) == 0:
            break
    return out


def _draw_stars(i: np.ndarray, j: np.ndarray, valid: np.ndarray, m: int, n: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Star draws: centre mic ``a [B, n]``, measurement indices ``[B, n, 3]``, ``ok [B, n]``."""
    bsz, k = valid.shape
    rows = np.arange(bsz)[:, None]
    adj = np.zeros((bsz, m, m), dtype=bool)
    bb, kk = np.nonzero(valid)
    adj[bb, i[bb, kk], j[bb, kk]] = True
    adj |= adj.transpose(0, 2, 1)
    eligible = adj.sum(-1) >= 3
    n_elig = eligible.sum(-1)
    rank = np.minimum(np.floor(rng.random((bsz, n)) * n_elig[:, None]), n_elig[:, None] - 1)
    a = np.argmax(np.cumsum(eligible, -1)[:, None, :] > rank[..., None], axis=-1)
    keys = np.where(adj[rows, a], rng.random((bsz, n, m)), 2.0)
    partners = np.argpartition(keys, 2, axis=-1)[..., :3]
    # measurements grouped by unordered pair: sorted order, start and count per pair key
    key = np.where(valid, np.minimum(i, j) * m + np.maximum(i, j), m * m)
    order = np.argsort(key, axis=-1, kind="stable")
    counts = np.zeros((bsz, m * m + 1), dtype=np.int64)
    np.add.at(counts, (bb, key[bb, kk]), 1)
    starts = np.cumsum(counts, -1) - counts
    pk = np.minimum(a[..., None], partners) * m + np.maximum(a[..., None], partners)
    rows3 = rows[..., None]
    pick = starts[rows3, pk] + np.floor(rng.random((bsz, n, 3)) * counts[rows3, pk]).astype(int)
    meas = order[rows3, np.minimum(pick, k - 1)]
    return a, meas, n_elig[:, None] > 0


def _ransac(mics: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray, valid: np.ndarray,
            diff: np.ndarray, params: RansacParams,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Best hypothesis ``[B, 3]`` and its inlier mask ``[B, K]``."""
    bsz, m = mics.shape[:2]
    rows = np.arange(bsz)[:, None, None]
    a, meas, ok = _draw_stars(i, j, valid, m, params.iterations, rng)
    sign = np.where(i[rows, meas] == a[..., None], 1.0, -1.0)
    other = np.where(sign > 0, j[rows, meas], i[rows, meas])
    hyp, _ = star_solutions_batch(mics[rows[..., 0], a], mics[rows, other], sign * d[rows, meas])
    hyp = np.where(ok[..., None, None], hyp, np.nan).reshape(bsz, -1, 3)
    best = np.empty((bsz, 3))
    step = max(1, _CHUNK // max(1, hyp.shape[1] * d.shape[1]))
    diff_t = diff.transpose(0, 2, 1).astype(np.float32)  # scoring in float32: ~1e-6 m accurate
    target = np.where(valid, d, np.inf).astype(np.float32)  # invalid: never an inlier
    for lo in range(0, bsz, step):
        sl = slice(lo, lo + step)
        err = _ranges(hyp[sl], mics[sl]).astype(np.float32) @ diff_t[sl] - target[sl, None, :]
        err *= err
        inl = err < np.float32(params.inlier_m**2)
        tie = np.sum(np.where(inl, err, 0), -1, dtype=np.float64) / params.inlier_m**2
        score = inl.sum(-1) - tie / (d.shape[1] + 1)  # inlier count, ties: inlier L2
        best[sl] = hyp[sl][np.arange(len(score)), np.argmax(score, axis=-1)]
    err = (_ranges(best[:, None, :], mics) @ diff.transpose(0, 2, 1))[:, 0] - d
    return best, (np.abs(err) < params.inlier_m) & valid


def multilaterate_batch(mic_pos: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray,
                        valid: np.ndarray | None = None, params: RansacParams = RansacParams(),
                        rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Source positions ``[B, 3]`` (NaN where unsolved) and inlier counts ``[B]`` (int64).

    ``mic_pos [B, M, 3]`` or ``[M, 3]`` (NaN rows: unknown mics, their measurements are dropped);
    ``i, j [K]`` or ``[B, K]``; ``d [B, K]`` metres; ``valid [B, K]`` (default: finite d).
    The inlier count is -1 for frames skipped for too few measurements (see
    :func:`failure_reasons`). ``rng`` defaults to ``numpy.random.default_rng(0)``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    bsz, k = d.shape
    mics = np.broadcast_to(np.asarray(mic_pos, dtype=np.float64), (bsz,) + np.shape(mic_pos)[-2:])
    i = np.broadcast_to(np.asarray(i, dtype=np.int64), (bsz, k))
    j = np.broadcast_to(np.asarray(j, dtype=np.int64), (bsz, k))
    known = np.all(np.isfinite(mics), axis=-1)
    rows = np.arange(bsz)[:, None]
    ok = np.isfinite(d) & known[rows, i] & known[rows, j] & (i != j)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    mics, d = np.where(known[..., None], mics, 0.0), np.where(ok, d, 0.0)
    positions = np.full((bsz, 3), np.nan)
    inliers = np.full(bsz, -1, dtype=np.int64)
    tried = np.flatnonzero(ok.sum(-1) >= params.min_measurements)
    if len(tried) == 0:
        return positions, inliers
    sub = (mics[tried], i[tried], j[tried], d[tried], ok[tried])
    diff = _difference_matrix(sub[1], sub[2], mics.shape[1])
    best, mask = _ransac(*sub, diff, params, rng)
    inliers[tried] = mask.sum(-1)
    fit = inliers[tried] >= params.min_inliers
    if fit.any():
        positions[tried[fit]] = gauss_newton(*(x[fit] for x in sub[:4]), mask[fit], best[fit],
                                             params.gn_iterations, params.max_halvings)
    return positions, inliers


def multilaterate(mic_pos: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray,
                  params: RansacParams = RansacParams(),
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """One frame: ``(position [3] or NaN, n_inliers)`` (-1 inliers: too few measurements)."""
    pos, inl = multilaterate_batch(np.asarray(mic_pos)[None], np.asarray(i)[None],
                                   np.asarray(j)[None], np.asarray(d)[None], None, params, rng)
    return pos[0], int(inl[0])


def failure_reasons(inliers: np.ndarray, params: RansacParams = RansacParams()) -> np.ndarray:
    """Per frame ``""`` (solved), ``REASON_MEASUREMENTS`` or ``REASON_INLIERS`` from inlier counts."""
    inliers = np.asarray(inliers)
    out = np.where(inliers < params.min_inliers, REASON_INLIERS, "").astype(object)
    out[inliers < 0] = REASON_MEASUREMENTS
    return out
