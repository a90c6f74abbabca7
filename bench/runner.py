"""The runner: evaluate one method on one task under one profile and seed -> RunRecord."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.core.task import DataRequest, Profile, TaskSpec
from perloc.bench.efficiency import measure
from perloc.bench.fitting import build_method, ensure_fitted, recipe_for, resolve_params
from perloc.bench.scoring import TARGET, error_percentiles, score_run
from perloc.bench.workspace import Workspace
from perloc.metrics.classification import confusion_counts

log = logging.getLogger(__name__)
PACKAGES = ("perloc", "numpy", "scipy", "torch", "pyroomacoustics", "soundfile", "h5py")


def git_sha(where: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, cwd=where, timeout=5, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def device_info() -> dict[str, Any]:
    import torch

    return {"kind": "cpu", "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "machine": platform.machine()}


def prepare_dataset(task: TaskSpec, profile: str, seed: int, where: dict, *,
                    data_root: Path | None, workspace: Workspace, progress: bool = False):
    """The task's dataset for this profile and selection (stand-in generated when needed)."""
    spec = task.profile(profile)
    grid = task.select_grid(spec, where)
    request = DataRequest(spec, seed, grid, data_root, workspace.cache, progress)
    return task.make_dataset(request)


def _run_key(task: str, method: str, params: dict, profile: str, seed: int, where: dict,
             dataset_version: str, recipe: dict) -> str:
    blob = json.dumps([task, method, params, profile, seed, where, dataset_version, recipe],
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _recipe(cls, spec: Profile) -> dict:
    return recipe_for(spec, cls.card.name) if cls.card.kind == "learned" else {}


def expected_key(task: TaskSpec, method: str, profile: str, seed: int, where: dict,
                 dataset_version: str, overrides: dict | None = None) -> str:
    """The record key a run would get, so a stored record can be reused without running."""
    cls = METHODS.get(method)
    spec = task.profile(profile)
    params = resolve_params(cls, spec, overrides)
    return _run_key(task.name, cls.card.name, dataclasses.asdict(params), profile, seed,
                    {k: list(v) for k, v in where.items()}, dataset_version, _recipe(cls, spec))


def _truth_columns(task: TaskSpec) -> tuple[str, ...]:
    """The target plus the truth columns that metrics name."""
    return (task.target, *sorted({c.columns[1] for c in task.metrics if c.columns}))


def _columns(data: Batch, task: TaskSpec, which: int) -> dict[str, np.ndarray]:
    """The target (under scoring's key) and the metric columns present in ``data``."""
    out = {TARGET: np.asarray(data[task.target], dtype=np.float64)}
    out.update({c.columns[which]: np.asarray(data[c.columns[which]], dtype=np.float64)
                for c in task.metrics if c.columns and c.columns[which] in data})
    return out


def _predict_all(method, dataset, batch_size: int, target: tuple[str, ...],
                 progress: bool = False) -> tuple[Batch, Batch, float]:
    """Predictions and targets over the test split; rows a method does not accept (its
    ``accepts(batch)`` mask, e.g. a setup it cannot solve) are left out of both."""
    preds, truths, seconds = [], [], 0.0
    batches = tqdm(dataset.batches("test", batch_size), desc=f"evaluating {method.card.name}",
                   unit="batch", disable=not progress, leave=False)
    accepts = getattr(method, "accepts", None)
    for batch in batches:
        if accepts is not None:
            batch = batch.take(np.flatnonzero(accepts(batch)))
            if len(batch) == 0:
                continue
        start = time.perf_counter()
        preds.append(method.predict(batch))
        seconds += time.perf_counter() - start
        truths.append(Batch({name: batch[name] for name in target if name in batch}, batch.meta))
    if not truths:
        raise UserError(f"{method.card.name} accepts none of the selected conditions")
    return Batch.concat(preds), Batch.concat(truths), seconds


def _confusion(dataset, predicted: np.ndarray, true: np.ndarray) -> dict:
    classes = list(dataset.classes)
    counts = confusion_counts(predicted.astype(np.int64), true.astype(np.int64), len(classes))
    return {"classes": classes, "counts": counts.tolist()}


def _failures(card, predicted: np.ndarray) -> tuple[int, str]:
    """(examples with a failed estimate, reason to fail the run or '')."""
    bad = ~np.isfinite(predicted.reshape(len(predicted), -1)).all(axis=1)
    if not bad.any():
        return 0, ""
    if "may_fail" in card.capabilities:
        return int(bad.sum()), ""
    return int(bad.sum()), f"{int(bad.sum())} predictions are NaN or Inf"


def evaluate(task: TaskSpec | str, method: str, profile: str = "default", seed: int = 0,
             where: dict | None = None, *, data_root: Path | None = None,
             overrides: dict | None = None, workspace: Workspace | None = None,
             dataset=None, progress: bool = False, say=None) -> RunRecord:
    """Run ``method`` on the test split of ``task`` and score it overall and per slice."""
    task = TASKS.get(task) if isinstance(task, str) else task
    workspace = workspace or Workspace.from_env()
    where = dict(where or {})
    spec = task.profile(profile)
    cls = METHODS.get(method)
    task.check_method(cls.card)
    params = resolve_params(cls, spec, overrides)
    if spec.torch_threads:
        import torch

        torch.set_num_threads(spec.torch_threads)
    started = time.perf_counter()
    dataset = dataset or prepare_dataset(task, profile, seed, where, data_root=data_root,
                                         workspace=workspace, progress=progress)
    model = build_method(cls, params, seed)
    fit_s, series = 0.0, {}
    if cls.card.kind == "learned":
        fit_s, series, _ = ensure_fitted(model, task, spec, seed, dataclasses.asdict(params),
                                      data_root=data_root, workspace=workspace, progress=progress,
                                      say=say or (lambda _: None))
    pred, truth, predict_s = _predict_all(model, dataset, spec.batch_size, _truth_columns(task),
                                          progress)
    record = RunRecord(
        task=task.name, method=cls.card.name, profile=profile, seed=seed,
        dataset=dataset.describe(), params=dataclasses.asdict(params),
        overrides=dict(overrides or {}), where={k: list(v) for k, v in where.items()},
        git_sha=git_sha(), packages=package_versions(), device=device_info(),
        n_examples=len(truth), created_at=dt.datetime.now(dt.UTC).isoformat(), series=series,
    )
    record.key = _run_key(task.name, record.method, record.params, profile, seed, record.where,
                          dataset.version, _recipe(cls, spec))
    predicted = np.asarray(pred[task.target], dtype=np.float64)
    record.failed_examples, reason = _failures(cls.card, predicted)
    if reason:
        record.status, record.reason = "failed", reason
    else:
        record.scores, record.slices = score_run(
            task.metrics, _columns(pred, task, 0), _columns(truth, task, 1), truth.meta,
            task.slice_by, spec.bootstrap, seed)
        if task.error_cdf:
            record.quantiles = error_percentiles(task, predicted, np.asarray(truth[task.target]),
                                                 truth.meta)
        if task.confusion:
            record.confusion = _confusion(dataset, predicted, np.asarray(truth[task.target]))
    if task.efficiency:
        record.efficiency = measure(model)
    record.durations = {"fit_s": fit_s, "predict_s": predict_s,
                        "total_s": time.perf_counter() - started}
    record.throughput = {"examples_per_s": len(truth) / max(predict_s, 1e-9)}
    return record
