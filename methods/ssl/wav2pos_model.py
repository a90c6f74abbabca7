"""wav2pos (Berg et al., IPIN 2024; Paper VII): a masked auto-encoder over audio and coordinate
tokens that localizes the source (and unknown microphones). Spec tdoa_ssl.md sections 4.1-4.5.

Tokens (per frame, M mics): ``M + 1`` coordinate tokens (slot 0 = source, always masked) and
``M + 1`` audio tokens (slot 0 = source signal). No positional encoding, no parameter depends on
M: the same weights serve any M and the outputs are permutation equivariant in the mics.

* Encoder: audio channels z-scored, Linear(N -> d); coordinates Linear(3, 64) -> BN -> GELU ->
  Linear(64, d) -> BN over the known coordinate tokens only; modality embeddings; ``depth``
  pre-LN blocks + LN. Masked tokens stay in the sequence but are zeroed and excluded as attention
  keys (boolean attention mask), which equals dropping them for every kept token.
* Decoder: Linear(d -> d_dec); masked slots replaced by the mask tokens u_audio / u_coord /
  u_source; pairwise encoding y_a = t_a + v_a + g_ca(t_c), y_c = t_c + v_c + g_ac(t_a);
  ``decoder_depth`` blocks (no mask) + LN; audio reconstruction Linear(d_dec -> N).
* z: element-wise max over Linear(d_dec, d_dec)(decoder-embedded encoder outputs), kept tokens.
* q: for all ordered pairs (i, j) of present audio tokens, R_ij (2 tau + 1 lags) from a frozen
  NGCC-PHAT (filter CNN once per channel, reversed pairs by flipping, lag CNN g per pair) or
  plain GCC-PHAT (NGCC rows may come from ``pair_cache``, :mod:`perloc.methods.ssl.pair_cache`);
  phi(R_ij, c_i, c_j) = Linear -> BN -> GELU -> Linear, max over the valid pairs,
  Linear(tdoa_hidden -> d_dec); q = 0 with fewer than two audio tokens.
* Heads psi_source (slot 0) / psi_mic (slots 1..M): Linear(3 d_dec, 512) -> BN -> GELU ->
  Linear(512, 256) -> BN -> GELU -> Linear(256, 3) on concat(decoded coordinate token, z, q).

Choices: Linear weights ~ N(0, 0.02) (the spec's init; timm MAE uses xavier), biases 0, LN (1, 0)
with eps 1e-6 as timm; mask tokens and modality embeddings ~ N(0, 0.02). The NGCC is kept in eval
mode with requires_grad False even under ``model.train()`` (the reference lets BN / dropout of
the "frozen" NGCC run in train mode, spec section 9). With ``use_tdoa=False`` the heads take
concat(token, z) (2 d_dec inputs). The loss averages per example over its tokens, then over the
batch (equal to the reference when, as there, all examples have the same mask counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perloc.methods.checks import require_positive_int
from perloc.methods.layers.gcc import GCCParams, gcc, ordered_pairs
from perloc.methods.ssl.pair_cache import PairCache
from perloc.methods.tdoa.ngcc import NGCCPHAT

TDOA_SOURCES = ("ngcc", "gcc")
POOLS = ("max", "mean")
INIT_STD = 0.02
LN_EPS = 1e-6
ZSCORE_EPS = 1e-6
HEAD_ROWS = 512  # pair rows per NGCC lag-CNN call
FEATURE_BYTES = 256 * 2**20  # NGCC correlation features held at once


@dataclass(frozen=True)
class Wav2posParams:
    """Paper VII defaults (LuViRA: tau = 314 -> 629 lags)."""

    sig_len: int = 2048
    embed_dim: int = 256
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 256
    decoder_depth: int = 4
    decoder_heads: int = 4
    mlp_ratio: float = 4
    coord_hidden: int = 64
    tdoa_hidden: int = 512
    head_hidden: tuple[int, ...] = (512, 256)
    max_tau: int = 314
    use_tdoa: bool = True
    tdoa_source: str = "ngcc"
    pairwise_encoding: bool = True
    global_pool: str = "max"

    def __post_init__(self) -> None:
        for name in ("sig_len", "embed_dim", "depth", "heads", "decoder_dim", "decoder_depth",
                     "decoder_heads", "coord_hidden", "tdoa_hidden"):
            require_positive_int(name, getattr(self, name))
        for dim, heads in (("embed_dim", "heads"), ("decoder_dim", "decoder_heads")):
            if getattr(self, dim) % getattr(self, heads):
                raise ValueError(f"{dim}={getattr(self, dim)} must be divisible by {heads}")
        if isinstance(self.mlp_ratio, bool) or not isinstance(self.mlp_ratio, int | float) \
                or not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be a number > 0, got {self.mlp_ratio!r}")
        object.__setattr__(self, "head_hidden", tuple(self.head_hidden))
        for i, width in enumerate(self.head_hidden):
            require_positive_int(f"head_hidden[{i}]", width)
        if isinstance(self.max_tau, bool) or not isinstance(self.max_tau, int) \
                or not 0 <= self.max_tau < self.sig_len:
            raise ValueError(f"max_tau must be an int in [0, sig_len), got {self.max_tau!r}")
        for name in ("use_tdoa", "pairwise_encoding"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.tdoa_source not in TDOA_SOURCES:
            raise ValueError(f"tdoa_source must be one of {TDOA_SOURCES}, got {self.tdoa_source!r}")
        if self.global_pool not in POOLS:
            raise ValueError(f"global_pool must be one of {POOLS}, got {self.global_pool!r}")

    @property
    def n_lags(self) -> int:
        return 2 * self.max_tau + 1


class Wav2posOutput(NamedTuple):
    source: Tensor  # [B, 3] source position (normalised coordinates)
    mics: Tensor  # [B, M, 3] mic positions (meaningful where coord_mask is False)
    audio: Tensor  # [B, M + 1, N] reconstruction (slot 0 = source)
    audio_mask: Tensor  # [B, M + 1] True where the audio token was present (audio loss slots)
    coord_mask: Tensor  # [B, M] True where the mic coordinate was known


class Wav2posLosses(NamedTuple):
    total: Tensor
    audio: Tensor
    source: Tensor
    mic: Tensor


def zscore(x: Tensor) -> Tensor:
    """Each row over its last axis: ``(x - mean) / sqrt(var + 1e-6)``; zero rows stay zero."""
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / (var + ZSCORE_EPS).sqrt()


def _mlp(widths, norm, last_norm: bool = False) -> nn.Sequential:
    """Linear -> norm -> GELU between ``widths``; the last Linear gets ``norm`` if last_norm."""
    layers: list[nn.Module] = []
    for k, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(c_in, c_out))
        if k < len(widths) - 2:
            layers += [norm(c_out), nn.GELU()]
        elif last_norm:
            layers.append(norm(c_out))
    return nn.Sequential(*layers)


def _layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=LN_EPS)


def _masked_mean(err: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``err [B, K]`` over ``mask`` per example, then over examples with any."""
    count = mask.sum(1)
    per = torch.where(mask, err, 0.0).sum(1) / count.clamp(min=1)
    has = count > 0
    return per[has].mean() if bool(has.any()) else err.new_zeros(())


