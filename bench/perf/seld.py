"""SELD front ends in real time, and the frame-level scorer against a plain per-frame loop.

1. Real-time factor of each feature set (``gcc-ms``, ``salsa-lite``, ``ngcc-log-mel``) on a
   batch of ``batch`` 4-channel 24 kHz noise clips of ``seconds`` each: RTF = compute seconds /
   seconds of (4-channel) audio, and its inverse "x real time"; medians of ``repeats`` after a
   warm-up, with one torch thread and with all of them.
2. The scorer: :func:`perloc.metrics.seld.file_stats` on a synthetic split shaped like a test
   split (``files`` x ``frames`` label frames, up to 3 events per frame, same-class overlaps;
   predictions are perturbed copies, with misses, wrong classes and false alarms, some after
   the last reference frame) against :func:`loop_file_stats`, written here the way the official
   ``SELD_evaluation_metrics.py`` is organised: dictionaries frame -> class -> list of events,
   a Python loop over frames and classes, scipy's ``linear_sum_assignment`` per (frame, class).
   Both must give the same statistics (counts equal, sums within 1e-12 relative) before the
   speed ratio, measured in the same run, is reported.
"""

from __future__ import annotations

import math
import time

import click
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds
from perloc.datasets.dcase_csv import DcaseEvents
from perloc.methods.seld.features import FEATURE_SETS, FeatureParams, NgccLogMel
from perloc.metrics.seld import PER_CLASS, SeldConfig, file_stats

FS = 24_000
BENCHED = ("gcc-ms", "salsa-lite", "ngcc-log-mel")
EPS = float(np.finfo(np.float64).eps)
DCASE2024 = SeldConfig()
COUNTS = ("tp", "fp_spatial", "fp", "fn", "matched", "n_ref")


# --- the plain loop (an independent implementation of metrics/seld.py's rules) -------------

def _angle_deg(a, b) -> float:
    """The official formula: each vector divided by sqrt(|v|^2 + 1e-10), dot clipped, arccos."""
    na = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + 1e-10)
    nb = math.sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2] + 1e-10)
    dot = (a[0] / na) * (b[0] / nb) + (a[1] / na) * (b[1] / nb) + (a[2] / na) * (b[2] / nb)
    return math.degrees(math.acos(min(1.0, max(-1.0, dot))))


def _organise(events: DcaseEvents, n_frames: int) -> dict[int, dict[int, list]]:
    """frame -> class -> [[x, y, z, distance], ...] for frames < n_frames."""
    out: dict[int, dict[int, list]] = {}
    for frame, cls, xyz, dist in zip(events.frame, events.cls, events.xyz, events.dist,
                                     strict=True):
        if frame < n_frames:
            out.setdefault(int(frame), {}).setdefault(int(cls), []).append(
                [float(xyz[0]), float(xyz[1]), float(xyz[2]), float(dist)])
    return out


def _frames(ref: DcaseEvents, pred: DcaseEvents, config: SeldConfig) -> int:
    last_ref = max((int(f) for f in ref.frame), default=None)
    if config.skip_last_reference_frame:  # nb_ref_frames = the largest reference frame index
        return 0 if last_ref is None else last_ref
    last_pred = max((int(f) for f in pred.frame), default=None)
    return max(-1 if last_ref is None else last_ref, -1 if last_pred is None else last_pred) + 1


