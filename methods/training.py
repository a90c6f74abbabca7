"""A small supervised training loop shared by the learned methods.

By default (``Optimization()``): Adam (AdamW with weight decay 0) and cosine learning-rate
decay stepped once per epoch. A method may ask for more (``Optimization``): decoupled weight
decay with exclusions (AdamW, w <- w - lr * wd * w), a per-step schedule (warm-up times
cosine, lr(t) = peak * min(1, t / W) * (1 + cos(pi t / T)) / 2, or piecewise constant), bf16
autocast with fp32 master weights, and a validation score that is maximised. The best epoch
is kept, and a checkpoint is written after every epoch so an interrupted run resumes where it
stopped. Randomness is derived from (seed, epoch), so a resumed run draws the same batches as
an uninterrupted one.

Device: batches are made on the CPU by the method's ``make_batch`` and moved by the loop
(:func:`perloc.bench.core.device.place`) to the cell's device. On CUDA they are made one step
ahead on a background thread into pinned memory (the copy then overlaps the step); the model
draws its own randomness from the CUDA generator there, so the thread's CPU draws keep their
order and a run stays reproducible. The autocast precision is the method's own (its
``Optimization``), else the cell's ``--amp``; fp16 adds a gradient scaler. With ``--compile``
the training steps call ``torch.compile(model)`` (same parameters; validation and
prediction stay eager).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from perloc.bench.core import device
from perloc.bench.core.progress import progress_bar
from perloc.bench.core.protocols import RECIPE_KEYS, FitContext

CHECKPOINT_VERSION = 1
TRAINING_VERSION = 3  # bump when a change alters what training produces: old checkpoints retire


@dataclass(frozen=True)
class Optimization:
    """How ``train`` optimises; the defaults are the loop's original recipe.

    * ``optimizer``: ``adamw`` (decoupled weight decay), ``adam`` or ``sgd`` (coupled L2 and
      ``momentum``, as DIP trains); ``betas``/``eps`` for the Adam family.
    * ``weight_decay`` applies to every parameter except those whose name contains one of
      ``no_decay`` (e.g. ``bias``, ``norm``, ``pos``) and, with ``no_decay_1d``, every
      parameter with at most one dimension (biases, norm scales, learned tokens: timm's rule).
    * ``schedule``: ``epoch-cosine`` (cosine over epochs, stepped per epoch),
      ``warmup-cosine`` (per step: peak * min(1, t / warmup_steps) * (1 + cos(pi t / T)) / 2,
      T = epochs * steps_per_epoch) or ``piecewise`` (per step: ``pieces`` = ((fraction of
      T, lr factor), ...), each factor held for its fraction of the steps).
    * ``autocast``: ``bf16`` (or ``fp16``, with a gradient scaler) runs forward and loss
      under autocast on the cell's device (weights and optimizer state stay fp32); ``None``
      leaves the precision to the cell's ``--amp`` (fp32 by default).
    * ``maximize``: the validation ``score_key`` is better when higher (accuracy).
    * ``keep_last``: the final epoch's weights are kept whatever validation says (Paper VI:
      "no cherry picking"); validation then only draws the curve.
    """

    optimizer: str = "adamw"
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    no_decay: tuple[str, ...] = ()
    no_decay_1d: bool = False
    schedule: str = "epoch-cosine"
    warmup_steps: int = 0
    pieces: tuple[tuple[float, float], ...] = ()
    autocast: str | None = None
    maximize: bool = False
    keep_last: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "adam", "sgd"):
            raise ValueError(f"optimizer must be adamw, adam or sgd, got {self.optimizer!r}")
        if self.schedule not in ("epoch-cosine", "warmup-cosine", "piecewise"):
            raise ValueError(f"unknown schedule {self.schedule!r}")
        if self.autocast not in (None, "bf16", "fp16"):
            raise ValueError(f"autocast must be None, 'bf16' or 'fp16', got {self.autocast!r}")
        if self.schedule == "piecewise" and not self.pieces:
            raise ValueError("a piecewise schedule needs pieces")


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor min(1, t / W) * (1 + cos(pi t / T)) / 2 (0 at t = 0 and t = T)."""
    ramp = min(1.0, step / warmup) if warmup > 0 else 1.0
    return ramp * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def piecewise(step: int, total: int, pieces: tuple[tuple[float, float], ...]) -> float:
    """The factor of the piece that ``step`` falls in (pieces given as fractions of ``total``)."""
    edge = 0.0
    for fraction, factor in pieces:
        edge += fraction * total
        if step < edge:
            return factor
    return pieces[-1][1]


