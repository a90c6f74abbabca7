"""A test-only task registered from outside the harness: tagging clips with ragged event lists.

It exercises the shapes the next tasks need (SELD's event lists, ScanObjectNN's per-class
counts, 3DMatch's per-pair recall) with nothing under ``bench/`` edited: this module is loaded
as a plug-in (``-m perloc_toy_task:toy-round`` / the ``perloc.tasks`` entry point).

Each clip of a scene holds 0-3 events of 4 classes (a class may occur twice); its input ``x``
is the per-class event count plus Gaussian noise (sigma 0.25 at ``noise=low``, 0.6 at
``noise=high``). Metrics over the ragged lists (multisets of class indices):

* ``macro_f1``: per class c, TP_c = sum_i min(p_ic, t_ic), FP_c = sum_i p_ic - TP_c,
  FN_c = sum_i t_ic - TP_c (p, t: per-clip counts); F_c = 2 TP_c / (2 TP_c + FP_c + FN_c);
  the mean of F_c over classes with 2 TP_c + FP_c + FN_c > 0, in percent.
* ``class_acc``: mean over classes of (true events of c that were predicted) / (true events
  of c): the mean class accuracy of single-label data, in percent.
* ``clip_recall``: the fraction of clips with at least one event whose recall
  sum_c min(p_c, t_c) / sum_c t_c reaches 0.5 (a fraction per group, like 3DMatch's feature-
  match recall per fragment pair), in percent.

The bootstrap resamples scenes (the clips of one scene share its draw).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard, MetricCard, ratio, sum_and_count
from perloc.bench.core.predictions import ListColumn
from perloc.bench.core.protocols import Provenance
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.core.task import DataRequest, Profile, TaskSpec

CLASSES = ("dog", "car", "bell", "rain")
K = len(CLASSES)
SIGMA = {"low": 0.25, "high": 0.6}


def counts(events) -> np.ndarray:
    """Ragged event lists [B] -> per-class counts [B, K]."""
    return np.stack([np.bincount(np.asarray(e, dtype=np.int64), minlength=K)[:K]
                     for e in events])


def _tp_fp_fn(pred, truth) -> np.ndarray:
    p, t = counts(pred), counts(truth)
    tp = np.minimum(p, t)
    return np.concatenate([tp, p - tp, t - tp], axis=1)


def _macro_f1(stats: np.ndarray) -> np.ndarray:
    tp, fp, fn = stats[..., :K], stats[..., K:2 * K], stats[..., 2 * K:]
    support = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(support > 0, 2 * tp / np.maximum(support, 1e-300), np.nan)
    return 100 * np.nanmean(f, axis=-1)


def _hits_and_counts(pred, truth) -> np.ndarray:
    p, t = counts(pred), counts(truth)
    return np.concatenate([np.minimum(p, t), t], axis=1)


def _class_acc(stats: np.ndarray) -> np.ndarray:
    hits, total = stats[..., :K], stats[..., K:]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(total > 0, hits / np.maximum(total, 1e-300), np.nan)
    return 100 * np.nanmean(acc, axis=-1)


def _clip_recalled(pred, truth) -> np.ndarray:
    p, t = counts(pred), counts(truth)
    total = t.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.minimum(p, t).sum(axis=1) / total
    return np.where(total > 0, 100.0 * (recall >= 0.5), np.nan)


METRICS = (
    MetricCard("macro_f1", "%", True, update=_tp_fp_fn, compute=_macro_f1,
               stats=tuple(f"{s}_{c}" for s in ("tp", "fp", "fn") for c in CLASSES),
               description="per-class F over ragged event lists, macro mean"),
    MetricCard("class_acc", "%", True, update=_hits_and_counts, compute=_class_acc,
               stats=tuple(f"{s}_{c}" for s in ("hit", "n") for c in CLASSES),
               description="mean over classes of the fraction of true events predicted"),
    MetricCard("clip_recall", "%", True, update=lambda p, t: sum_and_count(_clip_recalled(p, t)),
               compute=ratio, description="clips whose event recall reaches 0.5"),
)


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
        ragged = np.empty(len(events), dtype=object)
        for i, e in enumerate(events):
            ragged[i] = e
        return Batch({"x": np.array(xs), "events": ragged},
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


@dataclass(frozen=True)
class RoundParams:
    """bias: added to x before rounding to an event count per class."""

    bias: float = 0.0


class ToyRound:
    """Events = round(x + bias) copies of each class (clipped at 0)."""

    card = MethodCard("toy-round", "toy-tags", "classical", RoundParams,
                      reference="test fixture", summary="round the noisy counts")

    def __init__(self, params: RoundParams = RoundParams()) -> None:
        self.params = params

    def predict(self, batch: Batch) -> Batch:
        n = np.clip(np.rint(np.asarray(batch["x"]) + self.params.bias), 0, 3).astype(int)
        events = np.empty(len(n), dtype=object)
        for i, row in enumerate(n):
            events[i] = np.repeat(np.arange(K), row)
        return Batch({"events": events}, dict(batch.meta))


@dataclass(frozen=True)
class NoParams:
    """No parameters."""


class ToyFirst:
    """One event: the class with the largest x (a weaker baseline)."""

    card = MethodCard("toy-first", "toy-tags", "classical", NoParams,
                      reference="test fixture", summary="the loudest class only")

    def __init__(self, params: NoParams = NoParams()) -> None:
        self.params = params

    def predict(self, batch: Batch) -> Batch:
        top = np.argmax(np.asarray(batch["x"]), axis=1)
        events = np.empty(len(top), dtype=object)
        for i, c in enumerate(top):
            events[i] = np.array([c])
        return Batch({"events": events}, dict(batch.meta))


METHODS.add("toy-round", ToyRound)
METHODS.add("toy-first", ToyFirst)
