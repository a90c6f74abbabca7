"""GNN / relation-network baseline (Grinstein et al., ICASSP 2023), spec tdoa_ssl.md section 7.2.

``s_hat = phi(mean over valid pairs i < j of psi(x_ij))`` with the pairwise input ::

    x_ij = [GCC-PHAT_ij (n_lags central lags, max-normalised) | r_i (3) | r_j (3) | extra (E)]

* GCC-PHAT as in [R-gnn] / pysoundloc ``gcc_phat_batch``: *circular* (FFT length = frame
  length N, no zero padding), no window, weight 1 / (|X_i X_j*| + 1e-7). [R-gnn] keeps
  ``[(N - L)//2 : (N + L)//2]`` of the lag-ordered vector, i.e. for the default L = 200 the lags
  -100..99 (asymmetric: 2 * 100 + 1 = 201 computed, lag +100 dropped). Here the kept lags are
  ``-(L // 2) .. -(L // 2) + L - 1``: the same -100..99 for L = 200 and the symmetric -314..314
  for the LuViRA L = 629 = 2 * 314 + 1. Each pair's vector is divided by its max |value| (the
  reference divides by the signed max, which can flip the sign when the largest value is
  negative; a pair with all-zero correlation stays zero).
* Sign: the correlation of (i, j) peaks at lag +d when x_i is x_j delayed by d samples.
* Only unordered pairs i < j enter, so the model is not permutation invariant (Paper VII Table 1).
* psi: Linear(F, 625) -> ReLU -> Linear(625, 625) -> ReLU -> Linear(625, 625) -> ReLU (the
  reference passes ReLU as the pairwise network's output activation); mean over the pairs whose
  both microphones are present (``mic_mask``); phi: Linear(625, 625) -> ReLU -> Linear(625, 625)
  -> ReLU -> Linear(625, 3) (no output activation). PyTorch default init (the reference's
  ``init_layers: false``).

Parameter count (3-D, E = 3): 1,698,128 at L = 200, 1,966,253 at L = 629. Paper VII Table 1
says 2.2M, which is what L = 1024 gives (2,213,128): [R-gnn]'s ``GnnSslNet`` builds its
``GccPhat`` with ``n_dft`` (1024), not with the ``n_gcc_phat_bins: 200`` of its config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints
from perloc.methods.layers.gcc import GCCParams, _gcc_autograd, all_pairs, gcc


@dataclass(frozen=True)
class GnnParams:
    """Relation-network hyperparameters; defaults are Paper VII's GNN (3-D, GCC-PHAT input)."""

    n_lags: int = 200
    width: int = 625
    n_layers: int = 3  # linear layers in psi and in phi
    coord_dims: int = 3
    extra_metadata: int = 3  # room dims (3); 4 with RT60
    n_out: int = 3
    eps: float = 1e-7  # PHAT guard (pysoundloc EPS)

    def __post_init__(self) -> None:
        require_positive_ints(self, ("n_lags", "width", "coord_dims", "n_out"))
        if self.n_layers < 2 or self.extra_metadata < 0 or self.eps < 0:
            raise ValueError("n_layers must be >= 2, extra_metadata >= 0 and eps >= 0")

    @property
    def n_pair_features(self) -> int:
        """Width of one pair's input: lags + two mic coordinates + extra metadata."""
        return self.n_lags + 2 * self.coord_dims + self.extra_metadata

    @property
    def lags(self) -> range:
        """The kept GCC lags in samples (-100..99 for the default 200)."""
        return range(-(self.n_lags // 2), -(self.n_lags // 2) + self.n_lags)


def pair_gcc_features(signals: Tensor, pairs: Tensor, n_lags: int = 200,
                      eps: float = 1e-7) -> Tensor:
    """Max-normalised circular GCC-PHAT, ``signals [B, M, N]`` -> ``[B, P, n_lags]``.

    Column k is lag ``k - n_lags // 2``. All pairs go through one call of the batched GCC op
    (on CPU; other devices use its plain tensor path, one batched gather instead of the op's
    CPU-tuned per-channel steps, which computes the same estimator).
    """
    params = GCCParams("phat", eps, max_tau=n_lags // 2, n_fft=signals.shape[-1])
    if signals.device.type == "cpu":
        corr = gcc(signals, pairs, params)
    else:  # the fast path is tuned for the CPU's caches
        n = params.fft_len(signals.shape[-1])
        corr = _gcc_autograd(signals.float(), pairs.to(signals.device), params, n)
    corr = corr[..., :n_lags]
    return corr / corr.abs().amax(dim=-1, keepdim=True).clamp_min(1e-30)


def _mlp(n_in: int, width: int, n_out: int, n_layers: int, out_relu: bool) -> nn.Sequential:
    """``n_layers`` linear layers ``n_in -> width -> ... -> n_out`` with ReLU in between
    (and after the last one when ``out_relu``)."""
    sizes = [n_in] + [width] * (n_layers - 1) + [n_out]
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if out_relu or k < n_layers - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RelationNet(nn.Module):
    """GNN_M relation network; one instance accepts any M (pairs masked by ``mic_mask``).

    ``forward(signals [B, M, N], mic_pos [B, M, 3], mic_mask [B, M] bool, extra [B, E])
    -> [B, 3]``. Absent microphones (mask False) may hold anything, NaN included: they are
    zeroed before the GCC and their pairs never reach psi. Every example needs >= 2 present
    microphones.
    """

    def __init__(self, params: GnnParams = GnnParams()):
        super().__init__()
        p = self.params = params
        self.psi = _mlp(p.n_pair_features, p.width, p.width, p.n_layers, out_relu=True)
        self.phi = _mlp(p.width, p.width, p.n_out, p.n_layers, out_relu=False)

    def _check(self, signals: Tensor, mic_pos: Tensor, mic_mask: Tensor, extra: Tensor) -> None:
        p = self.params
        if signals.ndim != 3 or signals.shape[1] < 2:
            raise ValueError(f"signals must be [B, M >= 2, N], got {tuple(signals.shape)}")
        b, m, _ = signals.shape
        if mic_pos.shape != (b, m, p.coord_dims) or mic_mask.shape != (b, m):
            raise ValueError(
                f"mic_pos must be [{b}, {m}, {p.coord_dims}] and mic_mask [{b}, {m}], got "
                f"{tuple(mic_pos.shape)} and {tuple(mic_mask.shape)}"
            )
        if extra.shape != (b, p.extra_metadata):
            raise ValueError(f"extra must be [{b}, {p.extra_metadata}], got {tuple(extra.shape)}")

    def pair_inputs(self, signals: Tensor, mic_pos: Tensor, mic_mask: Tensor, extra: Tensor,
                    pairs: Tensor) -> Tensor:
        """psi inputs of all ``pairs`` ``[B, P, F]`` (absent mics zeroed first)."""
        present = mic_mask[..., None]
        x = torch.where(present, signals.float(), 0.0)
        pos = torch.where(present, mic_pos.float(), 0.0)
        feats = pair_gcc_features(x, pairs, self.params.n_lags, self.params.eps)
        b, n_pairs = feats.shape[:2]
        meta = extra.float()[:, None].expand(b, n_pairs, -1)
        return torch.cat([feats, pos[:, pairs[:, 0]], pos[:, pairs[:, 1]], meta], dim=-1)

    def forward(self, signals: Tensor, mic_pos: Tensor, mic_mask: Tensor,
                extra: Tensor | None = None) -> Tensor:
        if extra is None:
            extra = signals.new_zeros(signals.shape[0], 0)
        self._check(signals, mic_pos, mic_mask, extra)
        mic_mask = mic_mask.bool()
        pairs = all_pairs(signals.shape[1], signals.device)
        pair_mask = mic_mask[:, pairs[:, 0]] & mic_mask[:, pairs[:, 1]]  # [B, P]
        counts = pair_mask.sum(dim=1)
        if bool((counts == 0).any()):
            raise ValueError("every example needs at least 2 present microphones")
        rows = self.pair_inputs(signals, mic_pos, mic_mask, extra, pairs)[pair_mask]
        example = pair_mask.nonzero()[:, 0]  # example index of each valid pair (row order)
        h = self.psi(rows)
        pooled = h.new_zeros(len(counts), h.shape[1]).index_add(0, example, h)
        return self.phi(pooled / counts[:, None].to(h.dtype))