def loop_file_stats(ref: DcaseEvents, pred: DcaseEvents,
                    config: SeldConfig = DCASE2024) -> np.ndarray:
    """One file's statistics in :func:`perloc.metrics.seld.file_stats`'s layout, by a Python
    loop over frames and classes (the official code's shape)."""
    n_frames, n_classes = _frames(ref, pred, config), config.n_classes
    gt, est = _organise(ref, n_frames), _organise(pred, n_frames)
    acc = {name: [0.0] * n_classes for name in PER_CLASS}
    sub = dele = ins = 0
    for frame in range(n_frames):
        fp_frame = fn_frame = 0
        for c in range(n_classes):
            refs, preds = gt.get(frame, {}).get(c, []), est.get(frame, {}).get(c, [])
            n_r, n_p = len(refs), len(preds)
            acc["n_ref"][c] += n_r
            if n_r and n_p:
                cost = np.array([[_angle_deg(r, p) for p in preds] for r in refs])
                rows, cols = linear_sum_assignment(cost)
                failed = 0
                for i, j in zip(rows, cols, strict=True):
                    angle, dist_err = cost[i, j], abs(preds[j][3] - refs[i][3])
                    rel_err = dist_err / (refs[i][3] + EPS)
                    acc["ang"][c] += angle
                    acc["dist"][c] += dist_err
                    acc["rel"][c] += rel_err
                    failed += (angle > config.doa_threshold) or (rel_err > config.rel_dist_threshold)
                acc["tp"][c] += len(rows) - failed
                acc["fp_spatial"][c] += failed
                acc["fp"][c] += max(0, n_p - n_r)
                acc["fn"][c] += max(0, n_r - n_p)
                acc["matched"][c] += len(rows)
                fp_frame += failed + max(0, n_p - n_r)
                fn_frame += max(0, n_r - n_p)
            elif n_r:
                acc["fn"][c] += n_r
                fn_frame += n_r
            elif n_p:
                acc["fp"][c] += n_p
                fp_frame += n_p
        sub += min(fp_frame, fn_frame)
        dele += max(0, fn_frame - fp_frame)
        ins += max(0, fp_frame - fn_frame)
    per_class = np.array([acc[name] for name in PER_CLASS], dtype=np.float64)  # [terms, C]
    return np.concatenate([per_class.T.ravel(), [sub, dele, ins]])


