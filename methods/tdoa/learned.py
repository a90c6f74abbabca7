"""Learned TDOA estimators as harness methods: training recipe, prediction, checkpoints.

Shared by NGCC-PHAT and PGCC-PHAT: a network maps a window pair (x1, x2) to logits over the
2 tau_max + 1 integer delays (cross-entropy on round(tau) + tau_max, "regression via
classification") or to one standardised delay (MSE). Validation uses the harness metrics.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.methods.training import ModelState, train
from perloc.metrics.tdoa import abs_error_cm, hit_percent

PREDICT_CHUNK = 64
TARGET_STAT_SAMPLES = 100


class LearnedTdoa(ModelState):
    """Base for learned pair-delay methods; subclasses set ``card`` and ``build(params)``."""

    card: MethodCard

    def __init__(self, params) -> None:
        self.params = params
        self.model = device.build(lambda: self.build(params))
        self.model.eval()

    @staticmethod
    def build(params) -> torch.nn.Module:
        raise NotImplementedError

    @property
    def classification(self) -> bool:
        return self.params.head == "classification"

    def loss(self, model: torch.nn.Module, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        out = model(x[:, 0], x[:, 1])
        max_tau = self.params.max_tau
        if self.classification:
            labels = torch.clamp(torch.round(tau) + max_tau, 0, 2 * max_tau).long()
            return F.cross_entropy(out, labels)
        target = (tau - model.target_mean) / model.target_std
        return F.mse_loss(out.reshape(-1), target)

    def delays(self, signals) -> np.ndarray:
        """Integer delay estimates for windows (B, 2, N), in eval mode, chunk by chunk."""
        self.model.eval()
        x = device.tensor(np.asarray(signals), dtype=torch.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(x), PREDICT_CHUNK):
                chunk = x[start:start + PREDICT_CHUNK]
                out.append(self.model.predict_delay(self.model(chunk[:, 0], chunk[:, 1])))
        return device.host(torch.cat(out)).astype(np.int64)

    def predict(self, batch: Batch) -> Batch:
        return Batch({"tau": self.delays(batch["signals"])}, dict(batch.meta))

    def _set_target_stats(self, training, seed: int) -> None:
        if self.classification:
            return
        rng = np.random.default_rng([seed, 31])
        sample = rng.choice(training.train_pool.tau, size=TARGET_STAT_SAMPLES)
        self.model.target_mean.fill_(float(sample.mean()))
        self.model.target_std.fill_(float(max(sample.std(), 1e-3)))

    def validate(self, training) -> dict[str, float]:
        signals, tau = training.validation
        pred = self.delays(signals)
        return {"mae_cm": float(abs_error_cm(pred, tau).mean()),
                "acc_10cm": float(hit_percent(pred, tau, 10.0).mean())}

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        """Train on ``training`` (a TdoaTraining) with the recipe in ``ctx``; keep the best epoch."""
        self._set_target_stats(training, ctx.seed)

        def make_batch(rng):
            x, tau = training.batch(ctx.batch_size, rng)
            return device.host_tensor(x), device.host_tensor(tau, dtype=torch.float32)

        state = train(self.model, ctx, make_batch, self.loss, lambda _: self.validate(training),
                      score_key="mae_cm")
        return state.history
