"""Train learned methods on demand: a cached checkpoint per (method, params, data, profile, seed)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.task import DataRequest, Profile, TaskSpec
from perloc.bench.workspace import Workspace
from perloc.methods.training import TRAINING_VERSION, load_checkpoint

RECIPE_KEYS = ("epochs", "steps_per_epoch", "batch_size", "lr")


def recipe_for(profile: Profile, method: str) -> dict:
    """The profile's training recipe with the method's own overrides (``per_method``)."""
    merged = {k: v for k, v in profile.train.items() if k != "per_method"}
    merged.update(profile.train.get("per_method", {}).get(method, {}))
    return merged


def checkpoint_path(workspace: Workspace, task: str, method: str, params: dict, data_version: str,
                    profile: Profile, seed: int) -> Path:
    recipe = {k: recipe_for(profile, method).get(k) for k in RECIPE_KEYS}
    blob = json.dumps([TRAINING_VERSION, task, method, params, data_version, profile.name, seed,
                       recipe],
                      sort_keys=True, default=str)
    key = hashlib.sha1(blob.encode()).hexdigest()[:12]
    return workspace.results / "checkpoints" / task / f"{method}-{profile.name}-s{seed}-{key}.pt"


def ensure_fitted(method, task: TaskSpec, profile: Profile, seed: int, params: dict, *,
                  data_root: Path | None, workspace: Workspace, progress: bool,
                  say: Callable[[str], None]) -> tuple[float, dict[str, list[float]], Path]:
    """Load the method's cached checkpoint, or train it (resuming a partial run).

    Returns (fit seconds, training curves, checkpoint path).
    """
    if task.make_training is None:
        raise UserError(f"task {task.name} has no training data for learned methods")
    recipe = recipe_for(profile, method.card.name)
    missing = [k for k in RECIPE_KEYS if k not in recipe]
    if missing:
        raise UserError(f"profile {profile.name} of {task.name} defines no training recipe "
                        f"({', '.join(missing)})")
    training = task.make_training(DataRequest(profile, seed, {}, data_root, workspace.cache,
                                              progress))
    path = checkpoint_path(workspace, task.name, method.card.name, params, training.version,
                           profile, seed)
    cached = load_checkpoint(path)
    if cached is not None and cached["complete"]:
        say(f"{method.card.name}: using cached checkpoint {path.name}")
    else:
        say(f"{method.card.name}: training ({profile.name} profile, "
            f"{recipe['epochs']} epochs) -> {path.name}")
    start = time.perf_counter()
    ctx = FitContext(checkpoint=path, seed=seed, progress=progress, say=say,
                     **{k: recipe[k] for k in RECIPE_KEYS})
    history = method.fit(training, ctx)
    seconds = 0.0 if cached and cached["complete"] else time.perf_counter() - start
    return seconds, history, path