def same_stats(a: np.ndarray, b: np.ndarray, config: SeldConfig = DCASE2024) -> bool:
    """Statistics rows ``[..., width]``: counts (and S, D, I) equal, error sums within 1e-12
    relative."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.shape[-1] != config.width:
        return False
    counts = np.array([name in COUNTS for name in PER_CLASS] * config.n_classes + [True] * 3)
    return bool(np.array_equal(a[..., counts], b[..., counts])
                and np.allclose(a[..., ~counts], b[..., ~counts], rtol=1e-12, atol=1e-12))


# --- synthetic split -----------------------------------------------------------------------

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthetic_file(rng: np.random.Generator, frames: int, n_classes: int = 13
                   ) -> tuple[DcaseEvents, DcaseEvents]:
    """(reference, prediction) events of one scene: tracks of 10-100 frames drifting in
    direction, at most 3 active per frame, classes drawn half the time from 3 common ones so
    that a class overlaps itself; predictions keep 85 % of the events (5 % with another class)
    with ~8 degree and 25 % distance noise (some beyond the thresholds), plus false alarms on
    5 % of the frames, up to 20 frames past the end."""
    rows = []  # frame, class, x, y, z, distance
    active = np.zeros(frames, dtype=np.int64)
    for _ in range(max(1, frames // 12)):
        start, length = int(rng.integers(0, frames)), int(rng.integers(10, 100))
        cls = int(rng.integers(0, 3) if rng.random() < 0.5 else rng.integers(0, n_classes))
        direction, drift = _unit(rng.standard_normal(3)), 0.02 * rng.standard_normal(3)
        dist = rng.uniform(0.5, 4.0)
        for t in range(start, min(frames, start + length)):
            if active[t] < 3:
                active[t] += 1
                rows.append((t, cls, *_unit(direction + (t - start) * drift), dist))
    ref = np.array(rows, dtype=np.float64).reshape(-1, 6)
    keep = ref[rng.random(len(ref)) < 0.85]
    pred = keep.copy()
    relabel = rng.random(len(pred)) < 0.05
    pred[relabel, 1] = rng.integers(0, n_classes, int(relabel.sum()))
    pred[:, 2:5] = _unit(pred[:, 2:5] + 0.15 * rng.standard_normal((len(pred), 3)))
    pred[:, 5] = np.abs(pred[:, 5] * (1 + 0.25 * rng.standard_normal(len(pred))))
    n_false = max(1, frames // 20)
    false = np.column_stack([rng.integers(0, frames + 20, n_false),
                             rng.integers(0, n_classes, n_false),
                             _unit(rng.standard_normal((n_false, 3))),
                             rng.uniform(0.5, 4.0, n_false)])
    pred = np.concatenate([pred, false])
    return _events(ref), _events(pred[np.argsort(pred[:, 0], kind="stable")])


def _events(rows: np.ndarray) -> DcaseEvents:
    n = len(rows)
    return DcaseEvents(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64),
                       np.zeros(n, dtype=np.int64), rows[:, 2:5].copy(), rows[:, 5].copy())


def synthetic_split(files: int = 12, frames: int = 600, seed: int = 0
                    ) -> list[tuple[DcaseEvents, DcaseEvents]]:
    rng = np.random.default_rng(seed)
    return [synthetic_file(rng, frames) for _ in range(files)]


# --- measurements ----------------------------------------------------------------------------

def _synchronized(result):
    """``result`` once the device has finished computing it (asynchronous CUDA work)."""
    device.synchronize()
    return result


def _feature_rows(seconds: float, batch: int, repeats: int, threads: list[int]) -> list[dict]:
    n = int(round(seconds * FS))
    audio = device.tensor(
        (0.1 * np.random.default_rng(0).standard_normal((batch, 4, n))).astype(np.float32))
    params = FeatureParams()
    functions = {name: FEATURE_SETS[name] for name in BENCHED}
    module = device.build(lambda: NgccLogMel(params))
    functions["ngcc-log-mel"] = lambda x, p: module(x)
    rows = []
    for count in threads:
        torch.set_num_threads(count)
        for name, fn in functions.items():
            with torch.inference_mode():
                shape = tuple(fn(audio, params).shape)
                elapsed = median_seconds(lambda fn=fn: _synchronized(fn(audio, params)),
                                         repeats)
            rtf = elapsed / (batch * n / FS)
            rows.append({"features": name, "shape": shape, "threads": count,
                         "compute_s": elapsed, "audio_s": batch * n / FS, "rtf": rtf,
                         "x_realtime": 1.0 / rtf})
    return rows


def _scorer(files: int, frames: int, repeats: int) -> dict:
    split = synthetic_split(files, frames)
    config = DCASE2024
    start = time.perf_counter()
    looped = np.stack([loop_file_stats(ref, pred, config) for ref, pred in split])
    loop_s = time.perf_counter() - start
    vectorised = np.stack([file_stats(ref, pred, config) for ref, pred in split])
    if not same_stats(looped, vectorised, config):
        worst = np.max(np.abs(looped - vectorised))
        raise AssertionError(f"file_stats and the plain loop disagree (max |diff| {worst})")
    ours_s = median_seconds(lambda: [file_stats(r, p, config) for r, p in split], repeats)
    return {"files": files, "frames": frames,
            "ref_events": sum(len(r.frame) for r, _ in split),
            "pred_events": sum(len(p.frame) for _, p in split),
            "loop_s": loop_s, "file_stats_s": ours_s, "speedup": loop_s / ours_s,
            "identical": True}


def run_seld_perf(seconds: float = 60.0, batch: int = 2, files: int = 12, frames: int = 600,
                  repeats: int = 3) -> dict:
    """Feature real-time factors (1 thread and all threads) and the scorer comparison."""
    previous = torch.get_num_threads()
    threads = [1] if previous == 1 else [1, previous]
    try:
        features = _feature_rows(seconds, batch, repeats, threads)
    finally:
        torch.set_num_threads(previous)
    return {"features": features, "scorer": _scorer(files, frames, repeats)}


def format_seld_perf(result: dict) -> str:
    rows = [[r["features"], "x".join(map(str, r["shape"])), r["threads"],
             f"{r['compute_s']:.3f}", f"{r['audio_s']:.0f}", f"{r['rtf']:.2e}",
             f"{r['x_realtime']:.0f}x"] for r in result["features"]]
    table = tabulate(rows, headers=["features", "output", "threads", "compute s", "audio s",
                                    "RTF", "x real time"])
    s = result["scorer"]
    scorer = (f"scorer: {s['files']} files x {s['frames']} frames, {s['ref_events']} reference "
              f"/ {s['pred_events']} predicted events; plain per-frame loop {s['loop_s']:.3f} s, "
              f"file_stats {s['file_stats_s']:.3f} s ({s['speedup']:.1f}x), identical "
              f"statistics: {'yes' if s['identical'] else 'NO'}")
    return f"{table}\n\n{scorer}"


@benchmark("seld")
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Length of each noise clip.")
@click.option("--batch", default=2, show_default=True, type=click.IntRange(1, 256),
              help="Clips per feature call.")
@click.option("--files", default=12, show_default=True, type=click.IntRange(1, 1000))
@click.option("--frames", default=600, show_default=True, type=click.IntRange(2, 100_000),
              help="Label frames (100 ms) per synthetic scene.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
def perf_seld_cmd(seconds: float, batch: int, files: int, frames: int, repeats: int) -> None:
    """SELD feature real-time factors; frame-level scorer vs a plain per-frame loop."""
    click.echo(format_seld_perf(run_seld_perf(seconds, batch, files, frames, repeats)))
