"""librispeech-adhoc: Paper VII's simulated environment (Figure 3), six ad-hoc microphones.

Recipe ([R-w2p], spec tdoa_ssl.md section 5.2): a 5 x 5 x 2 m shoebox; one microphone on each
face (floor, ceiling and the four walls), uniform over that face and drawn anew per example;
the source uniform in [0.5, 4.5] x [0.5, 4.5] x [0.25, 1.75] m; LibriSpeech test-clean split
by speaker (test 61, 121, 237; every other speaker trains), utterances longer than 2 s after
silence trimming; the 1-s segment 0.5 s -> 1.5 s of the utterance is played, the microphone
signals are advanced by 41 samples (pyroomacoustics' fractional-delay latency, so the
source signal s_0 lines up for setups 1_b / 2_b) and the test frame is its first 2048 samples.
T60 and SNR are condition columns (the paper plots MAE against both but gives no grid);
noise is white at the given SNR relative to microphone 0, as the TDOA task.

Test examples: ``repeats`` geometries per test utterance (the reference uses 10).
Training: a pool of reverberant 1-s segments (``rirs_per_utterance`` random geometries per
training utterance, T60 ~ U[t60]); every example takes a random 2048-window of one and fresh
noise at SNR ~ U[snr].
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
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.sim.rir_bank import RirBank, RirRequest
from perloc.datasets.sim.rooms import RoomSpec, add_noise, reverberate

ROOM = (5.0, 5.0, 2.0)
SOURCE_BOX = ((0.5, 0.5, 0.25), (4.5, 4.5, 1.75))
SEGMENT = (8000, 24000)  # samples of the utterance played (0.5 s -> 1.5 s)
LATENCY = 41  # samples: pyroomacoustics fractional-delay filter delay compensated in [R-w2p]
FRAME = 2048
MAX_TAU = 342  # room diagonal sqrt(54) m = 342.8 samples at 16 kHz
SIM_VERSION = 1


def face_mics(rng: np.random.Generator, n: int, margin: float = 1e-3) -> np.ndarray:
    """[n, 6, 3]: one microphone uniform on each face: z=0, z=H, y=0, x=0, x=W, y=L."""
    dims = np.asarray(ROOM)
    mics = rng.uniform(margin, dims - margin, size=(n, 6, 3))
    for k, (axis, side) in enumerate(((2, 0), (2, 1), (1, 0), (0, 0), (0, 1), (1, 1))):
        mics[:, k, axis] = margin if side == 0 else dims[axis] - margin
    return mics


def sources(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(*SOURCE_BOX, size=(n, 3))


def _request(mics: np.ndarray, source: np.ndarray, t60: float) -> RirRequest:
    room = RoomSpec("adhoc-5x5x2", ROOM, tuple(tuple(round(float(v), 4) for v in m) for m in mics))
    return RirRequest(room, tuple(round(float(v), 4) for v in source), float(t60))


def render(rir: np.ndarray, utterance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mic segment [6, 16000] advanced by the latency, source segment [16000])."""
    lo, hi = SEGMENT
    wet = reverberate(rir, utterance)
    return wet[:, lo + LATENCY:hi + LATENCY].astype(np.float32), utterance[lo:hi].astype(np.float32)


def _batch(signals, source, mics, position, meta) -> Batch:
    n = len(signals)
    mics = mics.astype(np.float32)
    return Batch({"signals": signals.astype(np.float32), "mic_pos": mics, "mic_true": mics,
                  "mic_unknown": np.full_like(mics, np.nan), "source_signal": source,
                  "source_known": np.zeros(n, dtype=bool), "position": position.astype(np.float32)},
                 {**meta, "setup": np.full(n, "1_a"), "mics": np.full(n, 6)})


