"""A small supervised training loop shared by the learned methods.

Adam (AdamW with weight decay 0), cosine learning-rate decay stepped once per epoch, the
best epoch (lowest validation score) kept, and a checkpoint after every epoch so an
interrupted run resumes where it stopped. Randomness is derived from (seed, epoch), so a
resumed run draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from perloc.bench.core.protocols import FitContext

CHECKPOINT_VERSION = 1
TRAINING_VERSION = 2  # bump when a change alters what training produces: old checkpoints retire


class ModelState:
    """``state_dict`` / ``load_state_dict`` of ``self.model`` for methods built on one module
    (loading leaves the model in eval mode)."""

    model: torch.nn.Module

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
        self.model.eval()


@dataclass
class TrainingState:
    epoch: int = 0  # epochs completed
    best_score: float = float("inf")
    best_state: dict | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    complete: bool = False


def _save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint dict, or None when absent. Loaded with ``weights_only=True``."""
    if not Path(path).exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("version") != CHECKPOINT_VERSION:
        return None
    return payload


def train(
    model: torch.nn.Module,
    ctx: FitContext,
    make_batch: Callable[[np.random.Generator], tuple[Any, Any]],
    step_loss: Callable[[torch.nn.Module, Any, Any], torch.Tensor],
    validate: Callable[[torch.nn.Module], dict[str, float]],
    score_key: str,
) -> TrainingState:
    """Train ``model`` for ``ctx.epochs`` and leave the best validation weights loaded."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=ctx.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(ctx.epochs, 1))
    state = _resume(model, optimizer, schedule, ctx)
    while state.epoch < ctx.epochs and not state.complete:
        _run_epoch(model, optimizer, ctx, make_batch, step_loss, state)
        schedule.step()
        scores = validate(model)
        for name, value in scores.items():
            state.history.setdefault(f"val_{name}", []).append(float(value))
            if ctx.log:
                ctx.log(f"val_{name}", float(value), state.epoch + 1)
        if scores[score_key] < state.best_score:
            state.best_score = float(scores[score_key])
            state.best_state = copy.deepcopy(model.state_dict())
        state.epoch += 1
        state.complete = state.epoch >= ctx.epochs
        _save(Path(ctx.checkpoint), _payload(model, optimizer, schedule, state))
        if ctx.say:
            ctx.say(f"  epoch {state.epoch}/{ctx.epochs}: " +
                    ", ".join(f"val {k} {v:.3f}" for k, v in scores.items()))
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    return state


def _payload(model, optimizer, schedule, state: TrainingState) -> dict:
    return {"version": CHECKPOINT_VERSION, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "epoch": state.epoch, "best_score": state.best_score, "best_state": state.best_state,
            "history": state.history, "complete": state.complete}


def _resume(model, optimizer, schedule, ctx: FitContext) -> TrainingState:
    payload = load_checkpoint(Path(ctx.checkpoint))
    if payload is None:
        return TrainingState()
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    schedule.load_state_dict(payload["schedule"])
    if ctx.say and not payload["complete"]:
        ctx.say(f"  resuming from {ctx.checkpoint} after epoch {payload['epoch']}")
    return TrainingState(payload["epoch"], payload["best_score"], payload["best_state"],
                         payload["history"], payload["complete"])


def _run_epoch(model, optimizer, ctx: FitContext, make_batch, step_loss, state) -> None:
    rng = np.random.default_rng([ctx.seed, 21, state.epoch])
    torch.manual_seed(ctx.seed * 100_003 + state.epoch)
    model.train()
    losses = []
    bar = tqdm(range(ctx.steps_per_epoch), desc=f"epoch {state.epoch + 1}/{ctx.epochs}",
               disable=not ctx.progress, leave=False)
    for _ in bar:
        inputs, targets = make_batch(rng)
        loss = step_loss(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    state.history.setdefault("train_loss", []).append(float(np.mean(losses)))
    if ctx.log:
        ctx.log("train_loss", float(np.mean(losses)), state.epoch + 1)
