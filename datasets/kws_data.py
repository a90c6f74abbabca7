"""Keyword-spotting data for the harness: Speech Commands splits as decoded clips and MFCCs.

:class:`KwsClips` decodes a split once and keeps the clips, labels and their MFCCs in the HDF5
:class:`~perloc.datasets.feature_cache.FeatureCache`, keyed by the dataset version (a digest of
the contents of every clip, list and background file, and the class task) and, for features,
the front-end configuration: a cache hit means these exact bytes were decoded and checked
before, and any changed file is decoded (and checked) again. Later epochs and later runs
read the cache instead of the wav files and the front end. Training clips are cached as
audio, because the waveform augmentation (stretch, shift, background noise) comes before the
front end and changes every step; validation and test clips are cached as features.

* :class:`KwsTest` is the task's test adapter: batches of ``mfcc`` [B, 98, 40] with the
  ``label`` target and ``word`` (the class name) as a meta column for per-class slices.
* :class:`KwsTraining` hands the learned methods training batches (augmented, optionally) and
  the validation features; constructing it checks every file training will read.

Device: all of this is data preparation on the CPU (features in the cache are computed there,
so they never depend on the device a cell runs on); training batches are CPU tensors that the
training loop moves to the cell's device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from functools import cached_property

import numpy as np
import torch

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.bench.core.progress import progress_bar
from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.features.mfcc import Mfcc, MfccParams
from perloc.datasets.kws_augment import AugmentParams, augment_waveform, spec_augment
from perloc.datasets.speech_commands import SpeechCommands

FRONTEND = MfccParams()
SPLIT_NAMES = {"train": "training", "validation": "validation", "test": "testing"}
FEATURE_CHUNK = 256


PCM_SCALE = 32768.0  # 16-bit PCM: the cache keeps the samples as int16, exactly


def to_float(pcm: np.ndarray) -> np.ndarray:
    return (np.asarray(pcm, dtype=np.float32) / PCM_SCALE).astype(np.float32)


def mfcc_features(audio: np.ndarray, params: MfccParams = FRONTEND,
                  progress: bool = False) -> np.ndarray:
    """[N, 16000] clips (float, or int16 PCM) -> [N, 98, 40] float32 MFCCs, in chunks."""
    front = Mfcc(params)
    out = np.empty((len(audio), params.n_frames(audio.shape[1]), params.n_coefficients),
                   dtype=np.float32)
    with torch.inference_mode():
        for start in progress_bar(range(0, len(audio), FEATURE_CHUNK), desc="MFCC features",
                                  unit=f"x{FEATURE_CHUNK} clips", enabled=progress):
            chunk = audio[start:start + FEATURE_CHUNK]
            chunk = device.host_tensor(to_float(chunk) if chunk.dtype == np.int16 else chunk)
            out[start:start + len(chunk)] = device.host(front(chunk))
    return out


class KwsClips:
    """Clips, labels and features of one Speech Commands task, through the feature cache."""

    def __init__(self, commands: SpeechCommands, cache: FeatureCache,
                 frontend: MfccParams = FRONTEND, progress: bool = False) -> None:
        self.commands = commands
        self.cache = cache
        self.frontend = frontend
        self.progress = progress  # report decoding and feature caching (bench/core/progress)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.commands.labels

    def _part(self, split: str) -> tuple:
        return ("speech-commands", self.commands.version, split)

    def audio(self, split: str) -> np.ndarray:
        """[N, 16000] int16 PCM clips of ``split`` in the task's fixed order (see to_float)."""
        return self.cache.get((*self._part(split), "pcm16"), lambda: self._decode(split))

    def check(self, split: str) -> None:
        """Decode ``split`` into the cache now (bad files fail here, before any training)."""
        self.cache.ensure((*self._part(split), "pcm16"), lambda: self._decode(split))

    def labels(self, split: str) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.classes)}
        return self.cache.get((*self._part(split), "labels"), lambda: np.array(
            [index[e.label] for e in self.commands.entries(split)], dtype=np.int64))

    def speakers(self, split: str) -> np.ndarray:
        """Speaker id of each clip of ``split`` (the file name's hash prefix; each silence
        clip is its own ``silence-<i>``): the resampling unit of the test CIs."""
        return np.array([e.path.name.split("_nohash_")[0] if e.path is not None
                         else f"silence-{i}" for i, e in enumerate(self.commands.entries(split))],
                        dtype=object)

    def features(self, split: str) -> np.ndarray:
        """[N, 98, 40] MFCCs of ``split`` (front-end config in the cache key)."""
        return self.cache.get((*self._part(split), "mfcc", dataclasses.asdict(self.frontend)),
                              lambda: mfcc_features(self.audio(split), self.frontend,
                                                    self.progress))

    def _decode(self, split: str) -> np.ndarray:
        entries = self.commands.entries(split)
        if not entries:
            raise UserError(f"{self.commands.root}: the {split} split is empty")
        return np.stack([np.round(self.commands.load(e) * PCM_SCALE).clip(-32768, 32767)
                         .astype(np.int16) for e in progress_bar(
                             entries, desc=f"decoding {split} clips", unit="clip",
                             enabled=self.progress)])