class AdhocTest:
    """Test examples under the (snr, t60) grid."""

    name = "librispeech-adhoc"

    def __init__(self, speech: LibriSpeech, bank: RirBank, grid: dict[str, tuple], *,
                 seed: int = 0, n_utterances: int | None = None, repeats: int = 5,
                 progress: bool = False) -> None:
        if set(grid) != {"snr", "t60"}:
            raise ValueError(f"grid needs exactly snr and t60, got {sorted(grid)}")
        self.speech, self.bank, self.grid, self.seed = speech, bank, grid, seed
        self.n_utterances, self.repeats, self.progress = n_utterances, repeats, progress
        self.max_tau = MAX_TAU
        self._clean: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    @cached_property
    def version(self) -> str:
        return self._digest(self.seed)

    @cached_property
    def base_version(self) -> str:
        """The version of everything but the seed: the seeds of one run share a board section."""
        return self._digest(None)

    def _digest(self, seed: int | None) -> str:
        spec = [SIM_VERSION, self.speech.version, {k: list(v) for k, v in self.grid.items()},
                seed, self.n_utterances, self.repeats]
        return hashlib.sha1(json.dumps(spec).encode()).hexdigest()[:12]

    @property
    def provenance(self) -> Provenance:
        return self.speech.provenance

    def splits(self) -> dict[str, int]:
        return {"test": len(self.prepared[0])}

    @cached_property
    def prepared(self) -> tuple[list, np.ndarray, np.ndarray]:
        """(utterances repeated per geometry, mics [E, 6, 3], sources [E, 3])."""
        items = [it for it in self.speech.trimmed("test", self.n_utterances)
                 if len(it[1]) >= SEGMENT[1] + LATENCY]
        if not items:
            raise UserError(f"{self.speech.folder}: no test utterance of 1.5 s after trimming")
        examples = [it for it in items for _ in range(self.repeats)]
        rng = np.random.default_rng([self.seed, 61])
        return examples, face_mics(rng, len(examples)), sources(rng, len(examples))

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "base_version": self.base_version,
                "source": self.speech.name,
                "source_version": self.speech.version, "provenance": self.provenance.__dict__,
                "n_utterances": len(self.prepared[0]) // self.repeats, "repeats": self.repeats}

    def _clean_at(self, t60: float) -> tuple[np.ndarray, np.ndarray]:
        if t60 not in self._clean:
            examples, mics, srcs = self.prepared
            rirs = self.bank.get_many([_request(m, s, t60) for m, s in zip(mics, srcs, strict=True)],
                                      progress=self.progress)
            pairs = [render(rir, utt) for rir, (_, utt) in zip(rirs, examples, strict=True)]
            self._clean[t60] = (np.stack([p[0][:, :FRAME] for p in pairs]),
                                np.stack([p[1][:FRAME] for p in pairs]))
        return self._clean[t60]

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None):
        if split != "test":
            raise UserError(f"{self.name}: only the test split is simulated here ({split!r})")
        examples, mics, srcs = self.prepared
        speaker = np.array([u.speaker for u, _ in examples])
        utterance = np.array([u.id for u, _ in examples])
        for t60 in self.grid["t60"]:
            clean, source = self._clean_at(t60)
            for snr in self.grid["snr"]:
                rng = np.random.default_rng([self.seed, 62, int(t60 * 1000), int(snr * 10)])
                noisy = np.stack([add_noise(c, snr, rng) for c in clean])
                n = len(noisy)
                cell = _batch(noisy, source, mics, srcs, {"snr": np.full(n, float(snr)),
                                                         "t60": np.full(n, float(t60)),
                                                         "speaker": speaker,
                                                         "file": utterance})
                yield from cell.chunks(batch_size, limit)


@dataclass(frozen=True)
class AdhocTrainConfig:
    rirs_per_utterance: int = 2
    t60: tuple[float, float] = (0.0, 0.4)
    snr: tuple[float, float] = (0.0, 30.0)
    max_utterances: int | None = None
    val_examples: int = 128


class AdhocTraining:
    """Training pool (train speakers) and a fixed validation set (held-out pool entries)."""

    def __init__(self, speech: LibriSpeech, bank: RirBank, config: AdhocTrainConfig, *,
                 seed: int = 0, progress: bool = False) -> None:
        self.speech, self.bank, self.config, self.seed = speech, bank, config, seed
        self.progress = progress
        self.max_tau = MAX_TAU

    @cached_property
    def version(self) -> str:
        blob = json.dumps([SIM_VERSION, self.speech.version, asdict(self.config), self.seed])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @cached_property
    def pool(self) -> dict[str, np.ndarray]:
        items = [it for split in ("train", "val")
                 for it in self.speech.trimmed(split, self.config.max_utterances)
                 if len(it[1]) >= SEGMENT[1] + LATENCY]
        k = self.config.rirs_per_utterance
        rng = np.random.default_rng([self.seed, 63])
        mics, srcs = face_mics(rng, len(items) * k), sources(rng, len(items) * k)
        lo, hi = self.config.t60
        t60 = np.where(rng.random(len(srcs)) < 0.2, 0.0, rng.uniform(max(lo, 0.12), hi,
                                                                      len(srcs))).round(3)
        rirs = self.bank.get_many([_request(m, s, t) for m, s, t in zip(mics, srcs, t60,
                                                                        strict=True)],
                                  progress=self.progress)
        rendered = [render(rir, items[e // k][1]) for e, rir in enumerate(rirs)]
        return {"signals": np.stack([r[0] for r in rendered]),
                "source": np.stack([r[1] for r in rendered]), "mics": mics, "position": srcs}

    def _examples(self, index: np.ndarray, rng: np.random.Generator, noisy: bool) -> Batch:
        pool = self.pool
        starts = rng.integers(0, pool["signals"].shape[-1] - FRAME, size=len(index))
        clean = np.stack([pool["signals"][i, :, s:s + FRAME] for i, s in zip(index, starts,
                                                                            strict=True)])
        source = np.stack([pool["source"][i, s:s + FRAME] for i, s in zip(index, starts,
                                                                          strict=True)])
        snrs = rng.uniform(*self.config.snr, size=len(index))
        signals = np.stack([add_noise(c, snr, rng) for c, snr in zip(clean, snrs, strict=True)]) \
            if noisy else clean
        batch = _batch(signals, source, pool["mics"][index], pool["position"][index],
                       {"trajectory": np.full(len(index), "simulated")})
        batch.data["clean"] = clean.astype(np.float32)
        return batch

    @property
    def _split(self) -> int:
        return max(len(self.pool["position"]) - self.config.val_examples, 1)

    def batch(self, size: int, rng: np.random.Generator) -> Batch:
        return self._examples(rng.integers(0, self._split, size=size), rng, noisy=True)

    @cached_property
    def validation(self) -> Batch:
        index = np.arange(self._split, len(self.pool["position"]))
        return self._examples(index, np.random.default_rng([self.seed, 64]), noisy=True)

    def position_stats(self) -> tuple[np.ndarray, np.ndarray]:
        pos = self.pool["position"][: self._split]
        return pos.mean(axis=0), np.maximum(pos.std(axis=0), 1e-3)
