"""The SELD training losses (spec seld.md §3.5, §4.3).

**ADPIT** (multi-ACCDOA, class-wise). The output [B, T, 3 tracks, 4 (x, y, z, d), C] is
compared, per (batch, frame, class), with 13 arrangements of the activity-coupled slot
targets a_s (x, y, z, d) of ``adpit_labels``: A0A0A0; the six sequences of B0/B1 that hold
both; the six permutations of C0C1C2. A class is in one group only, so each arrangement is
padded with the other groups' fixed arrangements (A + B0B0B1 + C0C1C2, and so on), which are
zero there. The loss is the mean over (b, t, c) of the minimum over arrangements of the MSE
over the 12 values. ``relative_distance`` (Paper VI, the ngcc-seld default) divides the
squared distance error by (d_target + 0.001) wherever d_target > 0.

**Multi-target PIT** (Paper VI eq. 5-6). Each row is one (batch, frame, microphone pair) with
K track logits over the lags and up to three target lags (-100: none). With P >= K targets the
candidates are the K-subsets of the targets; with P < K, the targets padded by repeating the
last ([e1, e2, e2]) or the first ([e1, e2, e1]). The row's loss is the minimum over every
candidate and every permutation of the mean cross-entropy over tracks; rows with P = 0 are
left out of the mean.
"""

from __future__ import annotations

from itertools import combinations, permutations

import torch
import torch.nn.functional as F

IGNORE = -100
_A = ((0, 0, 0),)
_B = tuple(sorted({p for p in permutations((1, 1, 2))} | {p for p in permutations((1, 2, 2))}))
_C = tuple(permutations((3, 4, 5)))
_PAD = {"A": ((1, 1, 2), (3, 4, 5)), "B": ((0, 0, 0), (3, 4, 5)), "C": ((0, 0, 0), (1, 1, 2))}
ARRANGEMENTS = tuple((slots, _PAD[group]) for group, members in (("A", _A), ("B", _B), ("C", _C))
                     for slots in members)  # 13: (slot per track, padding arrangements)


def adpit_targets(labels: torch.Tensor) -> torch.Tensor:
    """ADPIT labels [B, T, 6, 5, C] -> the 13 padded arrangements [B, T, 13, 3, 4, C]."""
    coupled = labels[..., :1, :] * labels[..., 1:, :]  # activity x (x, y, z, d): [B, T, 6, 4, C]
    return torch.stack([sum(coupled[:, :, list(arr)] for arr in (slots, *pads))
                        for slots, pads in ARRANGEMENTS], dim=2)


def adpit_loss(output: torch.Tensor, labels: torch.Tensor, relative_distance: bool = True
               ) -> torch.Tensor:
    """Mean over (b, t, c) of min over the 13 arrangements of the 12-value MSE.

    ``output`` [B, T, 3, 4, C] (the 156-wide head reshaped), ``labels`` [B, T, 6, 5, C].
    """
    targets = adpit_targets(labels)  # [B, T, 13, 3, 4, C]
    error = (output.unsqueeze(2) - targets) ** 2
    if relative_distance:
        distance = targets[..., 3, :]
        scaled = error[..., 3, :] / torch.where(distance > 0, distance + 0.001,
                                                torch.ones_like(distance))
        error = torch.cat([error[..., :3, :], scaled.unsqueeze(-2)], dim=-2)
    per_arrangement = error.mean(dim=(3, 4))  # [B, T, 13, C]
    return per_arrangement.min(dim=2).values.mean()


def _assignments(n_targets: int, n_tracks: int) -> list[tuple[int, ...]]:
    """Every (target index per track) the PIT minimum runs over, for P targets and K tracks."""
    if n_targets >= n_tracks:
        bases = list(combinations(range(n_targets), n_tracks))
    else:
        last = tuple(range(n_targets)) + (n_targets - 1,) * (n_tracks - n_targets)
        first = tuple(range(n_targets)) + tuple(range(n_tracks - n_targets))
        bases = [last, first]
    return sorted({perm for base in bases for perm in permutations(base)})


def pit_tdoa_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``logits`` [N, K, lags], ``targets`` [N, 3] lag classes (IGNORE: none, the valid ones
    first) -> the mean over rows with a target of the PIT cross-entropy (module docstring)."""
    n_tracks = logits.shape[1]
    valid = targets != IGNORE
    count = valid.sum(dim=1)
    log_p = F.log_softmax(logits, dim=-1)
    safe = torch.where(valid, targets, torch.zeros_like(targets))
    # ce[n, k, e]: cross-entropy of track k against target e
    ce = -torch.gather(log_p, 2, safe.unsqueeze(1).expand(-1, n_tracks, -1))
    rows = []
    for p in range(1, targets.shape[1] + 1):
        chosen = count == p
        if not chosen.any():
            continue
        index = torch.tensor(_assignments(p, n_tracks), device=logits.device)  # [A, K]
        picked = ce[chosen][:, torch.arange(n_tracks, device=logits.device), index]  # [n, A, K]
        rows.append(picked.mean(dim=-1).min(dim=-1).values)
    if not rows:
        return logits.sum() * 0.0
    return torch.cat(rows).mean()
