"""The Paper VII LuViRA protocol: test frames under (setup, M) conditions, and training draws.

Test: the non-silent frames of the held-out trajectories (music3 and speech3 by default), all
11 static microphones, expanded over the condition grid by
:func:`perloc.datasets.ssl_conditions.condition_batch`. No noise is added: the recordings are
what they are.

Training: windows drawn from the other six trajectories around their non-silent frames, with
the paper's augmentation: a random time shift U[-0.05, 0.05] s common to all microphones and
additive Gaussian noise (per channel, SNR U[snr_lo, snr_hi] dB relative to the channel; the
paper gives no level), plus, for a ``fraction`` of each batch, frames simulated by playing the
training trajectories' source track at random positions of a 7 x 8 x 2 m room around the
array (:mod:`perloc.datasets.ssl_augment`; "half real, half simulated" in the paper). The last ``val_fraction`` of every training trajectory (in time) is
held out as a fixed validation set, so validation frames never neighbour training frames.
Batches carry the full array (setup 1_a, all mics) plus the clean signals; methods draw
their own microphone subsets and masks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.luvira import FRAME, SAMPLE_RATE, Frames, Luvira
from perloc.datasets.sim.rir_bank import RirBank
from perloc.datasets.ssl_augment import SimAugmentConfig, SimulatedWindows, render_pool
from perloc.datasets.ssl_conditions import condition_batch, condition_version

SEGMENT_S = 1.0  # seconds of walk per resampling unit of the test CIs
MAX_TAU = 314  # samples: the largest LuViRA mic separation (6.743 m) at 16 kHz, c = 343 m/s


class LuviraTest:
    """The test split under the task's condition grid (``setup`` x ``mics``)."""

    name = "luvira"

    def __init__(self, luvira: Luvira, grid: dict[str, tuple], seed: int = 0) -> None:
        if set(grid) != {"setup", "mics"}:
            raise ValueError(f"grid needs exactly setup and mics, got {sorted(grid)}")
        most = max((int(m) for m in grid["mics"]), default=0)
        if most > luvira.n_static:
            layout = luvira.layouts[luvira.splits()["test"][0]]
            what = "number_of_mics" if layout.kind == "r-sfs" else "tracks"
            raise UserError(f"{layout.count_file}: {what} {luvira.n_static + 1} gives "
                            f"{luvira.n_static} static microphones; the grid asks for M = {most}")
        self.luvira, self.grid, self.seed = luvira, grid, seed
        self.max_tau = MAX_TAU

    @cached_property
    def version(self) -> str:
        return self._digest(self.seed)

    @cached_property
    def base_version(self) -> str:
        """The version of everything but the seed: the seeds of one run share a board section."""
        return self._digest(None)

    def _digest(self, seed: int | None) -> str:
        blob = f"{self.luvira.version}|{condition_version(self.grid, seed)}"
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def provenance(self) -> Provenance:
        return self.luvira.provenance

    def splits(self) -> dict[str, tuple[str, ...]]:
        return self.luvira.splits()

    @cached_property
    def prepared(self) -> Frames:
        return self.luvira.split_frames("test")

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "base_version": self.base_version,
                "loader_version": self.luvira.version,
                "provenance": self.provenance.__dict__, "test": list(self.splits()["test"]),
                "n_frames": len(self.prepared), "hop": self.luvira.hop,
                "silence_db": self.luvira.silence_db,
                "frames_outside_gt": self.luvira.frames_outside_gt()}

    def _cell(self, setup: str, m: int) -> Batch:
        f = self.prepared
        meta = {"trajectory": f.trajectory, "time": f.time,
                "segment": segments(f.trajectory, f.time)}
        return condition_batch(f.signals, f.source, f.mic_pos, f.position, meta, setup, m,
                               self.seed)

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None):
        if split != "test":
            raise UserError(f"{self.name}: the test protocol has only the test split ({split!r})")
        for setup in self.grid["setup"]:
            for m in self.grid["mics"]:
                yield from self._cell(setup, int(m)).chunks(batch_size, limit)


