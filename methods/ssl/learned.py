"""Learned source localizers as harness methods: normalisation, training recipe, prediction.

Shared by DI-NN, GNN and wav2pos. Each method brings its publication's optimiser
(``optimization``); the profile brings the learning rate, batch size and length. Coordinates
(microphones and source) enter and leave the networks normalised with the per-axis mean and std of the training source positions (as
[R-w2p] does); the statistics are buffers of the model, so checkpoints carry them. The loss
is the MSE on normalised source coordinates (Paper VII trains the baselines with MSE), the
validation score the harness's own truncated Euclidean MAE.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.datasets.ssl_schema import setup_1a_rows
from perloc.methods.training import ModelState, Optimization, train
from perloc.metrics.localization import euclidean_error_cm, within_percent

PREDICT_CHUNK = 64


def zscore(signals: Tensor, eps: float = 1e-8) -> Tensor:
    """Every channel to zero mean and unit std over its samples."""
    mean = signals.mean(dim=-1, keepdim=True)
    return (signals - mean) / (signals.std(dim=-1, keepdim=True) + eps)


class Localizer(nn.Module):
    """A network plus the coordinate normalisation it was trained with."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("pos_mean", torch.zeros(3))
        self.register_buffer("pos_std", torch.ones(3))

    def normalise(self, xyz) -> Tensor:
        xyz = torch.as_tensor(xyz, dtype=torch.float32, device=self.pos_mean.device)
        return (xyz - self.pos_mean) / self.pos_std

    def denormalise(self, z: Tensor) -> Tensor:
        return z * self.pos_std + self.pos_mean


class LearnedLocalizer(ModelState):
    """Base for learned localizers; subclasses set ``card`` and implement the three hooks.

    * ``build(params) -> nn.Module``
    * ``inputs(batch, rng)``: CPU tensors for the network (``device.host_tensor``; the
      training loop, :meth:`predict` and validation place them on the cell's device);
      ``rng`` is given in training (random microphone subsets / masks are drawn there) and
      None at test time.
    * ``forward(model, inputs) -> normalised source [B, 3]``
    """

    card: MethodCard

    def __init__(self, params) -> None:
        self.params = params
        self.model = device.build(lambda: Localizer(self.build(params)))
        self.model.eval()

    @staticmethod
    def build(params) -> nn.Module:
        raise NotImplementedError

    def inputs(self, batch: Batch, rng: np.random.Generator | None) -> dict:
        raise NotImplementedError

    def forward(self, model: Localizer, inputs: dict) -> Tensor:
        raise NotImplementedError

    def accepts(self, batch: Batch) -> np.ndarray:
        """Rows this method can solve; the baselines know only setup 1_a."""
        return setup_1a_rows(batch)

    def optimization(self, ctx: FitContext) -> Optimization:
        """The publication's optimiser and schedule (plain Adam, cosine over epochs here)."""
        return Optimization(optimizer="adam")

    def loss(self, model: Localizer, inputs: dict, target: Tensor) -> Tensor:
        return nn.functional.mse_loss(self.forward(model, inputs), model.normalise(target))

    def outputs(self, model: Localizer, inputs: dict) -> dict[str, Tensor]:
        """Normalised coordinate outputs by prediction column (the source by default)."""
        return {"position": self.forward(model, inputs)}

    def predict(self, batch: Batch) -> Batch:
        self.model.eval()
        parts: dict[str, list[Tensor]] = {}
        with torch.inference_mode():
            for start in range(0, len(batch), PREDICT_CHUNK):
                part = batch.take(np.arange(start, min(start + PREDICT_CHUNK, len(batch))))
                inputs = device.place(self.inputs(part, None))
                for name, z in self.outputs(self.model, inputs).items():
                    parts.setdefault(name, []).append(self.model.denormalise(z))
        return Batch({k: device.host(torch.cat(v)).astype(np.float64) for k, v in parts.items()},
                     dict(batch.meta))

    def validate(self, training) -> dict[str, float]:
        val = training.validation
        pred = self.predict(val)["position"]
        return {"mae_cm": float(euclidean_error_cm(pred, val["position"]).mean()),
                "acc_30cm": float(within_percent(pred, val["position"]).mean())}

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        """Train with the recipe in ``ctx``; the best validation epoch is kept."""
        set_position_stats(self.model, training)

        def make_batch(rng):
            batch = training.batch(ctx.batch_size, rng)
            return self.inputs(batch, rng), device.host_tensor(batch["position"])

        state = train(self.model, ctx, make_batch, self.loss, lambda _: self.validate(training),
                      score_key="mae_cm", optimization=self.optimization(ctx))
        return state.history


def set_position_stats(model: Localizer, training) -> None:
    """The training source positions' per-axis mean and std into ``model``'s buffers."""
    mean, std = training.position_stats()
    model.pos_mean.copy_(device.tensor(mean, dtype=torch.float32))
    model.pos_std.copy_(device.tensor(std, dtype=torch.float32))


def random_mic_mask(n: int, m_total: int, low: int, rng: np.random.Generator) -> np.ndarray:
    """Per example a uniformly random subset of ``U{low..m_total}`` microphones [n, m_total]."""
    counts = rng.integers(min(low, m_total), m_total + 1, size=n)
    ranks = np.argsort(rng.random((n, m_total)), axis=1).argsort(axis=1)
    return ranks < counts[:, None]