class Block(nn.Module):
    """Pre-LN transformer block (timm ``Block``): MHSA with qkv bias, GELU MLP, no dropout."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = _layer_norm(dim), _layer_norm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = _mlp((dim, int(dim * mlp_ratio), dim), lambda c: nn.Identity())

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """``x [B, T, d]``; ``keep [B, T]`` bool: the tokens that may be attended to."""
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        mask = None if keep is None else keep[:, None, None, :]
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = _layer_norm(dim)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x, keep)
        return self.norm(x)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=INIT_STD)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm | nn.BatchNorm1d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Wav2pos(nn.Module):
    """The wav2pos network; ``ngcc`` (needed for ``tdoa_source="ngcc"``) is frozen on entry."""

    gcc_autograd_path: bool | None = None  # None: only off CPU (see :meth:`pair_correlations`)

    def __init__(self, params: Wav2posParams = Wav2posParams(), ngcc: NGCCPHAT | None = None):
        super().__init__()
        self.params, p = params, params
        d, e = p.embed_dim, p.decoder_dim
        self.audio_embed = nn.Linear(p.sig_len, d)
        self.coord_embed = _mlp((3, p.coord_hidden, d), nn.BatchNorm1d, last_norm=True)
        self.enc_audio, self.enc_coord = nn.Parameter(torch.empty(d)), nn.Parameter(torch.empty(d))
        self.encoder = Transformer(d, p.depth, p.heads, p.mlp_ratio)
        self.decoder_embed = nn.Linear(d, e)
        self.mask_audio, self.mask_coord, self.mask_source, self.dec_audio, self.dec_coord = (
            nn.Parameter(torch.empty(e)) for _ in range(5))
        if p.pairwise_encoding:
            self.coord_to_audio = _mlp((e, e), _layer_norm, last_norm=True)
            self.audio_to_coord = _mlp((e, e, e), _layer_norm, last_norm=True)
        self.decoder = Transformer(e, p.decoder_depth, p.decoder_heads, p.mlp_ratio)
        self.audio_out = nn.Linear(e, p.sig_len)
        self.global_proj = nn.Linear(e, e)
        if p.use_tdoa:
            self.pair_mlp = _mlp((2 * e + p.n_lags, p.tdoa_hidden, p.tdoa_hidden), nn.BatchNorm1d)
            self.tdoa_proj = nn.Linear(p.tdoa_hidden, e)
        n_in = (3 if p.use_tdoa else 2) * e
        self.source_head = _mlp((n_in, *p.head_hidden, 3), nn.BatchNorm1d)
        self.mic_head = _mlp((n_in, *p.head_hidden, 3), nn.BatchNorm1d)
        self.apply(_init_weights)
        for token in (self.enc_audio, self.enc_coord, self.mask_audio, self.mask_coord,
                      self.mask_source, self.dec_audio, self.dec_coord):
            nn.init.normal_(token, std=INIT_STD)
        self.ngcc: NGCCPHAT | None = None
        self.pair_cache: PairCache | None = None  # NGCC rows by channel content (optional)
        if ngcc is not None:
            self.set_ngcc(ngcc)

    # -- frozen NGCC -----------------------------------------------------------------------
    def set_ngcc(self, ngcc: NGCCPHAT) -> None:
        """Attach a (pre-trained) NGCC-PHAT: frozen (requires_grad False) and in eval mode."""
        p = self.params
        if not isinstance(ngcc, NGCCPHAT):
            raise ValueError(f"ngcc must be an NGCCPHAT, got {type(ngcc).__name__}")
        if not (p.use_tdoa and p.tdoa_source == "ngcc"):
            raise ValueError("an NGCC is only used with use_tdoa=True and tdoa_source='ngcc'")
        if ngcc.params.head != "classification" or ngcc.params.max_tau != p.max_tau:
            raise ValueError(f"ngcc needs the classification head and max_tau={p.max_tau}, got "
                             f"{ngcc.params.head!r} / max_tau={ngcc.params.max_tau}")
        self.ngcc = ngcc.requires_grad_(False).eval()
        self.pair_cache = None  # rows of another NGCC must not be served

    def train(self, mode: bool = True) -> Wav2pos:
        super().train(mode)
        if self.ngcc is not None:
            self.ngcc.eval()
        return self

    def parameter_count(self) -> int:
        """Trainable parameters (the frozen NGCC excluded)."""
        frozen = set() if self.ngcc is None else {id(q) for q in self.ngcc.parameters()}
        return sum(q.numel() for q in self.parameters() if q.requires_grad and id(q) not in frozen)

    def parameter_count_with_ngcc(self) -> int:
        """Trainable parameters plus all NGCC parameters (Paper VII's 10.5 M)."""
        ngcc = 0 if self.ngcc is None else sum(q.numel() for q in self.ngcc.parameters())
        return self.parameter_count() + ngcc

    # -- forward ---------------------------------------------------------------------------
    def forward(self, signals: Tensor, mic_pos: Tensor, coord_known: Tensor, audio_known: Tensor,
                source_signal: Tensor | None = None,
                source_known: Tensor | None = None) -> Wav2posOutput:
        """``signals [B, M, N]``, ``mic_pos [B, M, 3]`` (normalised; ignored where
        ``coord_known [B, M]`` is False), ``audio_known [B, M]``, ``source_signal [B, N]`` used
        where ``source_known [B]`` (default: all True when a source signal is given)."""
        audio, coords, coord_kn, audio_kn = self._inputs(
            signals, mic_pos, coord_known, audio_known, source_signal, source_known)
        tokens, keep = self._embed(audio, coords, coord_kn, audio_kn)
        latent = self.decoder_embed(self.encoder(tokens, keep))
        m1 = audio.shape[1]
        dec = self.decoder(self._decoder_tokens(latent, coord_kn, audio_kn))
        coord_out = dec[:, :m1]
        feats = [coord_out, self._global(latent, keep)[:, None].expand(-1, m1, -1)]
        if self.params.use_tdoa:
            feats.append(self._tdoa(audio, audio_kn, coord_out)[:, None].expand(-1, m1, -1))
        h = torch.cat(feats, -1)
        mics = self.mic_head(h[:, 1:].reshape(-1, h.shape[-1])).view(h.shape[0], m1 - 1, 3)
        return Wav2posOutput(self.source_head(h[:, 0]), mics, self.audio_out(dec[:, m1:]),
                             audio_kn, coord_known)

    def _inputs(self, signals, mic_pos, coord_known, audio_known, source_signal, source_known):
        """Full-slot tensors: z-scored audio [B, M+1, N] and coordinates [B, M+1, 3], zero
        where absent, and the masks [B, M+1] (coordinate slot 0 always False)."""
        b, m, n = signals.shape
        if n != self.params.sig_len:
            raise ValueError(f"signals must have {self.params.sig_len} samples, got {n}")
        for name, t, shape in (("mic_pos", mic_pos, (b, m, 3)), ("coord_known", coord_known,
                               (b, m)), ("audio_known", audio_known, (b, m))):
            if tuple(t.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if coord_known.dtype != torch.bool or audio_known.dtype != torch.bool:
            raise ValueError("coord_known and audio_known must be bool tensors")
        if source_known is None:
            source_known = torch.full((b,), source_signal is not None, device=signals.device)
        if source_signal is None:
            if bool(source_known.any()):
                raise ValueError("source_known is True but no source_signal was given")
            source_signal = signals.new_zeros(b, n)
        audio_kn = torch.cat([source_known.bool()[:, None], audio_known], 1)
        audio = torch.cat([source_signal[:, None], signals], 1)
        audio = zscore(torch.where(audio_kn[..., None], audio, 0.0))
        coord_kn = torch.cat([torch.zeros_like(coord_known[:, :1]), coord_known], 1)
        coords = torch.cat([mic_pos.new_zeros(b, 1, 3), mic_pos], 1)
        return audio, torch.where(coord_kn[..., None], coords, 0.0), coord_kn, audio_kn

    def _embed(self, audio, coords, coord_kn, audio_kn) -> tuple[Tensor, Tensor]:
        """Encoder tokens ``[B, 2(M+1), d]`` (coordinates first; masked ones zero), keep mask."""
        a = self.audio_embed(audio) + self.enc_audio
        c = coords.new_zeros(*coords.shape[:2], a.shape[-1])
        if bool(coord_kn.any()):  # BN statistics over the known coordinate tokens only
            c = c.index_put(torch.nonzero(coord_kn, as_tuple=True), self.coord_embed(coords[coord_kn]))
        keep = torch.cat([coord_kn, audio_kn], 1)
        if not bool(keep.any(1).all()):
            raise ValueError("every example needs at least one known coordinate or audio token")
        tokens = torch.cat([c + self.enc_coord, a], 1)
        return torch.where(keep[..., None], tokens, 0.0), keep

    def _decoder_tokens(self, latent: Tensor, coord_kn: Tensor, audio_kn: Tensor) -> Tensor:
        m1 = coord_kn.shape[1]
        mask_c = torch.cat([self.mask_source[None], self.mask_coord.expand(m1 - 1, -1)])
        t_c = torch.where(coord_kn[..., None], latent[:, :m1], mask_c)
        t_a = torch.where(audio_kn[..., None], latent[:, m1:], self.mask_audio)
        y_c, y_a = t_c + self.dec_coord, t_a + self.dec_audio
        if self.params.pairwise_encoding:
            y_c, y_a = y_c + self.audio_to_coord(t_a), y_a + self.coord_to_audio(t_c)
        return torch.cat([y_c, y_a], 1)

    def _global(self, latent: Tensor, keep: Tensor) -> Tensor:
        """z ``[B, d_dec]``: pooled Linear(latent) over the kept tokens."""
        z = self.global_proj(latent)
        if self.params.global_pool == "max":
            return z.masked_fill(~keep[..., None], float("-inf")).amax(1)
        return (z * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)

    # -- TDOA feature ----------------------------------------------------------------------
    def _tdoa(self, audio: Tensor, audio_kn: Tensor, coord_out: Tensor) -> Tensor:
        """q ``[B, d_dec]`` from all ordered pairs of present audio tokens (0 if none)."""
        b = audio.shape[0]
        cols = torch.nonzero(audio_kn.any(0)).flatten()  # channels present in some example
        pairs = ordered_pairs(len(cols), audio.device) if len(cols) >= 2 else None
        if pairs is None:
            return coord_out.new_zeros(b, coord_out.shape[-1])
        gi, gj = cols[pairs[:, 0]], cols[pairs[:, 1]]
        valid = audio_kn[:, gi] & audio_kn[:, gj]  # [B, P]
        if not bool(valid.any()):
            return coord_out.new_zeros(b, coord_out.shape[-1])
        corr = self.pair_correlations(audio[:, cols], pairs, valid)
        bi, pi = torch.nonzero(valid, as_tuple=True)
        h = self.pair_mlp(torch.cat([coord_out[bi, gi[pi]], coord_out[bi, gj[pi]], corr], -1))
        pooled = h.new_full((b, len(pairs), h.shape[-1]), float("-inf")).index_put((bi, pi), h)
        has = valid.any(1)[:, None]
        q = self.tdoa_proj(torch.where(has, pooled.amax(1), 0.0))
        return torch.where(has, q, 0.0)

    def pair_correlations(self, audio: Tensor, pairs: Tensor, valid: Tensor) -> Tensor:
        """R ``[n_valid, 2 tau + 1]`` (no grad) of ``audio [B, C, N]`` for the rows ``valid
        [B, P]`` of ``pairs [P, 2]`` (row-major order). NGCC: filter CNN once per channel,
        reversed pairs by flipping, lag CNN per valid pair; GCC: GCC-PHAT (eps 1e-3, 2N FFT).

        The shared GCC op's fast path is tuned for the CPU (cache-sized per-channel steps), so
        on other devices (or with ``gcc_autograd_path = True``) the input is marked
        requires-grad to take its plain torch path (one batched gather); the result is
        detached either way. ``pairs`` are used on ``audio``'s device."""
        autograd = self.gcc_autograd_path
        autograd = audio.device.type != "cpu" if autograd is None else autograd
        with torch.enable_grad() if autograd else torch.no_grad():
            x = audio.detach().requires_grad_() if autograd else audio
            return self._correlations(x, pairs.to(audio.device), valid).detach()

    def _correlations(self, audio: Tensor, pairs: Tensor, valid: Tensor) -> Tensor:
        if self.params.tdoa_source == "gcc":
            return gcc(audio, pairs, GCCParams(max_tau=self.params.max_tau))[valid]
        if self.ngcc is None:
            raise RuntimeError("tdoa_source='ngcc' needs an NGCCPHAT (constructor or set_ngcc)")
        if self.pair_cache is not None:
            return self.pair_cache.rows(audio, pairs, valid, self._ngcc_rows)
        return self._ngcc_rows(audio, pairs, valid)

    def _ngcc_rows(self, audio: Tensor, pairs: Tensor, valid: Tensor) -> Tensor:
        per_example = len(pairs) * self.ngcc.params.corr_channels * self.params.n_lags * 4
        step, out = max(1, FEATURE_BYTES // per_example), []
        for b0 in range(0, audio.shape[0], step):
            rows_valid = valid[b0 : b0 + step]
            if bool(rows_valid.any()):
                rows = self.ngcc.features(audio[b0 : b0 + step], pairs)[rows_valid]
                out += [self.ngcc.head_logits(rows[s : s + HEAD_ROWS])
                        for s in range(0, len(rows), HEAD_ROWS)]
        return torch.cat(out)

    # -- loss ------------------------------------------------------------------------------
    def loss(self, out: Wav2posOutput, target_source: Tensor, target_mics: Tensor,
             clean_audio: Tensor, lam_audio: float = 0.1, lam_source: float = 1.0,
             lam_mic: float = 1.0) -> Wav2posLosses:
        """Eq. 3 with means over xyz / samples: audio MSE to the z-scored clean target on the
        present audio tokens, source MSE, MSE on the masked mic coordinates (0 if none)."""
        present, missing = out.audio_mask, ~out.coord_mask
        target = zscore(torch.where(present[..., None], clean_audio, 0.0))
        audio = _masked_mean((out.audio - target).square().mean(-1), present)
        source = (out.source - target_source).square().mean()
        target_mics = torch.where(missing[..., None], target_mics, 0.0)
        mic = _masked_mean((out.mics - target_mics).square().mean(-1), missing)
        total = lam_audio * audio + lam_source * source + lam_mic * mic
        return Wav2posLosses(total, audio, source, mic)


def random_mask(batch_size: int, m: int, rng: torch.Generator, keep: tuple[int, int] = (8, 11),
                min_shared: int = 5, p_source_audio: float = 0.5
                ) -> tuple[Tensor, Tensor, Tensor]:
    """LuViRA random masking (spec 4.6): per example keep n_c coordinates and n_a audio
    snippets, (n_c, n_a) uniform over the pairs in ``keep`` (clipped to M) with
    |S cap R| = n_c + n_a - M >= min(min_shared, M), no mic losing both; source audio kept
    with probability ``p_source_audio``. Returns (coord_known, audio_known, source_known), on
    ``rng``'s device."""
    require_positive_int("batch_size", batch_size)
    require_positive_int("m", m)
    lo, hi = keep
    require_positive_int("keep[0]", lo)
    require_positive_int("keep[1]", hi)
    if lo > hi or not 0 <= p_source_audio <= 1 or min_shared < 0:
        raise ValueError(f"need keep[0] <= keep[1], 0 <= p_source_audio <= 1, min_shared >= 0; "
                         f"got {keep}, {p_source_audio}, {min_shared}")
    lo, hi, shared_min = min(lo, m), min(hi, m), min(min_shared, m)
    options = [(c, a) for c in range(lo, hi + 1) for a in range(lo, hi + 1)
               if c + a - m >= shared_min]
    if not options:
        raise ValueError(f"no keep counts in {keep} give {shared_min} shared mics for M={m}")
    where = rng.device
    draw = torch.randint(len(options), (batch_size,), generator=rng, device=where)
    choice = torch.tensor(options, device=where)[draw]
    n_c, n_a = choice[:, :1], choice[:, 1:]
    rank = torch.rand(batch_size, m, generator=rng, device=where).argsort(1).argsort(1)
    coord_known = rank < n_c  # ranks < shared: both; < n_c: coordinate only; rest: audio only
    audio_known = (rank < n_c + n_a - m) | (rank >= n_c)
    source_known = torch.rand(batch_size, generator=rng, device=where) < p_source_audio
    return coord_known, audio_known, source_known
