"""PGCC-PHAT: a CNN over GCCs with parametrized PHAT weights (Salvati et al. 2021; Paper V baseline).

For two signals ``x1, x2`` of length N and exponents ``beta_1..beta_K``::

    X1 = rfft(x1, n), X2 = rfft(x2, n)        n = n_fft, or 2N (linear correlation)
    G  = X1 conj(X2),  phi = 1 / (|G| + eps)   eps = 1e-3 absolute, as in the reference GCC
    R_k = irfft(G phi^beta_k, n)[lags]         lags -max_tau..max_tau (index m <-> lag m - max_tau)

beta = 0 is the plain cross-correlation, beta = 1 is GCC-PHAT. The K correlations form a
1 x K x (2 max_tau + 1) image (1 x 11 x 47 by default) fed to 5 x [Conv2d 3x3 valid -> BN2d ->
ReLU] (channels 32..512, giving 512 x 1 x 37) and an MLP
Linear(512*37 -> 512) -> BN1d -> ReLU -> Dropout -> Linear(512 -> 512) -> BN1d -> ReLU -> Dropout
-> Linear(512 -> 1) (regression, MSE on a standardised delay) or -> 2 max_tau + 1 logits
(classification, CE). Spec: tdoa_ssl.md sections 1.2 and 3.7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.registry import METHODS
from perloc.methods.layers.gcc import GCCParams
from perloc.methods.tdoa.learned import LearnedTdoa

HEADS = ("regression", "classification")
DEFAULT_BETAS = tuple(round(0.1 * k, 1) for k in range(11))


def _as_pair_signal(x: Tensor, name: str) -> Tensor:
    """``[B, N]`` or ``[B, 1, N]`` -> float32 ``[B, N]`` (array data: on the cell's device)."""
    x = x if torch.is_tensor(x) else device.tensor(x)
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape [B, N] or [B, 1, N], got {tuple(x.shape)}")
    return x.to(torch.float32)


def gcc_beta(x1, x2, betas, eps: float = 1e-3, max_tau: int = 23, n_fft=None) -> Tensor:
    """Correlations ``R_k = irfft(G phi^beta_k)`` cropped to lags -max_tau..max_tau.

    ``x1, x2``: ``[B, N]`` (or ``[B, 1, N]``); ``betas``: K exponents. Returns
    ``[B, K, 2 max_tau + 1]`` float32. One rfft per signal, one batched irfft over all betas;
    out-of-place throughout, so gradients flow if the inputs require them. Sign convention as
    :func:`perloc.methods.layers.gcc.gcc`: if x1 is x2 delayed by d samples the peak is at +d.
    """
    x1, x2 = _as_pair_signal(x1, "x1"), _as_pair_signal(x2, "x2")
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have equal shapes, got {x1.shape} and {x2.shape}")
    n = GCCParams("cc", eps, max_tau, n_fft).fft_len(x1.shape[-1])  # validates eps/max_tau/n_fft
    beta = torch.as_tensor(betas, dtype=torch.float32, device=x1.device).reshape(-1)
    if beta.numel() == 0:
        raise ValueError("betas must hold at least one exponent")
    cross = torch.fft.rfft(x1, n=n) * torch.fft.rfft(x2, n=n).conj()  # [B, F]
    phi = 1.0 / (cross.abs() + eps)
    weights = torch.pow(phi[:, None, :], beta[None, :, None])  # [B, K, F]; beta = 0 -> exactly 1
    full = torch.fft.irfft(cross[:, None, :] * weights, n=n)  # [B, K, n]
    return torch.cat([full[..., n - max_tau :], full[..., : max_tau + 1]], dim=-1)


def _is_int(v, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_real(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class PgccParams:
    """max_tau: lag window (23 for the 0.5 m pair at 16 kHz); betas: PHAT exponents (image rows);
    channels: output channels of the valid 3x3 convs (each trims 2 rows and 2 lags);
    hidden: MLP width; dropout: MLP dropout; head: "regression" (MSE) or "classification" (CE);
    eps: GCC weight regulariser; sig_len: nominal window length N (FFT length 2N)."""

    max_tau: int = 23
    betas: tuple[float, ...] = DEFAULT_BETAS
    channels: tuple[int, ...] = (32, 64, 128, 256, 512)
    hidden: int = 512
    dropout: float = 0.2
    head: str = "regression"
    eps: float = 1e-3
    sig_len: int = 2048

    def __post_init__(self) -> None:
        for name in ("betas", "channels"):  # accept lists, store tuples (hashable, frozen)
            value = getattr(self, name)
            if not isinstance(value, str | tuple) and hasattr(value, "__iter__"):
                object.__setattr__(self, name, tuple(value))
        checks = {
            "max_tau": _is_int(self.max_tau, 0),
            "betas": isinstance(self.betas, tuple)
            and len(self.betas) > 0
            and all(_is_real(b) for b in self.betas),
            "channels": isinstance(self.channels, tuple)
            and len(self.channels) > 0
            and all(_is_int(c, 1) for c in self.channels),
            "hidden": _is_int(self.hidden, 1),
            "dropout": _is_real(self.dropout) and 0 <= self.dropout < 1,
            "head": self.head in HEADS,
            "eps": _is_real(self.eps) and self.eps >= 0,
            "sig_len": _is_int(self.sig_len, 1) and 2 * self.sig_len >= 2 * self.max_tau + 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid PgccParams.{name}: {getattr(self, name)!r}")
        self.feature_shape()

    @property
    def n_lags(self) -> int:
        return 2 * self.max_tau + 1

    def feature_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` after the convs: ``(channels[-1], K - 2L, 2 max_tau + 1 - 2L)``."""
        trim = 2 * len(self.channels)
        h, w = len(self.betas) - trim, self.n_lags - trim
        if h < 1 or w < 1:
            raise ValueError(
                f"image {len(self.betas)} x {self.n_lags} (betas x lags) is too small for "
                f"{len(self.channels)} valid 3x3 convs (channels): need betas >= {trim + 1} "
                f"and 2 max_tau + 1 >= {trim + 1}"
            )
        return self.channels[-1], h, w


def _conv_stack(channels: tuple[int, ...]) -> nn.Sequential:
    layers, c_in = [], 1
    for c_out in channels:
        layers += [nn.Conv2d(c_in, c_out, kernel_size=3), nn.BatchNorm2d(c_out), nn.ReLU()]
        c_in = c_out
    return nn.Sequential(*layers)


def _mlp(n_in: int, hidden: int, dropout: float, n_out: int) -> nn.Sequential:
    def block(a: int, b: int) -> list[nn.Module]:
        return [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(dropout)]

    return nn.Sequential(*block(n_in, hidden), *block(hidden, hidden), nn.Linear(hidden, n_out))


class PGCCPHAT(nn.Module):
    """PGCC-PHAT network: ``forward(x1, x2)`` -> ``[B]`` (regression, standardised delay) or
    ``[B, 2 max_tau + 1]`` logits (classification; index m <-> lag m - max_tau).

    Buffers ``target_mean`` / ``target_std`` (0 / 1 by default) define the regression target
    ``(tau - mean) / std`` (the reference fits them on 100 random anechoic training delays).
    """

    def __init__(self, params: PgccParams = PgccParams()):
        super().__init__()
        self.params = params
        c, h, w = params.feature_shape()
        n_out = 1 if params.head == "regression" else params.n_lags
        self.convs = _conv_stack(params.channels)
        self.mlp = _mlp(c * h * w, params.hidden, params.dropout, n_out)
        betas = torch.tensor(params.betas, dtype=torch.float32)
        self.register_buffer("betas", betas, persistent=False)
        self.register_buffer("target_mean", torch.tensor(0.0))
        self.register_buffer("target_std", torch.tensor(1.0))

    def image(self, x1, x2) -> Tensor:
        """The ``[B, 1, K, 2 max_tau + 1]`` gcc_beta image of a batch of signal pairs."""
        p = self.params
        return gcc_beta(x1, x2, self.betas, p.eps, p.max_tau)[:, None]

    def forward(self, x1, x2) -> Tensor:
        feats = self.convs(self.image(x1, x2)).flatten(1)
        out = self.mlp(feats)
        return out[:, 0] if self.params.head == "regression" else out

    def set_target_stats(self, mean: float, std: float) -> None:
        """Set the regression standardisation (``std`` > 0)."""
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ValueError(f"need finite mean and std > 0, got {mean!r}, {std!r}")
        self.target_mean.fill_(float(mean))
        self.target_std.fill_(float(std))

    def encode_target(self, tau: Tensor) -> Tensor:
        """Training target for true delays ``tau [B]`` (samples, real-valued): the standardised
        delay ``(tau - mean) / std`` (regression) or class ``round(tau) + max_tau`` (CE;
        ``torch.round``, half to even, as the reference)."""
        tau = torch.as_tensor(tau, dtype=torch.float32, device=self.target_mean.device)
        if self.params.head == "regression":
            return (tau - self.target_mean) / self.target_std
        return torch.round(tau).long() + self.params.max_tau

    def predict_delay(self, out: Tensor, integer: bool = True) -> Tensor:
        """Delay estimate in samples from the network output.

        classification: ``argmax(logits) - max_tau`` (int64).
        regression: ``tau = out * std + mean``. The reference code ([R-ngcc] ``main.py``, spec
        2.2/3.7) does NOT round: it compares this real-valued, unclipped de-standardised
        output with the real-valued truth (so its MSE-variant MAE/RMSE/accuracy are computed on
        a continuous estimate). By default we return ``round(tau)`` (``torch.round``, half to
        even) clipped to [-max_tau, max_tau] as int64, matching the integer output of every
        other TDOA method in the harness; ``integer=False`` returns the reference's real-valued
        estimate (float, unclipped) for reproducing its numbers.
        """
        out = out.detach()
        tau_max = self.params.max_tau
        if self.params.head == "classification":
            return out.argmax(dim=-1) - tau_max
        tau = out * self.target_std + self.target_mean
        if not integer:
            return tau
        return torch.round(tau).clamp(-tau_max, tau_max).long()

    def parameter_count(self) -> int:
        """Number of trainable parameters (11 535 041 for the default regression model)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@dataclass(frozen=True)
class PgccCeParams(PgccParams):
    """PGCC-PHAT with the cross-entropy head (Paper V Table 1, "PGCC-PHAT CE")."""

    head: str = "classification"


class PgccPhat(LearnedTdoa):
    """PGCC-PHAT (Salvati et al. 2021): a CNN on GCCs with weights phi^beta, MSE head."""

    card = MethodCard(
        name="pgcc-phat", task="tdoa", kind="learned", params=PgccParams,
        reference="Salvati et al. 2021; Paper V Table 1 (PGCC-PHAT, MSE)",
        summary="CNN on 11 GCCs with PHAT weight powers 0..1; regression head (MSE)",
        aliases=("pgcc",),
    )

    @staticmethod
    def build(params) -> nn.Module:
        return PGCCPHAT(params)


class PgccPhatCe(PgccPhat):
    """PGCC-PHAT with the classification head trained by cross-entropy."""

    card = MethodCard(
        name="pgcc-phat-ce", task="tdoa", kind="learned", params=PgccCeParams,
        reference="Paper V Table 1 (PGCC-PHAT, CE)",
        summary="PGCC-PHAT with a 2 tau_max + 1 class head (cross-entropy)",
    )


for _method in (PgccPhat, PgccPhatCe):
    METHODS.add(_method.card.name, _method, _method.card.aliases)