def _parameter_groups(model: torch.nn.Module, opt: Optimization) -> list[dict]:
    if not opt.weight_decay:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    decay, keep = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            exempt = any(tag in name for tag in opt.no_decay) or (opt.no_decay_1d
                                                                  and param.ndim <= 1)
            (keep if exempt else decay).append(param)
    return [{"params": decay, "weight_decay": opt.weight_decay},
            {"params": keep, "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, ctx: FitContext, opt: Optimization):
    """(optimizer, scheduler, stepped per 'epoch' or per 'step') for ``opt``."""
    groups = _parameter_groups(model, opt)
    if opt.optimizer == "adam":
        optimizer = torch.optim.Adam(groups, lr=ctx.lr, betas=opt.betas, eps=opt.eps)
    elif opt.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=ctx.lr, momentum=opt.momentum)
    else:
        optimizer = torch.optim.AdamW(groups, lr=ctx.lr, betas=opt.betas, eps=opt.eps,
                                      weight_decay=0.0)
    if opt.schedule == "epoch-cosine":
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(ctx.epochs, 1)), "epoch"
    total = ctx.epochs * ctx.steps_per_epoch
    if opt.schedule == "warmup-cosine":
        factor = lambda t: warmup_cosine(t, opt.warmup_steps, total)  # noqa: E731
    else:
        factor = lambda t: piecewise(t, total, opt.pieces)  # noqa: E731
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"


def stage_context(ctx: FitContext, option: str, prefix: str, version: int, key: list
                  ) -> FitContext:
    """The FitContext of a training stage a method runs inside its own ``fit`` (a frozen
    front end's pre-training): the profile's ``option`` recipe (its RECIPE_KEYS) over the
    caller's, and a checkpoint beside the caller's, ``<prefix>-<hash>.pt``, keyed by
    TRAINING_VERSION, the stage's ``version``, ``key`` (its configuration and data version),
    the seed and that recipe, so methods with the same stage share one training."""
    own = ctx.options.get(option)
    if own:
        ctx = dataclasses.replace(ctx, **{k: own[k] for k in RECIPE_KEYS if k in own})
    recipe = [getattr(ctx, k) for k in RECIPE_KEYS]
    blob = json.dumps([TRAINING_VERSION, version, *key, ctx.seed, recipe,
                       *device.placement().key_parts()], sort_keys=True)
    name = f"{prefix}-{hashlib.sha1(blob.encode()).hexdigest()[:12]}.pt"
    return dataclasses.replace(ctx, checkpoint=Path(ctx.checkpoint).parent / name)


def weights_digest(module: torch.nn.Module) -> str:
    """BLAKE2b digest (16 hex) of a module's state: parameter and buffer names and bytes (the
    key of caches that hold a frozen module's outputs)."""
    h = hashlib.blake2b(digest_size=8)
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(device.host(value).tobytes())
    return h.hexdigest()


def precision(opt: Optimization) -> str:
    """The autocast precision of a training step: the method's own, else the cell's ``--amp``."""
    return opt.autocast or device.placement().amp


def autocast_context(opt: Optimization):
    """Autocast on the cell's device at :func:`precision` (fp32: no autocast)."""
    return device.autocast(precision(opt))


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


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write a checkpoint atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint dict, or None when absent. Loaded with ``weights_only=True``."""
    if not Path(path).exists():
        return None
    try:
        payload = torch.load(path, map_location=device.current(), weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        logging.getLogger(__name__).warning("%s: unreadable checkpoint (%s); training again",
                                            path, str(exc).split(". ")[0])
        return None  # the harness's own cache: a broken one is rebuilt, not an input error
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        return None
    return payload


def train(
    model: torch.nn.Module,
    ctx: FitContext,
    make_batch: Callable[[np.random.Generator], tuple[Any, Any]],
    step_loss: Callable[[torch.nn.Module, Any, Any], torch.Tensor],
    validate: Callable[[torch.nn.Module], dict[str, float]],
    score_key: str,
    optimization: Optimization = Optimization(),
) -> TrainingState:
    """Train ``model`` (already on the cell's device) for ``ctx.epochs`` and leave the best
    validation weights loaded. ``make_batch`` returns CPU tensors (or nested tuples / lists /
    dicts of them); ``step_loss`` receives them on the cell's device."""
    optimizer, schedule, per = make_optimizer(model, ctx, optimization)
    scaler = device.grad_scaler(precision(optimization))
    stepped = torch.compile(model) if device.placement().compile else model
    state = _resume(model, optimizer, schedule, scaler, ctx)
    sign = -1.0 if optimization.maximize else 1.0
    while state.epoch < ctx.epochs and not state.complete:
        _run_epoch(stepped, optimizer, ctx, make_batch, step_loss, state,
                   schedule if per == "step" else None, optimization, scaler)
        if per == "epoch":
            with device.unchecked():
                schedule.step()
        scores = validate(model)
        for name, value in scores.items():
            state.history.setdefault(f"val_{name}", []).append(float(value))
            if ctx.log:
                ctx.log(f"val_{name}", float(value), state.epoch + 1)
        if sign * scores[score_key] < state.best_score:
            state.best_score = sign * float(scores[score_key])
            state.best_state = copy.deepcopy(model.state_dict())
        state.epoch += 1
        state.complete = state.epoch >= ctx.epochs
        save_checkpoint(Path(ctx.checkpoint), _payload(model, optimizer, schedule, scaler, state))
        if ctx.say:
            ctx.say(f"  epoch {state.epoch}/{ctx.epochs}: " +
                    ", ".join(f"val {k} {v:.3f}" for k, v in scores.items()))
    if state.best_state is not None and not optimization.keep_last:
        model.load_state_dict(state.best_state)
    model.eval()
    return state


def _payload(model, optimizer, schedule, scaler, state: TrainingState) -> dict:
    return {"version": CHECKPOINT_VERSION, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "epoch": state.epoch, "best_score": state.best_score, "best_state": state.best_state,
            "history": state.history, "complete": state.complete,
            **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {})}


