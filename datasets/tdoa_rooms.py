"""Paper V test protocol: speech played in a simulated shoebox room, recorded by a mic pair.

Each test utterance (silence-trimmed, > 2 s) gets one source position, uniform over the
test room; for every T60 of the grid its RIR comes from the bank, the reverberant pair is
scaled as pyroomacoustics does (unit std at mic 0), and for every SNR white noise is added.
Fifteen non-overlapping windows of N = 2048 samples starting at w * 2048 are the examples;
the target is the real-valued delay (|s - r1| - |s - r2|) fs / c. Conditions (snr, t60)
and the utterance are ``meta`` columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.datasets import DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.librispeech import LibriSpeech, Utterance
from perloc.datasets.sim.rir_bank import RirBank, RirRequest
from perloc.datasets.sim.rooms import (
    TEST_ROOM,
    RoomSpec,
    add_noise,
    reverberate,
    sample_sources,
    true_tdoa,
)

SIM_VERSION = 1


@dataclass
class _Prepared:
    utterances: list[Utterance]
    signals: list[np.ndarray]
    sources: np.ndarray  # (U, 3)
    tau: np.ndarray  # (U,)
    rirs: dict[tuple[int, float], np.ndarray]


def _noise_rng(seed: int, utt: int, t60: float, snr: float) -> np.random.Generator:
    return np.random.default_rng([seed, 2, utt, round(t60 * 1000), round(snr * 100) + 10**6])


class TdoaRooms:
    """Simulated mic-pair recordings of a LibriSpeech-layout corpus (Paper V protocol)."""

    name = "tdoa-rooms"

    def __init__(self, source: LibriSpeech, bank: RirBank, grid: dict[str, tuple], *,
                 seed: int = 0, room: RoomSpec = TEST_ROOM, n_utterances: int | None = None,
                 windows: int = 15, window: int = 2048, progress: bool = False) -> None:
        if set(grid) != {"snr", "t60"}:
            raise ValueError(f"grid needs exactly snr and t60, got {sorted(grid)}")
        self.source, self.bank, self.grid, self.seed = source, bank, grid, seed
        self.room, self.n_utterances = room, n_utterances
        self.windows, self.window, self.progress = windows, window, progress
        self._clean_cache: dict[float, np.ndarray] = {}

    @cached_property
    def version(self) -> str:
        return self._digest(self.seed)

    @cached_property
    def base_version(self) -> str:
        """The version of everything but the seed: the seeds of one run share a board section."""
        return self._digest(None)

    def _digest(self, seed: int | None) -> str:
        spec = {"sim": SIM_VERSION, "source": self.source.version, "room": self.room.__dict__,
                "grid": {k: list(v) for k, v in self.grid.items()}, "seed": seed,
                "n": self.n_utterances, "windows": self.windows, "window": self.window}
        return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def provenance(self) -> Provenance:
        return self.source.provenance

    @property
    def max_tau(self) -> int:
        return self.room.max_tau()

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "base_version": self.base_version,
                "source": self.source.name,
                "source_version": self.source.version, "room": self.room.name,
                "provenance": self.provenance.__dict__, "n_utterances": len(self.prepared.utterances)}

    def splits(self) -> dict[str, int]:
        return {"test": len(self.prepared.utterances)}

    @cached_property
    def prepared(self) -> _Prepared:
        items = self.source.trimmed("test", self.n_utterances)
        rng = np.random.default_rng([self.seed, 1])
        sources = sample_sources(self.room, len(items), rng)
        requests = [RirRequest(self.room, tuple(map(float, s)), float(t60))
                    for s in sources for t60 in self.grid["t60"]]
        rirs = self.bank.get_many(requests, progress=self.progress)
        keyed = {(i // len(self.grid["t60"]), r.t60): rir
                 for i, (r, rir) in enumerate(zip(requests, rirs, strict=True))}
        return _Prepared([u for u, _ in items], [s for _, s in items], sources,
                         true_tdoa(np.asarray(self.room.mics[:2]), sources), keyed)

    def _clean(self, t60: float) -> np.ndarray:
        """Noise-free windows span of every utterance at ``t60``: (U, M, windows * window).

        Computed once per T60 and kept: every SNR and every method reuses it.
        """
        if t60 not in self._clean_cache:
            prep, span = self.prepared, self.windows * self.window
            self._clean_cache[t60] = np.stack([
                reverberate(prep.rirs[(u, t60)], prep.signals[u])[:, :span]
                for u in range(len(prep.utterances))
            ]).astype(np.float32)
        return self._clean_cache[t60]

    def _cell(self, t60: float, snr: float) -> Batch:
        prep, clean = self.prepared, self._clean(t60)
        n_utt, n_mics = clean.shape[:2]
        noisy = np.empty_like(clean)
        for u in range(n_utt):
            noisy[u] = add_noise(clean[u], snr, _noise_rng(self.seed, u, t60, snr))
        windows = noisy.reshape(n_utt, n_mics, self.windows, self.window).transpose(0, 2, 1, 3)
        n = n_utt * self.windows
        per_window = np.repeat(np.arange(n_utt), self.windows)
        return Batch(
            {"signals": np.ascontiguousarray(windows.reshape(n, n_mics, self.window)),
             "tau": prep.tau[per_window]},
            {"snr": np.full(n, float(snr)), "t60": np.full(n, float(t60)),
             "file": np.array([u.id for u in prep.utterances])[per_window],
             "speaker": np.array([u.speaker for u in prep.utterances])[per_window],
             "window": np.tile(np.arange(self.windows), n_utt)},
        )

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None) -> Iterator[Batch]:
        if split != "test":
            raise UserError(f"{self.name}: only the test split is simulated here (asked {split!r})")
        where = where or {}
        emitted = 0
        for t60 in self.grid["t60"]:
            for snr in self.grid["snr"]:
                if not _inside(where, snr=snr, t60=t60):
                    continue
                cell = self._cell(t60, snr)
                for start in range(0, len(cell), batch_size):
                    stop = min(start + batch_size, len(cell))
                    if limit is not None:
                        stop = min(stop, start + limit - emitted)
                    if stop <= start:
                        return
                    emitted += stop - start
                    yield cell.take(np.arange(start, stop))


def _inside(where: dict, **values: float) -> bool:
    for name, value in values.items():
        lo, hi = where.get(name, (float("-inf"), float("inf")))
        if not lo <= value <= hi:
            return False
    return True


register_dataset(DatasetEntry(
    "tdoa-rooms", "simulated", "Paper V protocol: LibriSpeech utterances in simulated shoebox "
    "rooms, one mic pair", adapter=TdoaRooms))
