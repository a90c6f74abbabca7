"""NGCC-PHAT (Berg et al., Interspeech 2022; Paper V): learned filters + per-channel GCC-PHAT.

Layer table (spec tdoa_ssl.md section 2.1; defaults N = 2048, L = 128, max_tau = 23 -> 47 lags):

* f (shared by both inputs): SincConv(128, 1023, circular "same", by FFT) -> BN -> LeakyReLU;
  Conv1d 11 / 9 / 7 with circular "same" padding, BN + LeakyReLU, except the last layer
  (128 -> L): BN + identity. BN momentum 0.05. "w/o SincNet" ablation: a plain
  Conv1d(1 -> 128, 1023) (with bias) with circular padding, also computed by FFT.
* per-channel GCC-PHAT of the two L-channel outputs with :func:`perloc.methods.layers.gcc.gcc`
  (n = 2N, eps 1e-3) -> ``[B, L, 47]``.
* g: Conv1d 11 / 9 / 7 (zero "same" padding) + BN (default momentum 0.1, as the reference)
  + LeakyReLU(0.2) + Dropout(0.5); final Conv1d(128 -> 1, k = 5) -> logits ``[B, 47]``.
  Regression head: BN(47) -> LeakyReLU(0.2) -> Linear(47 -> 1); its output is standardised,
  :meth:`NGCCPHAT.predict_delay` de-standardises with the ``target_mean`` / ``target_std``
  buffers (persistent only for this head).

Key mapping to the authors' checkpoint (axeber01/ngcc ``model.pth``): the identity. Submodules
are named like theirs: ``backbone.conv.{0..3}`` (0 = SincConv with ``low_hz_`` / ``band_hz_``),
``backbone.bn.{0..3}``, ``mlp.{0,1,2}.{0 conv, 1 BN}``, ``final_conv`` (and ``reg.{0 BN, 2
Linear}`` for the regression head). The paper config holds 888,193 trainable parameters and
889,992 state_dict elements (adding 7 BN running means / variances and 7 counters).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import METHODS
from perloc.methods.checks import require_positive_ints
from perloc.methods.layers.conv import LEAKY_SLOPE, CircularFFTConv1d, ConvBlock
from perloc.methods.layers.gcc import GCCParams, all_pairs, gcc, ordered_pairs
from perloc.methods.layers.sinc import SincConv
from perloc.methods.tdoa.learned import LearnedTdoa

HEADS = ("classification", "regression")
BACKBONE_KERNELS = (11, 9, 7)
HEAD_KERNELS = (11, 9, 7)
FINAL_KERNEL = 5


@dataclass(frozen=True)
class NgccParams:
    """Paper V defaults. ``channels``: backbone width; ``corr_channels``: L (last backbone
    layer, correlated channels); ``head_channels``: width of g; ``n_fft``: GCC FFT length
    (None = 2N, linear correlation as the reference; N gives a circular GCC)."""

    sig_len: int = 2048
    max_tau: int = 23
    channels: int = 128
    corr_channels: int = 128
    head_channels: int = 128
    sinc_kernel: int = 1023
    use_sinc: bool = True
    head: str = "classification"
    dropout: float = 0.5
    bn_momentum: float = 0.05
    head_bn_momentum: float = 0.1
    fs: float = 16000
    eps: float = 1e-3
    n_fft: int | None = None

    def __post_init__(self) -> None:
        require_positive_ints(self, ("sig_len", "channels", "corr_channels", "head_channels"))
        require_positive_ints(self, ("sinc_kernel",))
        if self.sinc_kernel % 2 != 1 or self.sinc_kernel > self.sig_len:
            raise ValueError(f"sinc_kernel must be odd and <= sig_len, got {self.sinc_kernel}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("bn_momentum", "head_bn_momentum"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if isinstance(self.max_tau, int) and self.max_tau >= self.sig_len:
            raise ValueError(f"max_tau must be < sig_len, got {self.max_tau}")
        if not self.fs > 0:
            raise ValueError(f"fs must be > 0, got {self.fs!r}")
        self.gcc_params().fft_len(self.sig_len)  # validates eps, max_tau, n_fft

    def gcc_params(self) -> GCCParams:
        """The per-channel GCC-PHAT settings."""
        return GCCParams("phat", self.eps, self.max_tau, self.n_fft)

    @property
    def n_lags(self) -> int:
        return 2 * self.max_tau + 1


class SincBackbone(nn.Module):
    """f: ``x [B, N] -> [B, L, N]``; ``conv`` and ``bn`` lists as in the reference SincNet."""

    def __init__(self, p: NgccParams) -> None:
        super().__init__()
        if p.use_sinc:
            first = SincConv(p.channels, p.sinc_kernel, p.fs)
        else:  # "w/o SincNet" ablation
            first = CircularFFTConv1d(p.channels, p.sinc_kernel)
        widths = [p.channels] * 3 + [p.corr_channels]
        convs: list[nn.Module] = [first]
        for c_in, c_out, k in zip(widths[:-1], widths[1:], BACKBONE_KERNELS, strict=True):
            convs.append(nn.Conv1d(c_in, c_out, k, padding=k // 2, padding_mode="circular"))
        self.conv = nn.ModuleList(convs)
        self.bn = nn.ModuleList(nn.BatchNorm1d(c, momentum=p.bn_momentum) for c in widths)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], 1, x.shape[-1])
        last = len(self.conv) - 1
        for i, (conv, bn) in enumerate(zip(self.conv, self.bn, strict=True)):
            x = bn(conv(x))
            x = x if i == last else self.act(x)
        return x


class NGCCPHAT(nn.Module):
    """Neural GCC-PHAT: ``forward(x1, x2)`` -> logits ``[B, 2 max_tau + 1]`` (or ``[B, 1]``)."""

    pair_chunk = 8  # pairs per head call in :meth:`pair_logits`

    def __init__(self, params: NgccParams = NgccParams()) -> None:
        super().__init__()
        self.params, p = params, params
        self.gcc_params = p.gcc_params()
        self.backbone = SincBackbone(p)
        widths = [p.corr_channels] + [p.head_channels] * len(HEAD_KERNELS)
        self.mlp = nn.ModuleList(
            ConvBlock(c_in, c_out, k, "zeros", p.head_bn_momentum, True, p.dropout)
            for c_in, c_out, k in zip(widths[:-1], widths[1:], HEAD_KERNELS, strict=True)
        )
        self.final_conv = nn.Conv1d(p.head_channels, 1, FINAL_KERNEL, padding=FINAL_KERNEL // 2)
        regression = p.head == "regression"
        if regression:
            self.reg = nn.Sequential(
                nn.BatchNorm1d(p.n_lags), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(p.n_lags, 1)
            )
        self.register_buffer("target_mean", torch.tensor(0.0), persistent=regression)
        self.register_buffer("target_std", torch.tensor(1.0), persistent=regression)

    # -- stages -------------------------------------------------------------------------
    def backbone_features(self, x: Tensor) -> Tensor:
        """f: ``x [B, N]`` -> ``[B, L, N]``."""
        return self.backbone(x)

    def correlate(self, f1: Tensor, f2: Tensor) -> Tensor:
        """Per-channel GCC-PHAT of ``f1, f2 [B, L, N]`` -> ``[B, L, 2 max_tau + 1]``.

        Each channel is a two-mic frame of the shared op (pair (0, 1)); differentiable when
        the inputs require grad.
        """
        b, c, n = f1.shape
        signals = torch.stack([f1, f2], dim=2).reshape(b * c, 2, n)
        return gcc(signals, [[0, 1]], self.gcc_params).view(b, c, -1)

    def head_logits(self, corr: Tensor) -> Tensor:
        """g: ``corr [B, L, 2 max_tau + 1]`` -> logits ``[B, 2 max_tau + 1]`` (or ``[B, 1]``)."""
        for block in self.mlp:
            corr = block(corr)
        logits = self.final_conv(corr)[:, 0]
        return self.reg(logits) if self.params.head == "regression" else logits

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Logits for the pair ``(x1, x2)``, each ``[B, N]``; peak at +d when x1 lags x2 by d."""
        return self.head_logits(self.correlate(self.backbone(x1), self.backbone(x2)))

    # -- arrays -------------------------------------------------------------------------
    def features(self, signals: Tensor, pairs=None, chunk: int = 1) -> Tensor:
        """Per-channel correlations ``[B, P, L, 2 max_tau + 1]`` of ``signals [B, M, N]``.

        f runs once per mic (``chunk`` signals per call: small batches stay in cache on CPU);
        the L channels then go through the shared GCC op as ``[B * L, M, N]`` frames, which
        computes each unordered pair once and fills reversed pairs by flipping
        (``R_ji[t] = R_ij[-t]``). The op works through cache-sized chunks (at M = 11, L = 128:
        4 channels x 55 pairs per irfft batch) instead of one all-pairs batch, which measured
        slower on CPU. ``pairs`` defaults to all M(M-1) ordered pairs.
        """
        b, m, n = signals.shape
        pairs = (ordered_pairs(m, signals.device) if pairs is None
                 else torch.as_tensor(pairs, dtype=torch.long, device=signals.device))
        flat = signals.reshape(b * m, n)
        feats = torch.cat([self.backbone(flat[s : s + chunk]) for s in range(0, b * m, chunk)])
        c = feats.shape[1]
        frames = feats.view(b, m, c, n).transpose(1, 2).reshape(b * c, m, n)
        corr = gcc(frames, pairs, self.gcc_params)  # [B * L, P, lags]
        return corr.view(b, c, len(pairs), -1).transpose(1, 2)

    def pair_logits(self, signals: Tensor, pairs=None) -> Tensor:
        """Logits ``[B, P, lags]`` (or ``[B, P, 1]``) for ``pairs`` (default all unordered)."""
        pairs = all_pairs(signals.shape[1], signals.device) if pairs is None else pairs
        corr = self.features(signals, pairs)
        b, n_pairs = corr.shape[:2]
        flat = corr.reshape(b * n_pairs, *corr.shape[2:])
        step = self.pair_chunk * b
        out = torch.cat([self.head_logits(flat[s : s + step]) for s in range(0, len(flat), step)])
        return out.view(b, n_pairs, -1)

    # -- outputs ------------------------------------------------------------------------
    def predict_delay(self, logits: Tensor) -> Tensor:
        """Integer delay ``argmax - max_tau`` (classification) or de-standardised value."""
        if self.params.head == "regression":
            return logits[..., 0] * self.target_std + self.target_mean
        return logits.argmax(dim=-1) - self.params.max_tau

    def parameter_count(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def state_count(self) -> int:
        """Elements of all state_dict tensors (parameters, BN statistics and counters)."""
        return sum(v.numel() for v in self.state_dict().values())


def check_state_dict(model: nn.Module, state: dict) -> None:
    """Raise ValueError naming missing / unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = [
        f"{label}: {items}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        )
        if items
    ]
    if problems:
        raise ValueError("state_dict does not match NGCCPHAT: " + "; ".join(problems))


def load_reference(path: str | Path, params: NgccParams = NgccParams()) -> NGCCPHAT:
    """The authors' released checkpoint in the paper config (strict, eval mode).

    The key mapping is the identity (a ``module.`` prefix from DataParallel is stripped).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NGCC-PHAT checkpoint not found: {path}")
    state = torch.load(path, map_location=device.current(), weights_only=True)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: expected a state_dict of tensors, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = device.build(lambda: NGCCPHAT(params))
    try:
        check_state_dict(model, state)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    model.load_state_dict(state, strict=True)
    return model.eval()


@dataclass(frozen=True)
class NgccMseParams(NgccParams):
    """NGCC-PHAT with the regression head trained by MSE (Paper V Table 1 ablation)."""

    head: str = "regression"


class NgccPhat(LearnedTdoa):
    """NGCC-PHAT (Paper V): shared SincNet filter CNN, per-channel GCC-PHAT, lag CNN, CE."""

    card = MethodCard(
        name="ngcc-phat", task="tdoa", kind="learned", params=NgccParams,
        reference="Berg et al., Interspeech 2022 (Paper V), Tables 1-2",
        summary="SincNet filter CNN f (shared), per-channel GCC-PHAT, lag CNN g; cross-entropy",
        capabilities=frozenset({"shift_equivariant"}), aliases=("ngcc",),
    )

    @staticmethod
    def build(params) -> nn.Module:
        return NGCCPHAT(params)


class NgccPhatMse(NgccPhat):
    card = MethodCard(
        name="ngcc-phat-mse", task="tdoa", kind="learned", params=NgccMseParams,
        reference="Paper V Table 1 (NGCC-PHAT, MSE)",
        summary="NGCC-PHAT with the regression head (MSE on the standardised delay)",
        capabilities=frozenset({"shift_equivariant"}),
    )


@dataclass(frozen=True)
class ReleasedParams:
    """checkpoint: path of the authors' model.pth; empty means $PERLOC_NGCC_CHECKPOINT, then
    ../shared/reference/ngcc/model.pth from the working directory."""

    checkpoint: str = ""

    def resolve(self) -> Path:
        if self.checkpoint and not Path(self.checkpoint).is_file():  # named: never a fallback
            raise UserError(f"-p checkpoint: {self.checkpoint}: no such file")
        for candidate in (self.checkpoint, os.environ.get("PERLOC_NGCC_CHECKPOINT", ""),
                          str(Path("..") / "shared" / "reference" / "ngcc" / "model.pth")):
            if candidate and Path(candidate).is_file():
                return Path(candidate)
        raise UserError("-p checkpoint: the authors' NGCC-PHAT model.pth was not found "
                        "(pass -p checkpoint=PATH or set PERLOC_NGCC_CHECKPOINT)")


class NgccPhatReleased(LearnedTdoa):
    """The authors' released NGCC-PHAT weights (paper config), evaluated as they are."""

    card = MethodCard(
        name="ngcc-phat-released", task="tdoa", kind="pretrained", params=ReleasedParams,
        reference="axeber01/ngcc experiments/ngccphat/model.pth (MIT); Paper V",
        summary="authors' checkpoint loaded strictly into the paper configuration",
        capabilities=frozenset({"shift_equivariant"}),
    )

    def __init__(self, params: ReleasedParams = ReleasedParams()) -> None:
        self.params = NgccParams()
        path = params.resolve()
        try:
            self.model = load_reference(path)
        except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            reason = str(exc).split(". ")[0].removeprefix(f"{path}: ")
            raise UserError(f"-p checkpoint: {path}: not a readable NGCC-PHAT state_dict "
                            f"({reason})") from None
        self.model.eval()


for _method in (NgccPhat, NgccPhatMse, NgccPhatReleased):
    METHODS.add(_method.card.name, _method, _method.card.aliases)