def _resume(model, optimizer, schedule, scaler, ctx: FitContext) -> TrainingState:
    payload = load_checkpoint(Path(ctx.checkpoint))
    if payload is None:
        return TrainingState()
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    schedule.load_state_dict(payload["schedule"])
    if scaler.is_enabled() and "scaler" in payload:
        scaler.load_state_dict(payload["scaler"])
    if ctx.say and not payload["complete"]:
        ctx.say(f"  resuming from {ctx.checkpoint} after epoch {payload['epoch']}")
    return TrainingState(payload["epoch"], payload["best_score"], payload["best_state"],
                         payload["history"], payload["complete"])


def placed_batches(make_batch: Callable[[np.random.Generator], Any], rng: np.random.Generator,
                   steps: int) -> Iterator[Any]:
    """``steps`` batches of ``make_batch(rng)``, in order, on the cell's device. On CUDA a
    background thread makes each batch while the previous step runs and pins it, so the
    copy to the device does not block; elsewhere they are made in turn, in this thread."""
    if device.placement().kind != "cuda":
        for _ in range(steps):
            yield device.place(make_batch(rng))
        return
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: tuple) -> None:  # gives up once the training thread has stopped
        while not stop.is_set():
            try:
                return ready.put(item, timeout=0.1)
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for _ in range(steps):
                offer(("batch", device.pinned(make_batch(rng))))
        except BaseException as exc:  # noqa: BLE001  (handed to the training thread)
            offer(("error", exc))

    worker = threading.Thread(target=produce, name="perloc-batches", daemon=True)
    worker.start()
    try:
        for _ in range(steps):
            kind, item = ready.get()
            if kind == "error":
                raise item
            yield device.place(item)
    finally:
        stop.set()
        worker.join(timeout=5)


def optimizer_step(optimizer, loss: torch.Tensor, scaler) -> None:
    """One optimiser step on ``loss``: fresh gradients (scaled by ``scaler`` for fp16), the
    step, the scaler's update; outside the wrong-device check (PyTorch makes its own state)."""
    with device.unchecked():
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def _run_epoch(model, optimizer, ctx: FitContext, make_batch, step_loss, state,
               step_schedule, optimization: Optimization, scaler) -> None:
    rng = np.random.default_rng([ctx.seed, 21, state.epoch])
    torch.manual_seed(ctx.seed * 100_003 + state.epoch)
    model.train()
    losses = []  # on the device: read back once per epoch (and every 20th step for the bar)
    bar = progress_bar(placed_batches(make_batch, rng, ctx.steps_per_epoch),
                       total=ctx.steps_per_epoch, desc=f"epoch {state.epoch + 1}/{ctx.epochs}",
                       unit="step", enabled=ctx.progress, leave=False)
    for inputs, targets in bar:
        with autocast_context(optimization):
            loss = step_loss(model, inputs, targets)
        optimizer_step(optimizer, loss, scaler)
        if step_schedule is not None:
            with device.unchecked():
                step_schedule.step()
        losses.append(loss.detach().float())
        if len(losses) % 20 == 1:
            bar.set_postfix(loss=f"{float(losses[-1]):.3f}")
    values = device.host(torch.stack(losses)).astype(np.float64) if losses else np.array([np.nan])
    mean = float(values.mean())
    state.history.setdefault("train_loss", []).append(mean)
    if ctx.log:
        ctx.log("train_loss", mean, state.epoch + 1)
