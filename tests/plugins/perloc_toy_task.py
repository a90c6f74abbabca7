"""A test-only task registered from outside the harness: tagging clips with ragged event lists.

It exercises the shapes the next tasks need (SELD's event lists, ScanObjectNN's per-class
counts, 3DMatch's per-pair recall) with nothing under ``bench/`` edited: this module is loaded
as a plug-in (``-m perloc_toy_task:toy-round`` / the ``perloc.tasks`` entry point).

Each clip of a scene holds 0-3 events of 4 classes (a class may occur twice); its input ``x``
is the per-class event count plus Gaussian noise (sigma 0.25 at ``noise=low``, 0.6 at
``noise=high``). The metrics are in ``perloc_toy_metrics``.

The bootstrap resamples scenes (the clips of one scene share its draw).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from perloc_toy_metrics import CLASSES, METRICS, K

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.predictions import ListColumn
from perloc.bench.core.protocols import Provenance
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.core.task import DataRequest, Profile, TaskSpec

SIGMA = {"low": 0.25, "high": 0.6}

class ToyTags:
    """Scenes of clips drawn from a seed; every noise level of the grid gets its own clips."""

    name = "toy-tags"
    classes = list(CLASSES)

    def __init__(self, grid: dict, seed: int, scenes: int, clips: int) -> None:
        self.grid, self.seed, self.scenes, self.clips = grid, seed, scenes, clips
        self.batch = self._draw()

    @property
    def version(self) -> str:
        spec = [self.grid, self.seed, self.scenes, self.clips, 1]
        return hashlib.sha1(json.dumps(spec, default=list).encode()).hexdigest()[:12]

    @property
    def provenance(self) -> Provenance:
        return Provenance("synthetic", "", 0, "perloc_toy_task (in memory)")

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "n_scenes": self.scenes * len(
                    self.grid["noise"])}

    def splits(self) -> dict[str, int]:
        return {"test": len(self.batch)}

    def _draw(self) -> Batch:
        rng = np.random.default_rng([self.seed, 7])
        events, xs, noise, scene = [], [], [], []
        for level in self.grid["noise"]:
            for s in range(self.scenes):
                for _ in range(self.clips):
                    labels = rng.integers(0, K, size=rng.integers(0, 4))
                    events.append(np.sort(labels))
                    xs.append(np.bincount(labels, minlength=K) + rng.normal(0, SIGMA[level], K))
                    noise.append(level)
                    scene.append(f"{level}-{s}")
        return Batch({"x": np.array(xs), "events": ragged(events)},
                     {"noise": np.array(noise), "scene": np.array(scene)})

    def batches(self, split: str, batch_size: int, *, where=None, limit=None):
        yield from self.batch.chunks(batch_size, limit)


def make_dataset(request: DataRequest) -> ToyTags:
    sizes = request.profile.dataset
    return ToyTags(request.grid, request.seed, sizes["scenes"], sizes["clips"])


TASKS.add("toy-tags", TaskSpec(
    name="toy-tags",
    description="Test-only plug-in task: ragged event lists per clip",
    dataset="toy-tags",
    metrics=METRICS,
    primary="macro_f1",
    default_methods=("toy-round", "toy-first"),
    profiles={
        "smoke": Profile("smoke", "2 noise levels x 8 scenes x 12 clips",
                         grid={"noise": ("low", "high")},
                         dataset={"scenes": 8, "clips": 12}, batch_size=32, bootstrap=200),
        "default": Profile("default", "2 noise levels x 30 scenes x 20 clips",
                           grid={"noise": ("low", "high")},
                           dataset={"scenes": 30, "clips": 20}, batch_size=64, bootstrap=500),
    },
    tolerances={"macro_f1": 1.0, "class_acc": 1.0, "clip_recall": 1.0},
    make_dataset=make_dataset,
    target="events",
    slice_by=("noise",),
    headline=("macro_f1", "class_acc"),
    resampling_unit="scene",
    resampling_note="the clips of one scene are drawn together",
    example_unit="clip",
    inputs=("x",),
    prediction_format=ListColumn(),
))


def ragged(lists) -> np.ndarray:
    """A list of 1-D integer arrays of different lengths as one object array [B]."""
    out = np.empty(len(lists), dtype=object)
    for i, items in enumerate(lists):
        out[i] = np.asarray(items, dtype=np.int64)
    return out


@dataclass(frozen=True)
class ToyParams:
    """bias: added to x before rounding to an event count per class (toy-round only)."""

    bias: float = 0.0


class ToyRound:
    """Events = round(x + bias) copies of each class (clipped to 0..3)."""

    card = MethodCard("toy-round", "toy-tags", "classical", ToyParams,
                      reference="test fixture", summary="round the noisy counts")

    def __init__(self, params: ToyParams = ToyParams()) -> None:
        self.params = params

    def predict(self, batch: Batch) -> Batch:
        n = np.clip(np.rint(np.asarray(batch["x"]) + self.params.bias), 0, 3).astype(int)
        return Batch({"events": ragged([np.repeat(np.arange(K), row) for row in n])},
                     dict(batch.meta))


class ToyFirst(ToyRound):
    """One event: the class with the largest x (a weaker baseline)."""

    card = MethodCard("toy-first", "toy-tags", "classical", ToyParams,
                      reference="test fixture", summary="the loudest class only")

    def predict(self, batch: Batch) -> Batch:
        top = np.argmax(np.asarray(batch["x"]), axis=1)
        return Batch({"events": ragged([[c] for c in top])}, dict(batch.meta))


METHODS.add("toy-round", ToyRound)
METHODS.add("toy-first", ToyFirst)
