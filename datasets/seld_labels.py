"""SELD training targets from DCASE events (spec seld.md §1.2, §1.8, §3.3, §4.3).

* ``adpit_labels``: multi-ACCDOA targets with ADPIT slots, [frames, 6 slots, 5 values
  (activity, x, y, z, distance m), C classes]. Per frame and class with n instances (in file
  order): n = 1 fills slot 0 (A0); n = 2 slots 1, 2 (B0, B1); n >= 3 slots 3, 4, 5 (C0-C2),
  the rest dropped.
* ``tdoa_targets``: Paper VI's multi-target TDOA classes, [frames, 3 events, 6 pairs], the
  lag tau + TAU_MAX of up to three events per frame (-100 where there is none), with
  tau_ij = round(fs / c (||s - r_i|| - ||s - r_j||)) (half to even, as torch.round) for the
  source s = distance x direction and the tetrahedral capsules r of ``MIC_POSITIONS``.
  Events are taken slot A0, then B0, then B1, classes in a random order inside each slot;
  C-slot events are never used (as the reference code).
* ``ACS_TRANSFORMS``: the 8 channel swaps of the MIC format with their label transforms.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from perloc.datasets.dcase_csv import polar_to_unit, unit_to_polar

FS = 24_000
SPEED_OF_SOUND = 343.0
TAU_MAX = 6  # samples: the 8.4 cm sphere diameter at 24 kHz, rounded (spec §1.2)
IGNORE = -100
N_SLOTS, N_TRACKS = 6, 3
_SPHERICAL = ((45, 35), (-45, -35), (135, -35), (-135, 35))  # azimuth, elevation (degrees)
_R = 0.042


MIC_POSITIONS = _R * polar_to_unit(*np.array(_SPHERICAL, dtype=np.float64).T)  # [4, 3] metres
# from the array centre (em32 capsules 6, 10, 22, 26)
PAIRS = tuple(combinations(range(4), 2))  # (1,2), (1,3), (1,4), (2,3), (2,4), (3,4), 0-based

# (label transform of (azimuth, elevation) in degrees, new channel i <- old channel order[i])
ACS_TRANSFORMS = (
    ("az, el", (lambda az, el: (az, el)), (0, 1, 2, 3)),
    ("az - 90, -el", (lambda az, el: (az - 90, -el)), (2, 0, 3, 1)),
    ("-az - 90, el", (lambda az, el: (-az - 90, el)), (3, 1, 2, 0)),
    ("-az, -el", (lambda az, el: (-az, -el)), (1, 0, 3, 2)),
    ("az + 90, -el", (lambda az, el: (az + 90, -el)), (1, 3, 0, 2)),
    ("-az + 90, el", (lambda az, el: (-az + 90, el)), (0, 2, 1, 3)),
    ("az + 180, el", (lambda az, el: (az + 180, el)), (3, 2, 1, 0)),
    ("-az + 180, -el", (lambda az, el: (-az + 180, -el)), (2, 3, 0, 1)),
)


def wrap_azimuth(az):
    """Degrees into [-180, 180)."""
    return (np.asarray(az, dtype=np.float64) + 180.0) % 360.0 - 180.0


def adpit_labels(events, n_frames: int, n_classes: int = 13) -> np.ndarray:
    """Events (``frame``, ``cls``, ``xyz`` unit [N, 3], ``dist`` m) -> [frames, 6, 5, C] float32;
    events at or after ``n_frames`` are dropped."""
    labels = np.zeros((n_frames, N_SLOTS, 5, n_classes), dtype=np.float32)
    frame, cls = np.asarray(events.frame), np.asarray(events.cls)
    xyz, dist = np.asarray(events.xyz), np.asarray(events.dist)
    keep = np.flatnonzero(frame < n_frames)
    order = keep[np.lexsort((keep, cls[keep], frame[keep]))]  # by frame, class, file order
    key = frame[order] * n_classes + cls[order]
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    counts = np.diff(np.r_[starts, len(key)])
    rank = np.arange(len(key)) - np.repeat(starts, counts)
    n = np.repeat(counts, counts)
    slot = np.where(n == 1, 0, np.where(n == 2, 1 + rank, 3 + rank))
    kept = rank < 3
    rows, slot = order[kept], slot[kept]
    values = np.concatenate([np.ones((len(rows), 1)), xyz[rows], dist[rows, None]], axis=1)
    labels[frame[rows], slot, :, cls[rows]] = values
    return labels


def pair_tdoa(positions: np.ndarray) -> np.ndarray:
    """Lags [..., 6] in samples (rounded half to even) of sources [..., 3] for ``PAIRS``."""
    distance = np.linalg.norm(np.asarray(positions)[..., None, :] - MIC_POSITIONS, axis=-1)
    first, second = (np.array([p[k] for p in PAIRS]) for k in (0, 1))
    return np.round(FS / SPEED_OF_SOUND * (distance[..., first] - distance[..., second]))


def tdoa_targets(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ADPIT labels [frames, 6, 5, C] -> TDOA classes [frames, 3, 6] (lag + TAU_MAX; IGNORE
    where a frame has fewer than three usable events)."""
    n_frames, _, _, n_classes = labels.shape
    targets = np.full((n_frames, N_TRACKS, len(PAIRS)), IGNORE, dtype=np.int64)
    for t in np.flatnonzero(labels[:, :3, 0].any(axis=(1, 2))):
        chosen = [labels[t, slot, 1:, c] for slot in range(3) for c in rng.permutation(n_classes)
                  if labels[t, slot, 0, c] > 0][:N_TRACKS]
        sources = np.array([v[:3] * v[3] for v in chosen])
        targets[t, :len(chosen)] = pair_tdoa(sources).astype(np.int64) + TAU_MAX
    return targets


def swap_channels(audio: np.ndarray, events, transform: int):
    """ACS: the recording [4, samples] and events under ``ACS_TRANSFORMS[transform]`` (the
    direction transformed, the distance kept)."""
    _, label_map, order = ACS_TRANSFORMS[transform]
    new_az, new_el = label_map(*unit_to_polar(events.xyz))
    return audio[list(order)], events._replace(xyz=polar_to_unit(wrap_azimuth(new_az), new_el))
