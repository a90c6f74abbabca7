"""SELD features kept between runs, and their standardisation (spec seld.md §3.2.4).

**Cache.** :class:`SeldFeatureCache` stores one file's features ``[C, T, F]`` (float32) in the
HDF5 :class:`~perloc.datasets.feature_cache.FeatureCache` under a key made of the feature set's
name, every :class:`~perloc.methods.seld.features.FeatureParams` field, :data:`FEATURE_VERSION`
(bumped whenever a feature's code changes its values) and the caller's ``audio_version``: a
content digest of the file (``perloc.datasets.digest.file_digest``) or a dataset version plus
the file's name. A hit reads the array and never loads the audio; a miss calls ``load()``,
computes, stores. All parameters are in every key, so changing a SALSA-Lite bin edge also
misses for the log-mel: a wasted recomputation, never a stale read.

**Scaler.** :class:`FeatureScaler` standardises every feature column, one (channel, bin) pair,
as the baseline's ``StandardScaler`` on its [T, C * F] matrices: mean and population standard
deviation over all frames of the fitted files (a zero deviation is read as 1), streamed with
``partial_fit`` (Chan et al.'s pairwise update in float64; no sklearn). :func:`fit_scaler` fits
on the **training files only** by default and applies to every file; ``fit_on="all"`` also fits
on the other files, which is what the DCASE baseline does (it fits on every file of the feature
folder, dev-test included: a normalisation leak, gotcha 12).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from perloc.bench.core import device
from perloc.datasets.feature_cache import FeatureCache
from perloc.methods.seld.features import DEFAULT, FeatureParams, compute_features

FEATURE_VERSION = 1
FIT_ON = ("train", "all")


def audio_digest(audio) -> str:
    """BLAKE2b-128 of an in-memory clip's float32 samples and shape (for callers without a
    file digest)."""
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    h = hashlib.blake2b(repr(x.shape).encode(), digest_size=16)
    h.update(x.tobytes())
    return h.hexdigest()


def feature_key(name: str, audio_version: str, params: FeatureParams = DEFAULT) -> list:
    """The cache key parts of one file's feature set."""
    return ["seld-features", FEATURE_VERSION, name, dataclasses.asdict(params), audio_version]


class SeldFeatureCache:
    """Per-file SELD features through an HDF5 feature cache (module docstring)."""

    def __init__(self, cache: FeatureCache | Path) -> None:
        self.cache = cache if isinstance(cache, FeatureCache) else FeatureCache(Path(cache))

    @property
    def computed(self) -> int:
        """How many feature arrays this cache had to compute (misses)."""
        return self.cache.computed

    def get(self, name: str, audio_version: str, load: Callable[[], np.ndarray],
            params: FeatureParams = DEFAULT) -> np.ndarray:
        """Features ``[C, T, F]`` float32 of the file whose audio ``[4, N]`` ``load()`` returns
        (called only on a miss) and whose content ``audio_version`` names."""
        def compute() -> np.ndarray:
            # on the CPU on purpose: cached values do not depend on the device that ran
            audio = device.host_tensor(np.asarray(load(), dtype=np.float32)[None])
            with torch.inference_mode():
                return device.host(compute_features(name, audio, params)[0])

        return self.cache.get(feature_key(name, audio_version, params), compute)


class FeatureScaler:
    """Per-column (channel, bin) standardisation fitted over frames, streamed."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None  # [C, F] float64
        self.m2: np.ndarray | None = None  # sum of squared deviations [C, F]

    def partial_fit(self, features) -> FeatureScaler:
        """Add the frames of ``features`` ``[C, T, F]`` or ``[B, C, T, F]``."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 4:
            x = x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1, x.shape[3])
        if x.ndim != 3:
            raise ValueError(f"features must be [C, T, F] or [B, C, T, F], got {x.shape}")
        if self.mean is not None and x.shape[::2] != self.mean.shape:
            raise ValueError(f"features {x.shape} do not match the fitted columns "
                             f"{self.mean.shape}")
        n = x.shape[1]
        if n == 0:
            return self
        mean = x.mean(axis=1)
        m2 = np.square(x - mean[:, None]).sum(axis=1)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return self
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * n / total)
        self.count = total
        return self

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation [C, F]; 1 where it is 0 (sklearn's convention)."""
        if self.mean is None:
            raise ValueError("the scaler has not been fitted")
        std = np.sqrt(self.m2 / self.count)
        return np.where(std == 0, 1.0, std)

    def transform(self, features) -> np.ndarray:
        """(x - mean) / std per column of ``features [..., C, T, F]``, float32."""
        x = np.asarray(features, dtype=np.float64)
        return ((x - self.mean[:, None, :]) / self.std[:, None, :]).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"count": np.asarray(self.count), "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_state(cls, state: dict) -> FeatureScaler:
        scaler = cls()
        scaler.count = int(state["count"])
        scaler.mean, scaler.m2 = np.asarray(state["mean"]), np.asarray(state["m2"])
        return scaler


def fit_scaler(train: Iterable, others: Iterable = (), fit_on: str = "train") -> FeatureScaler:
    """A scaler fitted on the training files' features (each ``[C, T, F]``), streamed; with
    ``fit_on="all"`` on ``others`` (validation/test files) too, as the baseline does."""
    if fit_on not in FIT_ON:
        raise ValueError(f"fit_on must be one of {FIT_ON}, got {fit_on!r}")
    scaler = FeatureScaler()
    for features in train:
        scaler.partial_fit(features)
    if fit_on == "all":
        for features in others:
            scaler.partial_fit(features)
    if scaler.mean is None:
        raise ValueError("no features to fit the scaler on")
    return scaler
