"""Frozen-NGCC pair correlations computed once per channel pair and reused.

wav2pos's TDOA feature needs R_ij = g(GCC(f(x_i), f(x_j))) from a frozen NGCC-PHAT for every
ordered pair of present audio tokens; on a CPU that costs about 20x the rest of a training
step. The NGCC is frozen, so R_ij depends only on the two (z-scored) channels: a row is keyed
by the BLAKE2b-128 digests of channel i and channel j (in that order) and computed the first
time that pair of signals is seen. The test frames of every (setup, M) cell share the pairs of
their frame, and a training set drawn from a fixed pool of windows
(:class:`perloc.datasets.ssl_luvira.LuviraTrainConfig` ``pool``) computes each pair once for the
whole run instead of once per step.

Rows are kept in memory as float16 (2 B x 629 lags per pair; the logits' values are O(10), so
the rounding is below 1e-2) and returned as float32; hits and misses both come from the table,
so a prediction never depends on what was cached before. ``path`` persists the rows to an HDF5
file (one group per save: ``keys`` [n, 32] uint8 and ``rows`` [n, L] float16) under the shared
lock protocol of :mod:`perloc.datasets.h5store`; its name carries the digest of the NGCC
weights, so a retrained NGCC never reads another's rows, and keys are content digests, so the
data is versioned by construction. ``max_bytes`` caps the table: past it, misses are computed
and rounded the same way but not kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor

from perloc.bench.core import device
from perloc.datasets.h5store import locked

CACHE_VERSION = 1
MAX_BYTES = 2 * 2**30
log = logging.getLogger(__name__)

Compute = Callable[[Tensor, Tensor, Tensor], Tensor]


def channel_digests(audio: Tensor) -> list[bytes]:
    """16-byte BLAKE2b digest of every channel of ``audio [B, C, N]`` (row-major b, c)."""
    flat = device.host(audio.detach().to(torch.float32).contiguous())
    flat = flat.reshape(-1, flat.shape[-1])
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


class PairCache:
    """Pair rows by content key, in memory (float16), optionally persisted to ``path``."""

    def __init__(self, n_lags: int, path: Path | None = None, max_bytes: int = MAX_BYTES) -> None:
        self.n_lags, self.path = n_lags, None if path is None else Path(path)
        self.max_rows = max(0, max_bytes // (2 * n_lags))
        self.index: dict[bytes, int] = {}
        self.table = np.empty((0, n_lags), dtype=np.float16)  # numpy: no autograd or
        # inference-mode state, so rows computed under torch.inference_mode serve training
        self.count = self.saved = 0
        self.hits = self.misses = 0
        if self.path is not None and self.path.exists():
            self._load()

    def __len__(self) -> int:
        return self.count

    def rows(self, audio: Tensor, pairs: Tensor, valid: Tensor, compute: Compute) -> Tensor:
        """R ``[n_valid, L]`` float32 for the rows ``valid [B, P]`` of ``pairs [P, 2]`` of
        ``audio [B, C, N]`` (row-major, as ``compute(audio, pairs, valid)`` returns them), on
        ``audio``'s device."""
        c = audio.shape[1]
        digests = channel_digests(audio)
        bi, pi = torch.nonzero(valid, as_tuple=True)
        first, second = pairs[pi, 0].tolist(), pairs[pi, 1].tolist()
        keys = [digests[b * c + i] + digests[b * c + j]
                for b, i, j in zip(bi.tolist(), first, second, strict=True)]
        idx = np.fromiter((self.index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        miss = np.flatnonzero(idx < 0)
        self.hits += len(keys) - len(miss)
        self.misses += len(miss)
        if not len(miss):
            return torch.as_tensor(self.table[idx].astype(np.float32), device=audio.device)
        wanted = torch.zeros_like(valid)
        wanted[bi[miss], pi[miss]] = True
        new = device.host(compute(audio, pairs, wanted).float()).astype(np.float16)
        out = np.empty((len(keys), self.n_lags), dtype=np.float16)
        hit = np.flatnonzero(idx >= 0)
        out[hit] = self.table[idx[hit]]
        out[miss] = new
        self._add([keys[k] for k in miss], new)
        return torch.as_tensor(out.astype(np.float32), device=audio.device)

    def _add(self, keys: list[bytes], rows: np.ndarray) -> None:
        fresh = [k for k, key in enumerate(keys) if key not in self.index]
        room = self.max_rows - self.count
        if room <= 0 or not fresh:
            return
        fresh = fresh[:room]
        need = self.count + len(fresh)
        if need > len(self.table):
            grown = np.empty((max(need, 2 * len(self.table)), self.n_lags), dtype=np.float16)
            grown[: self.count] = self.table[: self.count]
            self.table = grown
        self.table[self.count:need] = rows[fresh]
        for offset, k in enumerate(fresh):
            self.index.setdefault(keys[k], self.count + offset)
        self.count = need

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> int:
        """Append the rows added since the last save to ``path``; returns how many."""
        if self.path is None or self.count == self.saved:
            return 0
        keys = np.zeros((self.count - self.saved, 32), dtype=np.uint8)
        for key, row in self.index.items():
            if row >= self.saved:
                keys[row - self.saved] = np.frombuffer(key, dtype=np.uint8)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path, "NGCC pair cache", shared=False), h5py.File(self.path, "a") as f:
            group = f.create_group(f"part{len(f):06d}")
            group.create_dataset("keys", data=keys)
            group.create_dataset("rows", data=self.table[self.saved:self.count])
            f.attrs["version"] = CACHE_VERSION
        written, self.saved = self.count - self.saved, self.count
        return written

    def _load(self) -> None:
        try:
            with locked(self.path, "NGCC pair cache", shared=True), \
                    h5py.File(self.path, "r") as f:
                if f.attrs.get("version") != CACHE_VERSION:
                    return
                for name in sorted(f):
                    keys, rows = f[name]["keys"][()], f[name]["rows"][()]
                    if rows.shape[1:] != (self.n_lags,) or len(keys) != len(rows):
                        raise OSError(f"{name}: shape {rows.shape}")
                    self._add([bytes(k) for k in keys], rows.astype(np.float16))
        except (OSError, KeyError) as exc:  # the harness's own cache: rebuilt, not an input error
            log.warning("%s: unreadable NGCC pair cache (%s); computing again", self.path, exc)
            self.index.clear()
            self.count = 0
            self.path.unlink(missing_ok=True)
        self.saved = self.count
