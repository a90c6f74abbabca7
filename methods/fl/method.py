"""The federated methods of Paper IV as harness methods: one per variant
(:mod:`perloc.methods.fl.variants`), each training a client model by federated rounds on the
task's :class:`perloc.datasets.fl_data.FederatedData` and predicting with the final global
model.

The recipe maps onto the harness's common fields: ``epochs`` = rounds, ``steps_per_epoch`` =
local steps per round, ``batch_size`` = the local batch, ``lr`` = the client learning rate.
Options: ``clients_per_round``, ``optimizer`` (sgd | adamw), ``weight_decay``, ``momentum``,
``lr_schedule``, ``model`` (the network when the method's ``model`` parameter is auto)
(constant | cosine over all rounds), ``rounds_per_checkpoint``, and ``setups``: per setup name,
keys (common or options) that replace the profile's for that setup (keyword spotting trains with
AdamW where CIFAR uses SGD). The rounds run through the
Flower strategy and client app on the in-process grid; the global model is evaluated on the
central test set after every round (the series ``val_accuracy``) and the bytes of every round
are recorded (``bytes_up``, ``bytes_down``, ``bytes_total`` cumulative), so the accuracy-vs-bytes
curve and the communication gain come from the record.

Device: the global model and the client model are built on the CPU from seed 0 and placed on
the cell's device (:func:`perloc.bench.core.device.build`); the clients train there, the server
aggregates on the CPU, and the test set is placed once per fit for the per-round evaluation.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from flwr.app import ArrayRecord, MetricRecord
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.datasets.fl_data import normalise_images
from perloc.methods.fl.client import FlClient, LocalRecipe
from perloc.methods.fl.codec import ModelCodec
from perloc.methods.fl.grid import InProcessGrid
from perloc.methods.fl.models import FL_MODELS
from perloc.methods.fl.strategy import Fp8FedAvg
from perloc.methods.fl.variants import VARIANTS, FlVariant
from perloc.methods.layers.fp8 import fp8_qat
from perloc.methods.training import CHECKPOINT_VERSION, load_checkpoint, save_checkpoint

_PAPER4 = "Paper IV (FP8 federated learning, Alg. 3)"
EVAL_CHUNK = 500
AUTO_MODEL = {"image": "lenet", "audio": "kwt-1"}


@dataclass(frozen=True)
class FederatedParams:
    """``model``: the client network (lenet | resnet18-gn | kwt-1 | matchboxnet; auto: LeNet for
    images, KWT-1 for keywords); ``server_lr``: SERVEROPTIMIZE's step (UQ+ only)."""

    model: str = "auto"
    server_lr: float = 0.1

    def __post_init__(self) -> None:
        if self.model != "auto" and self.model not in FL_MODELS:
            raise ValueError(f"model must be auto or one of {', '.join(FL_MODELS)}, "
                             f"got {self.model!r}")
        if not self.server_lr > 0:
            raise ValueError("server_lr must be positive")


def round_lr(ctx: FitContext) -> callable:
    """Client learning rate of round t (1-based): constant, or cosine from ``lr`` to 0 over all
    rounds (the keyword-spotting recipe)."""
    schedule = ctx.options.get("lr_schedule", "constant")
    if schedule == "constant":
        return lambda t: ctx.lr
    if schedule == "cosine":
        return lambda t: ctx.lr * 0.5 * (1 + math.cos(math.pi * (t - 1) / ctx.epochs))
    raise ValueError(f"lr_schedule must be constant or cosine, got {schedule!r}")


def setup_context(ctx: FitContext, setup: str) -> FitContext:
    """``ctx`` with the recipe's overrides for ``setup`` (``options["setups"][setup]``)."""
    options = {k: v for k, v in ctx.options.items() if k != "setups"}
    overrides = dict(ctx.options.get("setups", {}).get(setup, {}))
    common = {k: overrides.pop(k) for k in ("epochs", "steps_per_epoch", "batch_size", "lr")
              if k in overrides}
    return dataclasses.replace(ctx, options={**options, **overrides}, **common)


