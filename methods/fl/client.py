"""The federated client: LOCALUPDATE of Paper IV (spec ``kws_fl.md`` §5.2, Alg. 1) as a Flower
``ClientApp``.

On every training message the client hard-resets its model to the received (dequantized)
weights and ranges, trains ``steps`` minibatches of its own partition with a fresh optimiser
(the optimiser state is reset every round, spec §5.7), forward passes through the FP8
quantizers (round-to-nearest, or stochastic for the Table 2 ablation) with straight-through
gradients, and replies with its model encoded for the variant's communication plus
``num-examples`` (n_k, the FedAvg weight) and ``partition-id``.

Every random draw of a client in a round (batch order, augmentation, stochastic rounding) comes
from a generator seeded by (run seed, round, partition), so a run is reproducible whichever way
the messages are delivered: Flower's simulation engine, a real SuperLink, or the in-process
grid of :mod:`perloc.methods.fl.grid`.

Device: the client trains on the placement of the cell that built it
(:func:`perloc.bench.core.device.placement`, captured in :attr:`FlClient.where` and entered
around every message, so it travels with the client object if Flower's simulation engine hands
it to a Ray actor). Its partition stays on the CPU: each minibatch is drawn and augmented there
from the round's CPU generator (the same batches on every device), then placed on the device;
the step runs under the cell's autocast (``--amp``, fp16 with a gradient scaler) and the
optimiser steps in :func:`~perloc.bench.core.device.unchecked`. Stochastic QAT rounding draws
on the model's device: from the round's generator itself on the CPU, from a generator of the
same seed on a GPU. What goes on the wire is encoded on the CPU (:mod:`perloc.methods.fl.codec`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.methods.fl.codec import ModelCodec
from perloc.methods.layers.fp8 import FP8Quantizer, qat_ranges
from perloc.methods.training import optimizer_step

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class LocalRecipe:
    """One round of local training: ``steps`` minibatches of ``batch_size`` with ``optimizer``
    (SGD for CIFAR: lr 0.1, weight decay 1e-3, no momentum; AdamW for keyword spotting: weight
    decay 0.1). The learning rate of the round comes with the message (the server owns the
    schedule). The QAT ranges α, β get no weight decay. ``momentum`` (SGD; the paper uses none)
    is for short CPU profiles."""

    steps: int
    batch_size: int
    optimizer: str = "sgd"
    weight_decay: float = 1e-3
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be positive")


def draw_generator(*keys: int) -> torch.Generator:
    """A torch generator seeded from a tuple of integers (numpy's SeedSequence mixing)."""
    seed = int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(seed % (2**63))


def make_optimizer(model: nn.Module, recipe: LocalRecipe, lr: float) -> torch.optim.Optimizer:
    ranges = {id(p) for p in qat_ranges(model)}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in ranges]
    groups = [{"params": weights, "weight_decay": recipe.weight_decay},
              {"params": [p for p in qat_ranges(model) if p.requires_grad], "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum)
    return torch.optim.AdamW(groups, lr=lr)


def _batches(n: int, recipe: LocalRecipe, generator: torch.Generator):
    """Indices of ``recipe.steps`` minibatches: passes over fresh permutations of the
    partition (epochs), a batch never spanning two passes' duplicates."""
    order = torch.empty(0, dtype=torch.long, device=generator.device)
    size = min(recipe.batch_size, n)
    for _ in range(recipe.steps):
        if len(order) < size:
            order = torch.randperm(n, generator=generator, device=generator.device)
        yield order[:size]
        order = order[size:]


def draws_on(generator: torch.Generator, where: torch.device) -> torch.Generator:
    """``generator`` itself when it lives on ``where``, else a generator there with its seed
    (the model's own draws on a GPU; the CPU stream of batches is left untouched)."""
    if generator.device == where:
        return generator
    return torch.Generator(device=where).manual_seed(generator.initial_seed())


def local_update(model: nn.Module, x: Tensor, y: Tensor, recipe: LocalRecipe, lr: float,
                 generator: torch.Generator,
                 augment: Callable[[Tensor, torch.Generator], Tensor] | None = None) -> float:
    """Train ``model`` (on the cell's device) in place on (x, y) (CPU tensors: minibatches are
    drawn and augmented with ``generator`` on the CPU, then placed); returns the mean training
    loss."""
    optimizer = make_optimizer(model, recipe, lr)
    scaler = device.grad_scaler()
    where = next(model.parameters()).device
    for q in model.modules():
        if isinstance(q, FP8Quantizer):
            q.generator = draws_on(generator, where)
    model.train()
    losses = []  # on the device: read back in one transfer, after the last step
    for idx in _batches(len(x), recipe, generator):
        xb = x[idx] if augment is None else augment(x[idx], generator)
        xb, yb = device.place((xb, y[idx]))
        with device.autocast():
            loss = F.cross_entropy(model(xb).float(), yb)
        optimizer_step(optimizer, loss, scaler)
        losses.append(loss.detach().float())
    return sum(device.host(torch.stack(losses)).astype(np.float64).tolist()) / recipe.steps


@dataclass
class FlClient:
    """The client side of a federated run: ``model`` (one instance, hard-reset every round),
    its ``codec``, the partitions ``data(partition_id) -> (x, y)`` (CPU tensors) and the local
    recipe; ``where``: the placement it trains under (default: the one it is built under)."""

    model: nn.Module
    codec: ModelCodec
    data: Callable[[int], tuple[Tensor, Tensor]]
    recipe: LocalRecipe
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None
    where: device.Placement = field(default_factory=device.placement)

    def train(self, msg: Message, context: Context) -> Message:
        with device.using(self.where):
            return self._train(msg, context)

    def _train(self, msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        config: ConfigRecord = msg.content["config"]
        rnd, seed = int(config["server-round"]), int(config["seed"])
        self.model = device.place(self.model)  # already there, unless it travelled elsewhere
        self.model.load_state_dict(self.codec.decode(msg.content["arrays"]))
        x, y = self.data(pid)
        loss = local_update(self.model, x, y, self.recipe, float(config["lr"]),
                            draw_generator(seed, rnd, pid, 1), self.augment)
        arrays = self.codec.encode(self.model.state_dict(), draw_generator(seed, rnd, pid, 2))
        metrics = MetricRecord({"num-examples": len(x), "partition-id": pid, "loss": loss})
        return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)

    def app(self) -> ClientApp:
        """This client as a Flower ``ClientApp`` (simulation engine or a SuperNode)."""
        app = ClientApp()
        app.train()(self.train)
        return app
