"""Training and validation examples for learned TDOA (Paper V recipe, with an RIR bank).

Training: speech from the train speakers, played in the 7 x 5 x 3 m training room with the
training mic pair. A pool of RIRs (source uniform in the room, T60 ~ U[t60_lo, t60_hi]) is
simulated once into the HDF5 bank; each utterance is reverberated with ``rirs_per_utterance``
of them (scaled to unit std at mic 0 as pyroomacoustics does) and kept in memory as its first
2 s. Every example then draws a reverberant snippet, a random window start in
[0, 2 s - N) and an SNR ~ U[snr_lo, snr_hi] with fresh noise, so a batch is cheap to make.
Validation is a fixed set simulated the same way (training room, random settings, fixed
seed), as in the reference code.

Constructing :class:`TdoaTraining` checks every train and validation file without decoding it
(header, rate, channels, a file cut short) and computes the corpus's content version, so bad
training data is reported before any training starts; damage that only decoding finds is
still a UserError naming the file when the pool is built.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from perloc.datasets.librispeech import SAMPLE_RATE, LibriSpeech
from perloc.datasets.sim.rir_bank import RirBank, RirRequest
from perloc.datasets.sim.rooms import TRAIN_ROOM, RoomSpec, add_noise, reverberate, true_tdoa

TRAIN_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """How training examples are drawn (defaults: the Paper V distribution)."""

    rir_pool: int = 64
    rirs_per_utterance: int = 2
    t60: tuple[float, float] = (0.2, 1.0)
    snr: tuple[float, float] = (0.0, 30.0)
    window: int = 2048
    snippet_seconds: float = 2.0
    max_utterances: int | None = None
    val_utterances: int | None = None
    val_windows: int = 4


@dataclass
class SnippetPool:
    """Clean reverberant snippets (S, M, T) with their true delays (S,) and speakers."""

    clean: np.ndarray
    tau: np.ndarray
    speaker: np.ndarray


class TdoaTraining:
    """Builds the training pool and the fixed validation set from one LibriSpeech corpus."""

    def __init__(self, source: LibriSpeech, bank: RirBank, config: TrainConfig, *, seed: int = 0,
                 room: RoomSpec = TRAIN_ROOM, progress: bool = False) -> None:
        self.source, self.bank, self.config, self.seed = source, bank, config, seed
        self.room, self.progress = room, progress
        self.validate()

    def validate(self) -> None:
        """Probe every train and validation file (see :meth:`LibriSpeech.probe`) and digest
        the corpus (its version keys the checkpoints)."""
        for split in ("train", "val"):
            self.source.probe(split)
        self.source.version  # noqa: B018

    @cached_property
    def version(self) -> str:
        spec = {"v": TRAIN_VERSION, "source": self.source.version, "room": self.room.name,
                "config": asdict(self.config), "seed": self.seed}
        return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]

    @cached_property
    def rirs(self) -> tuple[list[np.ndarray], np.ndarray]:
        """The RIR pool (from the bank) and the true delay of each RIR's source."""
        rng = np.random.default_rng([self.seed, 11])
        dims = np.asarray(self.room.dims)
        sources = rng.uniform(1e-3, dims - 1e-3, size=(self.config.rir_pool, 3))
        t60s = rng.uniform(*self.config.t60, size=self.config.rir_pool)
        requests = [RirRequest(self.room, tuple(map(float, s)), float(round(t, 3)))
                    for s, t in zip(sources, t60s, strict=True)]
        rirs = self.bank.get_many(requests, progress=self.progress)
        return rirs, true_tdoa(np.asarray(self.room.mics[:2]), sources)

    def _pool(self, split: str, limit: int | None, per_utterance: int, stream: int) -> SnippetPool:
        rirs, taus = self.rirs
        rng = np.random.default_rng([self.seed, stream])
        length = int(self.config.snippet_seconds * SAMPLE_RATE)
        clean, tau, speaker = [], [], []
        for utt, signal in self.source.trimmed(split, limit):
            for r in rng.choice(len(rirs), size=min(per_utterance, len(rirs)), replace=False):
                clean.append(reverberate(rirs[r], signal)[:, :length].astype(np.float32))
                tau.append(taus[r])
                speaker.append(utt.speaker)
        return SnippetPool(np.stack(clean), np.asarray(tau), np.asarray(speaker))

    @cached_property
    def train_pool(self) -> SnippetPool:
        return self._pool("train", self.config.max_utterances, self.config.rirs_per_utterance, 12)

    @cached_property
    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """Fixed validation windows (V, M, N) and true delays (V,)."""
        pool = self._pool("val", self.config.val_utterances, 1, 13)
        rng = np.random.default_rng([self.seed, 14])
        index = np.repeat(np.arange(len(pool.tau)), self.config.val_windows)
        return self._draw(pool, index, rng), pool.tau[index]

    def _draw(self, pool: SnippetPool, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        window = self.config.window
        starts = rng.integers(0, pool.clean.shape[-1] - window, size=len(index))
        snrs = rng.uniform(*self.config.snr, size=len(index))
        frames = np.stack([pool.clean[i, :, s:s + window] for i, s in zip(index, starts, strict=True)])
        return np.stack([add_noise(f, snr, rng) for f, snr in zip(frames, snrs, strict=True)])

    def batch(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A training batch: windows (size, M, N) float32 and real-valued delays (size,)."""
        pool = self.train_pool
        index = rng.integers(0, len(pool.tau), size=size)
        return self._draw(pool, index, rng), pool.tau[index]
