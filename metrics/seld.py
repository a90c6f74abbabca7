"""The DCASE2024 SELD metrics (Paper VI): frame-level, location-dependent detection with
distance, as the official ``SELD_evaluation_metrics.py`` computes them.

Events are (frame, class, unit direction, distance in m) rows at the 100 ms label hop. For each
frame t and class c with R references and P predictions, the K = min(R, P) pairs are matched
by the Hungarian method on the angle alone; a matched pair *fails* when its angle exceeds 20
degrees or its relative distance error |d_hat - d| / (d + eps) exceeds 1.0. With L failures:

    TP_c += K - L     FPs_c += L     FP_c += max(0, P - R)     FN_c += max(0, R - P)
    M_c += K (matched pairs)     Ang_c, Dist_c, Rel_c += the sums of the K pairs' errors

and, per frame, with fp_t = sum_c (L + max(0, P - R)) and fn_t = sum_c max(0, R - P):
S += min(fp_t, fn_t), D += max(0, fn_t - fp_t), I += max(0, fp_t - fn_t).

Per class (eps = float64 machine epsilon):

    F_c = TP_c / (eps + TP_c + FPs_c + (FP_c + FN_c) / 2)
    DOAE_c = Ang_c / M_c, DE_c = Dist_c / M_c, RDE_c = Rel_c / M_c   (NaN when M_c = 0)
    LR_c = M_c / (eps + M_c + FN_c)
    SELD_c = nanmean(1 - F_c, DOAE_c / 180, RDE_c)

Macro (the default): F, LR and SELD are the means over every class (a class never present
and never predicted counts F_c = 0); DOAE, DE and RDE are NaN-means over classes with a matched
pair. Micro: the same formulas on the sums over classes. ER = (S + D + I) / (eps + sum_c N_c)
with N_c the reference events. The official quirks are kept by default: frames from the last
annotated reference frame on are not evaluated (predictions there are ignored), an angle of
exactly 20 degrees fails (the 1e-10 under the square root makes it 20.00000002) and a relative
error of exactly 1.0 passes (0.9999999999999998).

Statistics are summable per file (``file_stats``), so a split is scored by ``scores`` of their
sum and the jackknife over files (``jackknife_scores``) leaves one file's row out at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from perloc.bench.core.cards import MetricCard, SharedRows
from perloc.metrics.bootstrap import JackknifeInterval, jackknife

EPS = float(np.finfo(np.float64).eps)
DOA_THRESHOLD = 20.0  # degrees
REL_DIST_THRESHOLD = 1.0
NAMES = ("F", "DOAE", "RDE", "DE", "ER", "LR", "SELD")
PER_CLASS = ("tp", "fp_spatial", "fp", "fn", "matched", "ang", "dist", "rel", "n_ref")
_TP, _FPS, _FP, _FN, _M, _ANG, _DIST, _REL, _NREF = range(len(PER_CLASS))
FRAME_TERMS = ("S", "D", "I")


@dataclass(frozen=True)
class SeldConfig:
    """The scoring rules: the DCASE2024 values by default."""

    n_classes: int = 13
    doa_threshold: float = DOA_THRESHOLD
    rel_dist_threshold: float = REL_DIST_THRESHOLD
    skip_last_reference_frame: bool = True  # the official quirk (spec gotcha 3)

    @property
    def width(self) -> int:
        """Length of one file's statistics row: per-class terms, then S, D, I."""
        return self.n_classes * len(PER_CLASS) + len(FRAME_TERMS)


