"""The three SELD input feature sets of Paper VI, per file, cached, cut into 5-s sequences.

* ``gcc-ms``: 4 log-mel (librosa recipe) + 6 GCC-PHAT channels, [10, T, 64];
* ``salsa-lite``: 4 log-power spectra + 3 normalised phase differences, [7, T, 382];
* ``ngcc-ms``: the frozen multi-target NGCC-PHAT's TDOA features [6 C, T, 13] and the
  in-network log-mel [4, T, 64] (the network maps the lags to 64 bins and puts the mel first).

T = floor(N / 480) feature frames of 20 ms; a file's first 5 x floor(N / 2400) frames are used
(whole label frames). ``gcc-ms`` and ``salsa-lite`` are standardised per feature column with
a scaler fitted on the training files only (the baseline fits every file of both folds, spec
gotcha 12); ``ngcc-ms`` uses the audio scale its NGCC learned in pre-training. Features are
stored in an HDF5 cache keyed by the feature set, its version, the extractor's weights (NGCC)
and a digest of the audio itself, so every method and run that needs a file's features
computes them once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from perloc.bench.core import device
from perloc.datasets.feature_cache import FeatureCache
from perloc.methods.seld.feature_store import SeldFeatureCache, audio_digest, feature_key
from perloc.methods.seld.features import NgccLogMel
from perloc.methods.training import weights_digest

FEATURE_SETS = ("gcc-ms", "salsa-lite", "ngcc-ms")
SEQUENCE = 250  # feature frames per training sequence (5 s)
FRAMES_PER_LABEL = 5


@dataclass(frozen=True)
class Shape:
    """Channels and bins of each part of a feature set's input."""

    parts: tuple[tuple[int, int], ...]


def shape_of(feature_set: str, ngcc_channels: int = 16) -> Shape:
    if feature_set == "gcc-ms":
        return Shape(((10, 64),))
    if feature_set == "salsa-lite":
        return Shape(((7, 382),))
    if feature_set == "ngcc-ms":
        return Shape(((4, 64), (6 * ngcc_channels, 13)))
    raise ValueError(f"features must be one of {', '.join(FEATURE_SETS)}, got {feature_set!r}")


class FileFeatures:
    """Features of whole files for one feature set (and NGCC extractor), cached by content."""

    def __init__(self, feature_set: str, cache_folder: Path, ngcc=None) -> None:
        shape_of(feature_set)
        if feature_set == "ngcc-ms" and ngcc is None:
            raise ValueError("ngcc-ms features need the pre-trained NGCC extractor")
        self.feature_set, self.ngcc = feature_set, ngcc
        self.mel = device.build(NgccLogMel) if feature_set == "ngcc-ms" else None
        self.cache = FeatureCache(Path(cache_folder) / f"seld-{feature_set}.h5")
        self.store = SeldFeatureCache(self.cache)
        self.tag = weights_digest(ngcc) if ngcc is not None else ""

    def __call__(self, audio: np.ndarray, n_label_frames: int) -> list[np.ndarray]:
        """Parts [ch, 5 * n_label_frames, bins] of one recording [4, N]."""
        frames = FRAMES_PER_LABEL * n_label_frames
        digest = audio_digest(audio)
        if self.feature_set != "ngcc-ms":
            return [self.store.get(self.feature_set, digest, lambda: audio)[:, :frames]]
        where = device.placement().kind  # the extractor runs on the cell's device
        packed = self.cache.get([*feature_key("ngcc-ms", digest), self.tag,
                                 *([] if where == "cpu" else [where])],
                                lambda: self._ngcc(audio))
        return [part[:, :frames] for part in self._unpack(packed)]

    def _ngcc(self, audio: np.ndarray) -> np.ndarray:
        """The log-mel [4, T, 64] of the standardised audio and the TDOA features [6 C, T, 13],
        packed into one flat array."""
        x = device.tensor(np.asarray(audio, dtype=np.float32))[None]
        with torch.inference_mode():
            mel = self.mel(x / self.ngcc.scale[:, None])[0]
            tdoa = self.ngcc.features(x)[0].flatten(0, 1)  # [6 C, T, 13]
        t = min(mel.shape[1], tdoa.shape[1])
        return np.concatenate([device.host(mel[:, :t]).ravel(), device.host(tdoa[:, :t]).ravel()])

    def _unpack(self, packed: np.ndarray) -> list[np.ndarray]:
        rows = 6 * self.ngcc.params.out_channels
        t = packed.size // (4 * 64 + rows * 13)
        return [packed[:4 * t * 64].reshape(4, t, 64), packed[4 * t * 64:].reshape(rows, t, 13)]


def sequences(part: np.ndarray, pad_value: float = 1e-6) -> np.ndarray:
    """[ch, T, F] -> [ceil(T / 250), ch, 250, F], the last one padded with ``pad_value`` (as
    the baseline pads test files)."""
    ch, t, f = part.shape
    n = max(1, -(-t // SEQUENCE))
    padded = np.full((ch, n * SEQUENCE, f), pad_value, dtype=np.float32)
    padded[:, :t] = part
    return padded.reshape(ch, n, SEQUENCE, f).transpose(1, 0, 2, 3)
