"""STARSS23 as the SELD task sees it: whole test files as harness batches, and training files.

* :class:`SeldTest` yields one row per test file (fold 4): ``audio`` (object array of
  [4, N] float32 recordings), the target ``events`` (object array of
  :class:`~perloc.datasets.dcase_csv.DcaseEvents`), meta ``file`` and ``room``. Files are the
  resampling unit of the CIs (the DCASE jackknife leaves one file out).
* :class:`SeldTraining` holds the training files (folds 1-3) split into ``train`` and a
  held-out ``val`` part (every ``VAL_EVERY``-th training file in name order) that only draws the
  validation curve: fold 4 is the test split here, never a model-selection split (the
  baseline picks its checkpoint on fold 4, spec gotcha 11; ngcc-seld and this harness keep the
  final epoch). ``acs`` adds the 8 channel swaps of every training file (spec §1.8).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.datasets.seld_labels import adpit_labels

VAL_EVERY = 10


def room_of(stem: str) -> str:
    """``fold4_room23_mix001`` -> ``room23`` (the recording room, a condition column)."""
    parts = stem.split("_")
    return parts[1] if len(parts) > 1 else ""


class SeldTest:
    """The test files as batches (see the module docstring)."""

    name = "starss23-seld"

    def __init__(self, starss) -> None:
        self.starss = starss
        if not self.files:
            raise UserError(f"{starss.root}: no test file (fold 4)")

    @property
    def version(self) -> str:
        return self.starss.version

    @property
    def provenance(self):
        return self.starss.provenance

    @cached_property
    def files(self) -> tuple[str, ...]:
        return tuple(self.starss.splits()["test"])

    def splits(self) -> dict[str, int]:
        return {"test": len(self.files)}

    def describe(self) -> dict:
        return {**self.starss.describe(), "name": self.name, "test_files": len(self.files),
                "label_frames": int(sum(self.starss.n_label_frames(s) for s in self.files)),
                "scaler": "fitted on the training files only (the DCASE2024 baseline fits "
                          "every file of both folds)",
                "model_selection": "final epoch (validation: held-out training files)"}

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None) -> Iterator[Batch]:
        if split != "test":
            raise UserError(f"{self.name}: the harness scores the test split (asked {split!r})")
        files = [s for s in self.files
                 if not where or "room" not in where or room_of(s) in map(str, where["room"])]
        files = files[:limit] if limit is not None else files
        for start in range(0, len(files), batch_size):
            stems = files[start:start + batch_size]
            audio = np.empty(len(stems), dtype=object)
            events = np.empty(len(stems), dtype=object)
            for i, stem in enumerate(stems):
                audio[i], events[i] = self.starss.audio(stem), self.starss.events(stem)
            yield Batch({"audio": audio, "events": events},
                        {"file": np.array(stems, dtype=object),
                         "room": np.array([room_of(s) for s in stems], dtype=object)})


@dataclass(frozen=True)
class SeldTrainConfig:
    """What the training files are: ``acs`` adds the 8 channel swaps of each."""

    acs: bool = False


class SeldTraining:
    """Training and held-out validation files of the SELD task (module docstring)."""

    def __init__(self, starss, config: SeldTrainConfig = SeldTrainConfig()) -> None:
        self.starss, self.config = starss, config
        train = sorted(starss.splits()["train"])
        if len(train) < 2:
            raise UserError(f"{starss.root}: SELD training needs at least 2 training files "
                            f"(folds 1-3), found {len(train)}")
        held = set(train[VAL_EVERY - 1::VAL_EVERY]) or {train[-1]}
        self.split_files = {"train": tuple(s for s in train if s not in held),
                            "val": tuple(s for s in train if s in held)}

    @property
    def version(self) -> str:
        blob = json.dumps([self.starss.version, asdict(self.config), VAL_EVERY, "seld-train-1"])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def files(self, split: str) -> tuple[str, ...]:
        return self.split_files[split]

    def recording(self, stem: str) -> tuple[np.ndarray, object]:
        """(audio [4, N], events) of a file as recorded."""
        return self.starss.audio(stem), self.starss.events(stem)

    def views(self, stem: str) -> list[tuple[np.ndarray, object]]:
        """(audio [4, N], events) of a file: itself, or its 8 ACS swaps with ``acs``."""
        return self.starss.acs_views(stem) if self.config.acs else [self.recording(stem)]

    def n_label_frames(self, stem: str) -> int:
        return self.starss.n_label_frames(stem)

    def labels(self, events, n_frames: int) -> np.ndarray:
        """ADPIT labels [frames, 6, 5, C] of (possibly swapped) events."""
        return adpit_labels(events, n_frames, self.starss.n_classes)