class KwsTest:
    """The test split as harness batches (``mfcc``, target ``label``, meta ``word``)."""

    name = "speech-commands"

    def __init__(self, clips: KwsClips) -> None:
        self.clips = clips

    @property
    def version(self) -> str:
        return self.clips.commands.version

    @property
    def provenance(self):
        return self.clips.commands.provenance

    @property
    def classes(self) -> tuple[str, ...]:
        return self.clips.classes

    def splits(self) -> dict[str, int]:
        return {"test": len(self.labels)}

    @cached_property
    def prepared(self) -> tuple[np.ndarray, np.ndarray]:
        """(test MFCCs [N, 98, 40], labels [N]), from the cache after the first run. The
        training and validation clips are decoded into the cache too, so a bad file anywhere
        is reported before any method runs."""
        for split in ("training", "validation"):
            self.clips.check(split)
        self.clips.commands.background  # noqa: B018  (training needs the noise recordings)
        return self.clips.features("testing"), self.clips.labels("testing")

    @property
    def labels(self) -> np.ndarray:
        return self.prepared[1]

    def describe(self) -> dict:
        commands = self.clips.commands
        return {"name": self.name, "version": self.version, "provenance": self.provenance.__dict__,
                "classes": len(self.clips.classes), "words": len(commands.words),
                "n_clips": len(self.labels), "frontend": dataclasses.asdict(self.clips.frontend)}

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None) -> Iterator[Batch]:
        if split != "test":
            raise UserError(f"{self.name}: the harness scores the test split (asked {split!r})")
        features = self.prepared[0]
        words = np.array(self.clips.classes, dtype=object)[self.labels]
        speakers = self.clips.speakers("testing")
        stop = len(self.labels) if limit is None else min(limit, len(self.labels))
        for start in range(0, stop, batch_size):
            part = slice(start, min(start + batch_size, stop))
            yield Batch({"mfcc": features[part], "label": self.labels[part]},
                        {"word": words[part], "speaker": speakers[part]})


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Which augmentation the training batches get (``augment=False``: cached features)."""

    augment: bool = True
    params: AugmentParams = AugmentParams()
    silence_noise: bool = False  # ARM KWT: silence stays digital zero (spec gotcha 1)


class KwsTraining:
    """Training batches and validation features for the learned KWS methods."""

    def __init__(self, clips: KwsClips, options: TrainingOptions = TrainingOptions()) -> None:
        self.clips = clips
        self.options = options
        self.front = Mfcc(clips.frontend)
        self.validate()

    def validate(self) -> None:
        """Every file training reads, checked now (a UserError naming a bad one): the training
        and validation clips are decoded into the feature cache unless it holds them for this
        content version already, and the background recordings are read when augmenting."""
        for split in ("training", "validation"):
            self.clips.check(split)
        if self.options.augment:
            self.clips.commands.background  # noqa: B018

    @property
    def version(self) -> str:
        return f"{self.clips.commands.version}-{hash_options(self.options)}"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.clips.classes

    @cached_property
    def train_labels(self) -> np.ndarray:
        return self.clips.labels("training")

    @cached_property
    def train_source(self) -> np.ndarray:
        """Audio when augmenting (augmentation precedes the front end), else features."""
        if self.options.augment:
            return self.clips.audio("training")
        return self.clips.features("training")

    @cached_property
    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        return self.clips.features("validation"), self.clips.labels("validation")

    @cached_property
    def noises(self) -> list[np.ndarray]:
        return self.clips.commands.background

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(mfcc [B, 98, 40], labels [B]) of ``size`` random training examples."""
        n = len(self.train_labels)
        index = np.sort(rng.choice(n, size=min(size, n), replace=False))
        labels = device.host_tensor(self.train_labels[index])
        if not self.options.augment:
            return device.host_tensor(self.train_source[index]), labels
        source = device.host_tensor(to_float(self.train_source[index]))
        gen = torch.Generator(device=source.device).manual_seed(int(rng.integers(2**62)))
        audio = augment_waveform(source, self.noises, self.options.params, gen)
        if not self.options.silence_noise:
            audio = torch.where((labels == self.silence_label)[:, None], 0.0, audio)
        with torch.inference_mode():
            features = self.front(audio)
        return spec_augment(features.clone(), self.options.params, gen), labels

    @cached_property
    def silence_label(self) -> int:
        return self.classes.index("_silence_") if "_silence_" in self.classes else -1


def hash_options(options: TrainingOptions) -> str:
    blob = json.dumps(dataclasses.asdict(options), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:8]
