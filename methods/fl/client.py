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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import Tensor, nn

from perloc.methods.fl.codec import ModelCodec
from perloc.methods.layers.fp8 import FP8Quantizer, qat_ranges

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
    order = torch.empty(0, dtype=torch.long)
    size = min(recipe.batch_size, n)
    for _ in range(recipe.steps):
        if len(order) < size:
            order = torch.randperm(n, generator=generator)
        yield order[:size]
        order = order[size:]


def local_update(model: nn.Module, x: Tensor, y: Tensor, recipe: LocalRecipe, lr: float,
                 generator: torch.Generator,
                 augment: Callable[[Tensor, torch.Generator], Tensor] | None = None) -> float:
    """Train ``model`` in place on (x, y); returns the mean training loss."""
    optimizer = make_optimizer(model, recipe, lr)
    for q in model.modules():
        if isinstance(q, FP8Quantizer):
            q.generator = generator
    model.train()
    total = 0.0
    for idx in _batches(len(x), recipe, generator):
        xb = x[idx] if augment is None else augment(x[idx], generator)
        loss = F.cross_entropy(model(xb), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / recipe.steps


@dataclass
class FlClient:
    """The client side of a federated run: ``model`` (one instance, hard-reset every round),
    its ``codec``, the partitions ``data(partition_id) -> (x, y)`` and the local recipe."""

    model: nn.Module
    codec: ModelCodec
    data: Callable[[int], tuple[Tensor, Tensor]]
    recipe: LocalRecipe
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None

    def train(self, msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        config: ConfigRecord = msg.content["config"]
        rnd, seed = int(config["server-round"]), int(config["seed"])
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
