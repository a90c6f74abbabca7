"""Train learned methods on demand: a cached checkpoint per (method, params, data, profile, seed)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import RECIPE_KEYS, FitContext
from perloc.bench.core.registry import METHODS
from perloc.bench.core.task import DataRequest, Profile, TaskSpec
from perloc.bench.run.params import build_params
from perloc.bench.store.workspace import Workspace
from perloc.methods.training import TRAINING_VERSION, load_checkpoint


def resolve_params(cls, spec: Profile, overrides: dict | None = None):
    """The method's parameters: card defaults, then the profile's sizes, then ``-p`` overrides."""
    return build_params(cls.card.params, {**spec.method_params.get(cls.card.name, {}),
                                          **(overrides or {})})


def build_method(cls, params, seed: int):
    """Instantiate a method; learned weights are initialised from ``seed`` (same seed, same run)."""
    if cls.card.kind != "classical":
        import torch

        torch.manual_seed(seed)
    return cls(params)


_TRAINING: dict[tuple, Any] = {}  # per process: training sets built (and checked) once


def training_selection(task: TaskSpec, profile: Profile, where: dict | None) -> dict[str, tuple]:
    """The values of the task's ``training_conditions`` a cell trains on (one each: the sweep
    splits cells by these conditions); empty for tasks whose training ignores conditions."""
    if not task.training_conditions:
        return {}
    grid = task.select_grid(profile, dict(where or {}))
    out = {}
    for name in task.training_conditions:
        values = grid.get(name, ())
        if len(values) != 1:
            raise UserError(f"task {task.name} trains one model per {name}: select one with "
                            f"-w {name}=VALUE (selected: {', '.join(map(str, values)) or 'none'})")
        out[name] = tuple(values)
    return out


def training_data(task: TaskSpec, profile: Profile, seed: int, data_root: Path | None,
                  workspace: Workspace, progress: bool = False, where: dict | None = None):
    """The task's training data for (profile, seed and the cell's training conditions), built
    once per process: the sweep planner builds it before any cell, so bad training files fail
    the command, not a cell."""
    if task.make_training is None:
        raise UserError(f"task {task.name} has no training data for learned methods")
    selection = training_selection(task, profile, where)
    key = (task.name, profile.name, seed, data_root, workspace.cache,
           tuple(sorted(selection.items())))
    if key not in _TRAINING:
        _TRAINING[key] = task.make_training(DataRequest(profile, seed, selection, data_root,
                                                        workspace.cache, progress))
    return _TRAINING[key]


def forget_training_data() -> None:
    """Drop the training sets built so far (a new command reads the files afresh)."""
    _TRAINING.clear()


def recipe_for(profile: Profile, method: str) -> dict:
    """The profile's training recipe with the method's own overrides (``per_method``)."""
    merged = {k: v for k, v in profile.train.items() if k != "per_method"}
    merged.update(profile.train.get("per_method", {}).get(method, {}))
    return merged


def checkpoint_path(workspace: Workspace, task: str, method: str, params: dict, data_version: str,
                    profile: Profile, seed: int, teachers: tuple[str, ...] = ()) -> Path:
    """Where the checkpoint of (method, params, data, profile, seed, teachers) lives; a cell
    on another device kind or precision than the CPU in fp32 trains its own."""
    recipe = recipe_for(profile, method)
    placed = list(device.placement().key_parts())
    blob = json.dumps([TRAINING_VERSION, task, method, params, data_version, profile.name, seed,
                       recipe, *([list(teachers)] if teachers else []), *placed],
                      sort_keys=True, default=str)
    key = hashlib.sha1(blob.encode()).hexdigest()[:12]
    return workspace.checkpoints / task / f"{method}-{profile.name}-s{seed}-{key}.pt"


def ensure_fitted(method, task: TaskSpec, profile: Profile, seed: int, params: dict, *,
                  data_root: Path | None, workspace: Workspace, progress: bool,
                  say: Callable[[str], None], where: dict | None = None
                  ) -> tuple[float, dict[str, list[float]], Path]:
    """Load the method's cached checkpoint, or train it (resuming a partial run). ``where``:
    the cell's selection (it picks the training data of tasks with training conditions; the
    training data's version, part of the checkpoint key, tells them apart).

    Returns (fit seconds, training curves, checkpoint path).
    """
    if task.make_training is None:
        raise UserError(f"task {task.name} has no training data for learned methods")
    recipe = recipe_for(profile, method.card.name)
    missing = [k for k in RECIPE_KEYS if k not in recipe]
    if missing:
        raise UserError(f"profile {profile.name} of {task.name} defines no training recipe "
                        f"({', '.join(missing)})")
    training = training_data(task, profile, seed, data_root, workspace, progress, where)
    teachers = _fit_teachers(method, task, profile, seed, data_root=data_root,
                             workspace=workspace, progress=progress, say=say, where=where)
    path = checkpoint_path(workspace, task.name, method.card.name, params, training.version,
                           profile, seed, teachers)
    cached = load_checkpoint(path)
    if cached is not None and cached["complete"]:
        say(f"{method.card.name}: using cached checkpoint {path.name}")
    else:
        say(f"{method.card.name}: training ({profile.name} profile, "
            f"{recipe['epochs']} epochs) -> {path.name}")
    start = time.perf_counter()
    ctx = FitContext(checkpoint=path, seed=seed, progress=progress, say=say,
                     options={k: v for k, v in recipe.items() if k not in RECIPE_KEYS},
                     **{k: recipe[k] for k in RECIPE_KEYS})
    with device.checked():
        history = method.fit(training, ctx)
    seconds = 0.0 if cached and cached["complete"] else time.perf_counter() - start
    return seconds, history, path


def _fit_teachers(method, task: TaskSpec, profile: Profile, seed: int, **kwargs) -> tuple[str, ...]:
    """Fit (or load) the methods ``method.teachers`` names, under the same profile and seed, and
    hand them over with ``method.attach_teacher``; returns their checkpoint names (the
    student's checkpoint key includes them). A teacher is the very model its own leaderboard
    row reports, as the distilled KWT uses the reported MHAtt-RNN."""
    names = []
    for name in getattr(method, "teachers", ()):
        cls = METHODS.get(name)
        params = resolve_params(cls, profile)
        teacher = build_method(cls, params, seed)
        _, _, path = ensure_fitted(teacher, task, profile, seed, dataclasses.asdict(params),
                                   **kwargs)
        method.attach_teacher(name, teacher)
        names.append(path.name)
    return tuple(names)