class FederatedMethod:
    """Base of the registered variants (``variant`` set by each subclass)."""

    card: MethodCard
    variant: FlVariant

    def __init__(self, params: FederatedParams) -> None:
        self.params = params
        self.model: nn.Module | None = None
        self.modality = "image"
        self.stats: tuple = ()
        self.model_default = ""  # the recipe's network for an auto ``model``

    # -- model --------------------------------------------------------------------------
    def model_name(self, modality: str, default: str = "") -> str:
        """``params.model``; for auto the recipe's ``model`` for the setup, else LeNet for
        images and KWT-1 for keywords."""
        if self.params.model != "auto":
            return self.params.model
        return default or AUTO_MODEL[modality]

    def build(self, modality: str, n_classes: int, default: str = "") -> nn.Module:
        spec = FL_MODELS[self.model_name(modality, default)]
        if spec.modality != modality:
            raise ValueError(f"model {spec.name} takes {spec.modality}, the setup has {modality}")

        def make() -> nn.Module:
            torch.manual_seed(0)  # every variant starts from the same initial weights
            model = spec.build(n_classes)
            if self.variant.qat != "none":
                model = fp8_qat(model, stochastic=self.variant.qat == "rand")
            return model

        return device.build(make)

    def paper_model(self) -> nn.Module:
        return self.model if self.model is not None else self.build("image", 10)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "modality": self.modality,
                "stats": list(self.stats)}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.model.eval()

    # -- training -----------------------------------------------------------------------
    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        logging.getLogger("flwr").setLevel(logging.ERROR)  # its per-round INFO, setup warnings
        ctx = setup_context(ctx, training.setup.name)
        self.modality, self.stats = training.setup.modality, training.stats
        self.model_default = str(ctx.options.get("model", ""))
        self.model = self.build(self.modality, training.n_classes, self.model_default)
        codec = ModelCodec(self.model, self.variant)
        recipe = LocalRecipe(ctx.steps_per_epoch, ctx.batch_size,
                             ctx.options.get("optimizer", "sgd"),
                             float(ctx.options.get("weight_decay", 1e-3)),
                             float(ctx.options.get("momentum", 0.0)))
        client = FlClient(self.build(self.modality, training.n_classes, self.model_default),
                          codec, training.client,
                          recipe, training.augment)
        grid = InProcessGrid(client.app(), training.n_clients)
        test = device.place((training.test_x, training.test_y))
        state = self._resume(Path(ctx.checkpoint))
        per = int(ctx.options.get("rounds_per_checkpoint", 5))
        while state["round"] < ctx.epochs:
            todo = min(per, ctx.epochs - state["round"])
            strategy = Fp8FedAvg(codec, clients_per_round=int(ctx.options["clients_per_round"]),
                                 seed=ctx.seed, lr=round_lr(ctx), round_offset=state["round"],
                                 server_lr=self.params.server_lr)
            result = strategy.start(grid, ArrayRecord(torch_state_dict=state["master"]),
                                    num_rounds=todo,
                                    evaluate_fn=lambda r, a: self._evaluate(test, a, r))
            state["master"] = result.arrays.to_torch_state_dict()
            state["round"] += todo
            self._log(state["history"], strategy.history, result, ctx)
            state["complete"] = state["round"] >= ctx.epochs
            save_checkpoint(Path(ctx.checkpoint), {"version": CHECKPOINT_VERSION, **state})
        self.model.load_state_dict(state["master"])
        self.model.eval()
        return state["history"]

    def _resume(self, path: Path) -> dict:
        cached = load_checkpoint(path)
        if cached is not None and "master" in cached:
            return cached
        return {"round": 0, "master": self.model.state_dict(), "history": {},
                "complete": False}

    def _evaluate(self, test: tuple[Tensor, Tensor], arrays: ArrayRecord, round_: int
                  ) -> MetricRecord | None:
        if round_ == 0:
            return None  # the loop's start-of-chunk call: already logged
        self.model.load_state_dict(arrays.to_torch_state_dict())
        acc = accuracy_percent(self.model, *test)
        return MetricRecord({"accuracy": acc})

    @staticmethod
    def _log(history: dict, rounds: list[dict], result, ctx: FitContext) -> None:
        accs = result.evaluate_metrics_serverapp
        for i, row in enumerate(rounds, start=1):
            total = history.get("bytes_total", [0.0])[-1] if history.get("bytes_total") else 0.0
            values = {"val_accuracy": float(accs[i]["accuracy"]), "train_loss": row["train_loss"],
                      "bytes_up": float(row["bytes_up"]), "bytes_down": float(row["bytes_down"]),
                      "bytes_total": total + row["bytes_up"] + row["bytes_down"]}
            for key, value in values.items():
                history.setdefault(key, []).append(value)
                if ctx.log is not None:
                    ctx.log(key, value, row["round"])
        if ctx.say is not None and rounds:
            ctx.say(f"  round {rounds[-1]['round']}/{ctx.epochs}: test accuracy "
                    f"{history['val_accuracy'][-1]:.2f} %, {history['bytes_total'][-1] / 1e6:.2f} MB")

    # -- prediction -----------------------------------------------------------------------
    def inputs(self, batch: Batch) -> Tensor:
        """The model's inputs on the cell's device (images normalised on the CPU, as the
        training data is)."""
        if self.modality == "image":
            return device.place(normalise_images(batch["image"], self.stats))
        return device.tensor(np.asarray(batch["mfcc"], dtype=np.float32))

    def predict(self, batch: Batch) -> Batch:
        logits = class_logits(self.model, self.inputs(batch))
        return Batch({"label": device.host(logits.argmax(dim=-1))}, dict(batch.meta))


def class_logits(model: nn.Module, x: Tensor) -> Tensor:
    """Eval-mode logits of ``x`` in chunks, each placed on the cell's device."""
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(device.place(x[i:i + EVAL_CHUNK]))
                          for i in range(0, len(x), EVAL_CHUNK)])


def accuracy_percent(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((class_logits(model, x).argmax(-1) == device.place(y)).float().mean() * 100)


def _register(variant: FlVariant) -> None:
    cls = type(f"Federated_{variant.name.replace('-', '_')}", (FederatedMethod,), {
        "variant": variant,
        "card": MethodCard(name=variant.name, task="fl", kind="learned", params=FederatedParams,
                           reference=_PAPER4, summary=variant.label)})
    METHODS.add(cls.card.name, cls, cls.card.aliases)


for _variant in VARIANTS.values():
    _register(_variant)