def angular_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between direction vectors [..., 3], as the official code computes it:
    arccos(clip(a.b / (sqrt(|a|^2 + 1e-10) sqrt(|b|^2 + 1e-10)), -1, 1)) * 180 / pi.

    >>> float(angular_error_deg(np.array([1.0, 0, 0]), np.array([0.0, 1, 0])).round(6))
    90.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm_a = np.sqrt(np.sum(a * a, axis=-1) + 1e-10)
    norm_b = np.sqrt(np.sum(b * b, axis=-1) + 1e-10)
    cosine = np.clip(np.sum(a * b, axis=-1) / (norm_a * norm_b), -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def _evaluated(events, n_frames: int):
    frame = np.asarray(events.frame, dtype=np.int64)
    keep = frame < n_frames
    return (frame[keep], np.asarray(events.cls, dtype=np.int64)[keep],
            np.asarray(events.xyz, dtype=np.float64).reshape(-1, 3)[keep],
            np.asarray(events.dist, dtype=np.float64)[keep])


def frames_scored(ref, pred, config: SeldConfig) -> int:
    """Frames 0 .. n-1 are evaluated: n = the last reference frame index (official), or one
    past the last frame of either file without the quirk."""
    ref_frames, pred_frames = np.asarray(ref.frame), np.asarray(pred.frame)
    last_ref = int(ref_frames.max()) if ref_frames.size else 0
    if config.skip_last_reference_frame:
        return last_ref
    last_pred = int(pred_frames.max()) + 1 if pred_frames.size else 0
    return max(last_ref + 1 if ref_frames.size else 0, last_pred)


def file_stats(ref, pred, config: SeldConfig = SeldConfig()) -> np.ndarray:
    """One file's summable statistics [config.width] (the module docstring's terms).

    ``ref`` and ``pred`` carry ``frame`` [N] ints, ``cls`` [N] ints, ``xyz`` [N, 3] directions
    (any length) and ``dist`` [N] metres.
    """
    n_frames, n_classes = frames_scored(ref, pred, config), config.n_classes
    r_frame, r_cls, r_xyz, r_dist = _evaluated(ref, n_frames)
    p_frame, p_cls, p_xyz, p_dist = _evaluated(pred, n_frames)
    cells = n_frames * n_classes
    r_key, p_key = r_frame * n_classes + r_cls, p_frame * n_classes + p_cls
    n_ref = np.bincount(r_key, minlength=cells).reshape(n_frames, n_classes)
    n_pred = np.bincount(p_key, minlength=cells).reshape(n_frames, n_classes)
    pairs = _matched_pairs(r_key, r_xyz, r_dist, p_key, p_xyz, p_dist, n_ref, n_pred)
    key, angle, dist_err, rel_err = pairs
    failed = (angle > config.doa_threshold) | (rel_err > config.rel_dist_threshold)
    pair_cls = key % n_classes
    failures = np.bincount(key[failed], minlength=cells).reshape(n_frames, n_classes)
    matched = np.minimum(n_ref, n_pred)
    over, under = np.maximum(0, n_pred - n_ref), np.maximum(0, n_ref - n_pred)
    per_class = np.zeros((len(PER_CLASS), n_classes))
    per_class[_TP] = (matched - failures).sum(axis=0)
    per_class[_FPS] = failures.sum(axis=0)
    per_class[_FP] = over.sum(axis=0)
    per_class[_FN] = under.sum(axis=0)
    per_class[_M] = matched.sum(axis=0)
    for row, values in ((_ANG, angle), (_DIST, dist_err), (_REL, rel_err)):
        per_class[row] = np.bincount(pair_cls, weights=values, minlength=n_classes)
    per_class[_NREF] = n_ref.sum(axis=0)
    fp_t, fn_t = (failures + over).sum(axis=1), under.sum(axis=1)
    frame_terms = [np.minimum(fp_t, fn_t).sum(), np.maximum(0, fn_t - fp_t).sum(),
                   np.maximum(0, fp_t - fn_t).sum()]
    return np.concatenate([per_class.T.ravel(), frame_terms])


def _matched_pairs(r_key, r_xyz, r_dist, p_key, p_xyz, p_dist, n_ref, n_pred):
    """The Hungarian-matched (reference, prediction) pairs of every (frame, class) cell:
    (cell key, angle in degrees, |d_hat - d|, |d_hat - d| / (d + eps)), each [K]."""
    r_order, p_order = np.argsort(r_key, kind="stable"), np.argsort(p_key, kind="stable")
    r_key, r_xyz, r_dist = r_key[r_order], r_xyz[r_order], r_dist[r_order]
    p_key, p_xyz, p_dist = p_key[p_order], p_xyz[p_order], p_dist[p_order]
    both = np.flatnonzero((n_ref.ravel() > 0) & (n_pred.ravel() > 0))
    r_start = np.searchsorted(r_key, both)
    p_start = np.searchsorted(p_key, both)
    single = (n_ref.ravel()[both] == 1) & (n_pred.ravel()[both] == 1)
    ri, pi = list(r_start[single]), list(p_start[single])  # one-to-one cells: no search
    keys = list(both[single])
    for cell, r0, p0 in zip(both[~single], r_start[~single], p_start[~single], strict=True):
        r_n, p_n = n_ref.ravel()[cell], n_pred.ravel()[cell]
        cost = angular_error_deg(r_xyz[r0:r0 + r_n, None], p_xyz[None, p0:p0 + p_n])
        rows, cols = linear_sum_assignment(cost)
        ri += list(r0 + rows)
        pi += list(p0 + cols)
        keys += [cell] * len(rows)
    ri, pi = np.asarray(ri, dtype=np.int64), np.asarray(pi, dtype=np.int64)
    angle = angular_error_deg(r_xyz[ri], p_xyz[pi])
    dist_err = np.abs(p_dist[pi] - r_dist[ri])
    return np.asarray(keys, dtype=np.int64), angle, dist_err, dist_err / (r_dist[ri] + EPS)


def _per_class(stats: np.ndarray, n_classes: int) -> np.ndarray:
    """[..., width] -> [..., terms, classes]."""
    head = stats[..., :n_classes * len(PER_CLASS)]
    return np.swapaxes(head.reshape(*stats.shape[:-1], n_classes, len(PER_CLASS)), -1, -2)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the finite entries; NaN (quietly) where there is none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return _ratio(total, count.astype(np.float64))


def class_scores(stats: np.ndarray, config: SeldConfig = SeldConfig()) -> dict[str, np.ndarray]:
    """Per-class F, DOAE, RDE, DE, LR, SELD of summed statistics [..., width] -> [..., C]."""
    c = _per_class(np.asarray(stats, dtype=np.float64), config.n_classes)
    f = c[..., _TP, :] / (EPS + c[..., _TP, :] + c[..., _FPS, :]
                          + 0.5 * (c[..., _FP, :] + c[..., _FN, :]))
    doae, de, rde = (_ratio(c[..., row, :], c[..., _M, :]) for row in (_ANG, _DIST, _REL))
    lr = c[..., _M, :] / (EPS + c[..., _M, :] + c[..., _FN, :])
    seld = _nanmean(np.stack([1.0 - f, doae / 180.0, rde]), axis=0)
    return {"F": f, "DOAE": doae, "RDE": rde, "DE": de, "LR": lr, "SELD": seld}


def reference_counts(stats: np.ndarray, config: SeldConfig = SeldConfig()) -> np.ndarray:
    """Reference events per class N_c of summed statistics [..., width] -> [..., C]."""
    return _per_class(np.asarray(stats, dtype=np.float64), config.n_classes)[..., _NREF, :]


def error_rate(stats: np.ndarray, config: SeldConfig = SeldConfig()) -> np.ndarray:
    """ER = (S + D + I) / (eps + N_ref) of summed statistics [..., width] -> [...]."""
    stats = np.asarray(stats, dtype=np.float64)
    n_ref = reference_counts(stats, config).sum(axis=-1)
    return stats[..., -3:].sum(axis=-1) / (EPS + n_ref)


def scores(stats: np.ndarray, config: SeldConfig = SeldConfig(),
           average: str = "macro") -> dict[str, np.ndarray]:
    """F, DOAE, RDE, DE, ER, LR, SELD of summed statistics [..., width] (fractions, degrees,
    unitless, metres; NaN where nothing was matched)."""
    stats = np.asarray(stats, dtype=np.float64)
    if average == "macro":
        per_class = class_scores(stats, config)
        out = {name: _nanmean(per_class[name], axis=-1) if name in ("DOAE", "RDE", "DE")
               else per_class[name].mean(axis=-1) for name in per_class}
    elif average == "micro":
        c = _per_class(stats, config.n_classes).sum(axis=-1)
        tp, fps, fp, fn, m = (c[..., i] for i in (_TP, _FPS, _FP, _FN, _M))
        f = tp / (EPS + tp + fps + 0.5 * (fp + fn))
        doae, de, rde = (_ratio(c[..., row], m) for row in (_ANG, _DIST, _REL))
        out = {"F": f, "DOAE": doae, "RDE": rde, "DE": de, "LR": m / (EPS + m + fn),
               "SELD": _nanmean(np.stack([1.0 - f, doae / 180.0, rde]), axis=0)}
    else:
        raise ValueError(f"average must be macro or micro, got {average!r}")
    out["ER"] = error_rate(stats, config)
    return {name: out[name] for name in NAMES}


def jackknife_scores(per_file: np.ndarray, config: SeldConfig = SeldConfig(),
                     average: str = "macro") -> dict[str, JackknifeInterval]:
    """The jackknife over files (rows of ``per_file`` [n, width]) of every metric
    (:func:`perloc.metrics.bootstrap.jackknife`: leave one file out, bias-corrected estimate,
    95 % t interval), as the DCASE evaluation reports its test-split intervals."""
    per_file = np.asarray(per_file, dtype=np.float64)
    return {name: jackknife(per_file, lambda s, n=name: scores(s, config, average)[n])
            for name in NAMES}


_UNITS = {"F": ("%", True, 100.0), "DOAE": ("deg", False, 1.0), "RDE": ("", False, 1.0),
          "DE": ("m", False, 1.0), "ER": ("", False, 1.0), "LR": ("%", True, 100.0),
          "SELD": ("", False, 1.0)}
_DESCRIPTIONS = {
    "F": "location-dependent F-score, macro over classes (20 deg, relative distance 1.0)",
    "DOAE": "mean angular error of matched pairs, degrees (NaN-mean over classes)",
    "RDE": "mean relative distance error |d_hat - d| / d of matched pairs",
    "DE": "mean absolute distance error of matched pairs, metres",
    "ER": "frame error rate (S + D + I) / N",
    "LR": "localization recall: matched / (matched + missed), macro",
    "SELD": "2024 SELD score, mean over classes of nanmean(1 - F_c, DOAE_c / 180, RDE_c)",
}


def seld_cards(config: SeldConfig = SeldConfig(), average: str = "macro"):
    """MetricCards F, DOAE, RDE, DE, ER, LR, SELD over per-file statistics (F and LR in
    percent) for a task whose prediction and target columns hold events per file."""
    update = SharedRows(lambda pred, truth: np.stack(
        [file_stats(t, p, config) for p, t in zip(pred, truth, strict=True)]))
    stats = tuple(f"{term}_{c}" for c in range(config.n_classes) for term in PER_CLASS) + \
        FRAME_TERMS

    def compute(name: str, factor: float):
        return lambda s: scores(s, config, average)[name] * factor

    return tuple(MetricCard(name, unit, higher, update, compute(name, factor), stats,
                            _DESCRIPTIONS[name])
                 for name, (unit, higher, factor) in _UNITS.items())
