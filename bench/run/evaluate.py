"""The runner: evaluate one method on one task under one profile and seed -> RunRecord."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import subprocess
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.progress import progress_bar
from perloc.bench.core.record import RunRecord
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.core.task import DataRequest, Profile, TaskSpec
from perloc.bench.report.base import RunContext
from perloc.bench.run.scoring import SCORING_VERSION, RunStats, score_run
from perloc.bench.run.training import build_method, ensure_fitted, recipe_for, resolve_params
from perloc.bench.store.workspace import Workspace

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


def prepare_dataset(task: TaskSpec, profile: str, seed: int, where: dict, *,
                    data_root: Path | None, workspace: Workspace, progress: bool = False):
    """The task's dataset for this profile and selection (stand-in generated when needed)."""
    spec = task.profile(profile)
    grid = task.select_grid(spec, where)
    request = DataRequest(spec, seed, grid, data_root, workspace.cache, progress)
    return task.make_dataset(request)


def run_key(task: str, method: str, params: dict, profile: str, seed: int, where: dict,
            dataset_version: str, recipe: dict, *extra) -> str:
    """A record's identity: everything its scores depend on (``extra``: e.g. the digest of an
    external predictions file, or the device kind and precision of a cell not run on the CPU
    in fp32). Computed once, when a cell is planned."""
    blob = json.dumps([task, method, params, profile, seed, where, dataset_version, recipe,
                       SCORING_VERSION, *extra],
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _recipe(cls, spec: Profile) -> dict:
    return recipe_for(spec, cls.card.name) if cls.card.kind == "learned" else {}


def expected_key(task: TaskSpec, method: str, profile: str, seed: int, where: dict,
                 dataset_version: str, overrides: dict | None = None,
                 placement: device.Placement | None = None) -> str:
    """The record key a run would get under ``placement`` (default: the current one), so a
    stored record can be reused without running."""
    cls = METHODS.get(method)
    spec = task.profile(profile)
    params = resolve_params(cls, spec, overrides)
    parts = (placement or device.placement()).key_parts() if cls.card.kind != "external" else ()
    return run_key(task.name, cls.card.name, dataclasses.asdict(params), profile, seed,
                   {k: list(v) for k, v in where.items()}, dataset_version, _recipe(cls, spec),
                   *parts)


def _failed_rows(predicted) -> np.ndarray:
    """Rows whose estimate is NaN or Inf (a method's way of saying it failed)."""
    values = np.asarray(predicted)
    if values.dtype == object or not np.issubdtype(values.dtype, np.number):
        return np.zeros(len(values), dtype=bool)
    return ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)


def _score_batches(method, dataset, task: TaskSpec, batch_size: int, collectors: list,
                   progress: bool = False) -> tuple[RunStats, float]:
    """Predict the test split batch by batch; each batch updates the metric state and the
    reports' collectors, then is dropped. Rows a method does not accept (its
    ``accepts(batch)`` mask, e.g. a setup it cannot solve) are left out."""
    stats, seconds = RunStats(task.metrics, task.target), 0.0
    batches = progress_bar(dataset.batches("test", batch_size),
                           desc=f"evaluating {method.card.name}", unit="batch",
                           enabled=progress, leave=False)
    accepts = getattr(method, "accepts", None)
    for batch in batches:
        if accepts is not None:
            batch = batch.take(np.flatnonzero(accepts(batch)))
            if len(batch) == 0:
                continue
        start = time.perf_counter()
        with device.checked():
            pred = method.predict(batch)
        seconds += time.perf_counter() - start
        stats.update(pred, batch, _failed_rows(pred[task.target]))
        for collector in collectors:
            collector.update(pred, batch)
    if not stats.failed:
        raise UserError(f"{method.card.name} accepts none of the selected conditions")
    return stats, seconds


def _score_record(record: RunRecord, task: TaskSpec, spec: Profile, card, stats: RunStats,
                  collectors: dict, seed: int) -> None:
    rows, meta, failed = stats.arrays()
    record.n_examples = len(failed)
    record.failed_examples = int(failed.sum())
    if record.failed_examples and "may_fail" not in card.capabilities:
        record.status = "failed"
        record.reason = f"{record.failed_examples} predictions are NaN or Inf"
        return
    scored = score_run(task.metrics, rows, meta, slice_by=task.slice_by,
                       unit=task.resampling_unit, n_resamples=spec.bootstrap, seed=seed,
                       failed=failed, grid=tuple(spec.grid), interval=task.interval)
    record.scores, record.slices = scored.scores, scored.slices
    record.failures, record.excluded_cells = scored.failures, scored.excluded_cells
    record.resampling_unit = task.resampling_unit
    record.extras.update({name: c.compute() for name, c in collectors.items()})


def score_model(model, task: TaskSpec, profile: str, seed: int, where: dict, *, dataset,
                params: dict, key: str, overrides: dict | None = None,
                progress: bool = False) -> RunRecord:
    """Predict the test split with a ready ``model`` (fitted, loaded, or external predictions)
    and build its scored record under ``key`` (see :func:`run_key`)."""
    spec = task.profile(profile)
    context = RunContext(task, dataset, model)
    collectors = {r.name: c for r in task.reports if (c := r.collector(context)) is not None}
    stats, predict_s = _score_batches(model, dataset, task, spec.batch_size,
                                      list(collectors.values()), progress)
    record = RunRecord(
        task=task.name, method=model.card.name, profile=profile, seed=seed,
        dataset=dataset.describe(), params=params, overrides=dict(overrides or {}),
        where={k: list(v) for k, v in where.items()}, git_sha=git_sha(),
        packages=package_versions(), device=device.describe(),
        created_at=dt.datetime.now(dt.UTC).isoformat(),
        origin="external" if model.card.kind == "external" else "harness",
    )
    record.key = key
    _score_record(record, task, spec, model.card, stats, collectors, seed)
    for report in task.reports:
        record.extras.update({report.name: m} if (m := report.measure(model)) else {})
    record.durations = {"predict_s": predict_s}
    record.throughput = {"examples_per_s": record.n_examples / max(predict_s, 1e-9)}
    return record


def evaluate(task: TaskSpec | str, method: str, profile: str = "default", seed: int = 0,
             where: dict | None = None, *, data_root: Path | None = None,
             overrides: dict | None = None, workspace: Workspace | None = None,
             dataset=None, key: str | None = None, progress: bool = False,
             say=None) -> RunRecord:
    """Run ``method`` on the test split of ``task`` and score it overall and per slice, on the
    current device placement (:func:`perloc.bench.core.device.using`); ``key`` is the planned
    run key (computed here when the caller has none)."""
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
                                      say=say or (lambda _: None), where=where)
    key = key or expected_key(task, method, profile, seed, where, dataset.version, overrides)
    record = score_model(model, task, profile, seed, where, dataset=dataset,
                         params=dataclasses.asdict(params), key=key, overrides=overrides,
                         progress=progress)
    if series:  # the x axis of the curves: optimiser steps per validation point
        series = {**series, "steps_per_epoch": [recipe_for(spec, cls.card.name)["steps_per_epoch"]]}
    record.series = series
    record.durations = {"fit_s": fit_s, "predict_s": record.durations["predict_s"],
                        "total_s": time.perf_counter() - started}
    return record
