"""Classical TDOA estimators: generalized cross-correlation with PHAT, SCOT, ROTH or no weighting.

All four are the one batched op of ``perloc.methods.layers.gcc`` with a different spectral
weighting W[k] in R[m] = IDFT(W[k] X1[k] X2*[k])[m]; the estimate is the integer argmax over
lags -max_tau..max_tau (no interpolation, as in Papers V and VII).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.registry import METHODS
from perloc.methods.checks import require_at_least, require_positive
from perloc.methods.layers.gcc import GCCParams, estimate_all_pairs


@dataclass(frozen=True)
class GccTdoaParams:
    """eps: added to the weighting's denominator (1e-3 absolute in Paper V's code);
    max_tau: largest lag searched (23 samples for the 0.5 m pair at 16 kHz);
    n_fft: FFT length, None for 2N (linear correlation, the reference convention)."""

    eps: float = 1e-3
    max_tau: int = 23
    n_fft: int | None = None

    def __post_init__(self) -> None:
        require_positive("eps", self.eps)
        require_at_least("max_tau", self.max_tau, 0)
        if self.n_fft is not None:
            require_at_least("n_fft", self.n_fft, 2)


class GccTdoa:
    """Pair (0, 1) of ``batch["signals"]`` (B, M, N) -> ``tau`` (B,) integer samples."""

    card: MethodCard
    weighting = "phat"

    def __init__(self, params: GccTdoaParams = GccTdoaParams()) -> None:
        self.params = params
        self.gcc_params = GCCParams(self.weighting, params.eps, params.max_tau, params.n_fft)

    def predict(self, batch: Batch) -> Batch:
        with torch.inference_mode():
            tau, _ = estimate_all_pairs(batch["signals"], self.gcc_params)
        return Batch({"tau": device.host(tau[:, 0]).astype(np.int64)}, dict(batch.meta))


_VARIANTS = (
    ("gcc-phat", "phat", ("phat",), "W = 1 / (|X1 X2*| + eps): whitened cross-spectrum"),
    ("gcc-scot", "scot", ("scot",), "W = 1 / (sqrt(|X1|^2 |X2|^2) + eps), smoothed coherence"),
    ("gcc-roth", "roth", ("roth",), "W = 1 / (|X2|^2 + eps): Roth processor, mic 2 as reference"),
    ("gcc-cc", "cc", ("cc",), "W = 1: plain cross-correlation"),
)

for _name, _weighting, _aliases, _summary in _VARIANTS:
    _card = MethodCard(
        name=_name, task="tdoa", kind="classical", params=GccTdoaParams,
        reference="Knapp & Carter 1976; Paper V section 2 (GCC-PHAT baseline)",
        summary=_summary, capabilities=frozenset({"shift_equivariant"}), aliases=_aliases,
    )
    METHODS.add(_name, type(f"Gcc{_weighting.title()}", (GccTdoa,),
                            {"card": _card, "weighting": _weighting, "__doc__": _summary}),
                _aliases)