def segments(trajectory: np.ndarray, time: np.ndarray, seconds: float = SEGMENT_S) -> np.ndarray:
    """``music3@4``: the trajectory and the ``seconds``-long block a frame's centre falls in.
    Frames 128 ms apart along one walk have correlated errors, so the test CIs resample
    these blocks, not frames.

    >>> segments(np.array(["a", "a", "b"]), np.array([0.1, 1.2, 0.1])).tolist()
    ['a@0', 'a@1', 'b@0']
    """
    blocks = np.floor(np.asarray(time, dtype=np.float64) / seconds).astype(np.int64)
    return np.array([f"{t}@{b}" for t, b in zip(trajectory, blocks, strict=True)], dtype=object)


@dataclass(frozen=True)
class LuviraTrainConfig:
    shift_s: float = 0.05
    snr: tuple[float, float] = (5.0, 30.0)
    val_fraction: float = 0.15
    augment: SimAugmentConfig | None = SimAugmentConfig()
    pool: int = 0  # > 0: draw that many noisy windows once and train on them (see batch)


class LuviraTraining:
    """Random training windows and a fixed validation set from the training trajectories."""

    def __init__(self, luvira: Luvira, config: LuviraTrainConfig = LuviraTrainConfig(),
                 seed: int = 0, bank: RirBank | None = None, progress: bool = False) -> None:
        self.luvira, self.config, self.seed = luvira, config, seed
        self.bank, self.progress = bank, progress
        if config.augment is not None and bank is None:
            raise ValueError("simulated augmentation needs a RIR bank")
        self.max_tau = MAX_TAU

    @cached_property
    def version(self) -> str:
        blob = json.dumps([self.luvira.version, asdict(self.config), self.seed, "train-3"])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @cached_property
    def simulated(self) -> SimulatedWindows | None:
        """The rendered augmentation pool (None without augmentation)."""
        if self.config.augment is None:
            return None
        recs, train, _ = self._starts
        return render_pool(recs, train, recs[0].mic_pos, self.bank, self.config.augment,
                           self.seed, self.progress)

    @cached_property
    def _starts(self) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
        """Per training trajectory: the recording, train frame starts, validation frame starts."""
        recs, train, val = [], [], []
        for name in self.luvira.splits()["train"]:
            frames = self.luvira.frames(name)
            starts = np.round(frames.time * SAMPLE_RATE - FRAME / 2).astype(np.int64)
            cut = frames.time.min() + (1 - self.config.val_fraction) * np.ptp(frames.time)
            recs.append(self.luvira.recording(name))
            train.append(starts[frames.time < cut])
            val.append(starts[frames.time >= cut])
        return recs, train, val

    def _windows(self, which: list[tuple[int, int]]) -> Batch:
        recs = self._starts[0]
        signals, source, position, mic_pos = [], [], [], []
        for r, start in which:
            rec = recs[r]
            signals.append(rec.mics[:, start:start + FRAME])
            source.append(rec.source[start:start + FRAME])
            position.append(rec.speaker_at(np.array([(start + FRAME / 2) / SAMPLE_RATE]))[0])
            mic_pos.append(rec.mic_pos)
        signals = np.stack(signals).astype(np.float32)
        source = np.stack(source).astype(np.float32)
        n = len(which)
        return Batch({"signals": signals, "clean": signals.copy(), "source_signal": source,
                      "mic_pos": np.stack(mic_pos).astype(np.float32),
                      "position": np.stack(position).astype(np.float32),
                      "source_known": np.zeros(n, dtype=bool)},
                     {"trajectory": np.array([recs[r].name for r, _ in which]),
                      "setup": np.full(n, "1_a"), "mics": np.full(n, signals.shape[1])})

    def batch(self, size: int, rng: np.random.Generator) -> Batch:
        """``size`` noisy training windows (``clean`` holds the noise-free signals): recorded
        windows shifted by U[-shift, shift], and a ``fraction`` drawn from the simulated pool.

        With ``pool`` > 0 the windows come from a fixed set of ``pool`` such draws (shift,
        noise and simulated frame frozen per window, drawn once from the seed): a frozen
        feature extractor (wav2pos's NGCC) then sees each window's channels once per run,
        not once per step, at the price of less augmentation variety."""
        if self.config.pool:
            pool = self._pool
            return pool.take(rng.integers(0, len(pool), size=size))
        return self._fresh(size, rng)

    @cached_property
    def _pool(self) -> Batch:
        rng = np.random.default_rng([self.seed, 29])
        sizes = [min(256, self.config.pool - k) for k in range(0, self.config.pool, 256)]
        return Batch.concat([self._fresh(n, rng) for n in sizes])

    def _fresh(self, size: int, rng: np.random.Generator) -> Batch:
        sim = self.simulated
        n_sim = int(rng.binomial(size, self.config.augment.fraction)) if sim is not None else 0
        parts = [self._recorded(size - n_sim, rng)] if size > n_sim else []
        if n_sim:
            parts.append(self._from_pool(rng.integers(0, len(sim.position), size=n_sim)))
        batch = Batch.concat(parts)
        batch.data["signals"] = add_channel_noise(batch["signals"], self.config.snr, rng)
        return batch

    def _recorded(self, size: int, rng: np.random.Generator) -> Batch:
        recs, train, _ = self._starts
        counts = np.array([len(t) for t in train])
        picks = rng.choice(len(recs), size=size, p=counts / counts.sum())
        shift = int(self.config.shift_s * SAMPLE_RATE)
        which = []
        for r in picks:
            start = int(rng.choice(train[r])) + int(rng.integers(-shift, shift + 1))
            start = int(np.clip(start, 0, recs[r].mics.shape[1] - FRAME))
            centre = np.array([(start + FRAME / 2) / SAMPLE_RATE])
            if not np.isfinite(recs[r].speaker_at(centre)).all():
                start = int(rng.choice(train[r]))
            which.append((int(r), start))
        return self._windows(which)

    def _from_pool(self, index: np.ndarray) -> Batch:
        sim, mic_pos = self.simulated, self._starts[0][0].mic_pos
        n = len(index)
        signals = sim.signals[index]
        return Batch({"signals": signals, "clean": signals.copy(),
                      "source_signal": sim.source[index],
                      "mic_pos": np.broadcast_to(mic_pos, (n, *mic_pos.shape)).astype(np.float32),
                      "position": sim.position[index], "source_known": np.zeros(n, dtype=bool)},
                     {"trajectory": np.full(n, "simulated"), "setup": np.full(n, "1_a"),
                      "mics": np.full(n, signals.shape[1])})

    @cached_property
    def validation(self) -> Batch:
        _, _, val = self._starts
        return self._windows([(r, int(s)) for r, starts in enumerate(val) for s in starts])

    def position_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-axis mean and std of the training source positions (for normalisation), over
        the recorded frames and the simulated pool together: both are what training sees."""
        recs, train, _ = self._starts
        parts = [rec.speaker_at((s + FRAME / 2) / SAMPLE_RATE) for rec, s in zip(recs, train,
                                                                                  strict=True)]
        if self.simulated is not None:
            parts.append(self.simulated.position)
        pos = np.concatenate(parts)
        pos = pos[np.isfinite(pos).all(axis=1)]
        return pos.mean(axis=0), np.maximum(pos.std(axis=0), 1e-3)


def add_channel_noise(signals: np.ndarray, snr: tuple[float, float],
                      rng: np.random.Generator) -> np.ndarray:
    """White noise per channel at SNR ~ U[snr] dB relative to the channel's own power."""
    power = np.mean(signals.astype(np.float64) ** 2, axis=-1, keepdims=True)
    level = rng.uniform(*snr, size=power.shape)
    sigma = np.sqrt(power * 10 ** (-level / 10))
    return (signals + sigma * rng.standard_normal(signals.shape)).astype(np.float32)
