"""Communication cost of federated training (Paper IV, spec ``kws_fl.md`` §5.7).

A run is a curve: after round r the server's test accuracy a_r and the bytes communicated so far
B_r (uplink + downlink over the participating clients, cumulative).

* bytes to reach τ:  B(τ) = B_r* with r* = min{r : a_r ≥ τ}  (∞ when the curve never reaches τ);
* communication gain of a run over a reference (FP32 FedAvg):
  τ = min(max_r a_r^ref, max_r a_r), gain = B^ref(τ) / B(τ).

With equal rounds and an FP8 payload of a quarter of the FP32 one, the gain is about 4; it
exceeds 4 when the FP8 run reaches τ in fewer rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def bytes_to_reach(accuracy: Sequence[float], cumulative_bytes: Sequence[float],
                   tau: float) -> float:
    """B(τ): the cumulative bytes at the first round whose accuracy is at least ``tau``."""
    if len(accuracy) != len(cumulative_bytes):
        raise ValueError("one cumulative byte count per accuracy value")
    for acc, sent in zip(accuracy, cumulative_bytes, strict=True):
        if acc >= tau:
            return float(sent)
    return math.inf


def communication_gain(reference: tuple[Sequence[float], Sequence[float]],
                       run: tuple[Sequence[float], Sequence[float]]) -> float:
    """gain = B^ref(τ) / B(τ) at τ = min(max a^ref, max a); each argument is
    (accuracy per round, cumulative bytes per round). NaN for an empty curve."""
    (acc_ref, bytes_ref), (acc, sent) = reference, run
    if not len(acc_ref) or not len(acc):
        return math.nan
    tau = min(max(acc_ref), max(acc))
    return bytes_to_reach(acc_ref, bytes_ref, tau) / bytes_to_reach(acc, sent, tau)
