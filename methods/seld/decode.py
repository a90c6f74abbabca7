"""Multi-ACCDOA output -> DCASE events, as the DCASE2024 baseline decodes (spec seld.md §3.6).

Per label frame and class, track k is active when ||(x, y, z)_k|| > 0.5; negative distances
are clipped to 0. Same-class tracks are unified at 15 degrees: of the pairs (0, 1), (1, 2),
(2, 0), those with both tracks active and an angle under 15 degrees (computed as the metric
computes angles) are "similar". With none,
every active track is an event; with exactly one, the pair's mean (direction and distance) is
one event plus the third track if it is active; with two or more, the mean of all three tracks
is one event. Every event is written with track id 0, as the baseline does.
"""

from __future__ import annotations

import numpy as np

from perloc.metrics.seld import angular_error_deg

ACTIVITY_THRESHOLD = 0.5
UNIFY_DEGREES = 15.0
_PAIRS = ((0, 1), (1, 2), (2, 0))


def decode_frame_class(tracks: np.ndarray) -> list[np.ndarray]:
    """One (frame, class): tracks [3, 4] (x, y, z, d) -> the events' (x, y, z, d) rows."""
    tracks = np.asarray(tracks, dtype=np.float64).copy()
    tracks[:, 3] = np.maximum(tracks[:, 3], 0.0)
    active = np.linalg.norm(tracks[:, :3], axis=1) > ACTIVITY_THRESHOLD
    similar = [(i, j) for i, j in _PAIRS if active[i] and active[j]
               and angular_error_deg(tracks[i, :3], tracks[j, :3]) < UNIFY_DEGREES]
    if not similar:
        return [tracks[k] for k in range(3) if active[k]]
    if len(similar) == 1:
        i, j = similar[0]
        third = 3 - i - j
        return [tracks[[i, j]].mean(axis=0)] + ([tracks[third]] if active[third] else [])
    return [tracks.mean(axis=0)]


def decode(output: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output [frames, 3, 4, C] -> (frame [N], class [N], xyz [N, 3], distance [N]) arrays."""
    output = np.asarray(output, dtype=np.float64)
    norms = np.linalg.norm(output[:, :, :3, :], axis=2)  # [frames, 3, C]
    frames, classes = np.nonzero((norms > ACTIVITY_THRESHOLD).any(axis=1))
    rows: list[tuple[int, int, np.ndarray]] = []
    for t, c in zip(frames, classes, strict=True):
        rows += [(t, c, event) for event in decode_frame_class(output[t, :, :, c])]
    if not rows:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros(0))
    values = np.array([r[2] for r in rows])
    return (np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64), values[:, :3], values[:, 3])
