"""DI-NN_M and GNN_M (Grinstein et al.) as Paper VII uses them: 3-D, MSE, setup 1_a.

* ``di-nn``: one DI-NN per microphone count M (``mics``; Paper VII's "separate model per M"),
  trained side by side in one loop on random M-subsets of the array (independent weights;
  the best epoch is chosen on their mean validation MAE). Metadata = the M normalised
  microphone coordinates; LuViRA gives no room dimensions or T60, so ``extra_metadata`` is 0.
* ``gnn``: one relation network for any M, trained on random subsets of 5-11 microphones
  (GNN_M). Its pair input is the circular GCC-PHAT over ``n_lags`` central lags: 629 =
  2 * 314 + 1 by default here, wide enough for LuViRA's largest delay (the paper does not
  say; [R-gnn] uses 200 bins in its config and 1024 in code, see gnn_model.py).

Optimisers are those of the publications ("hyperparameters from the publication", Paper VII),
their epoch milestones scaled to the run's length (the profile sets lr and batch size: the
papers' 1e-4 / 32 for DI-NN and 1e-3 / 128 for GNN):

* DI-NN [R-dinn]: Adam, MultiStepLR milestones [3, 8] of 20 epochs, factor 0.5, i.e. the lr
  factor is 1 for the first 3/20 of the steps, 0.5 for the next 5/20 and 0.25 after.
* GNN [R-gnn] (the first commit's 100-epoch config): Adam (0.9, 0.999), milestones [1, 3, 20]
  of 100 epochs, factor 0.5: 1 for 1 %, 0.5 for 2 %, 0.25 for 17 %, 0.125 for the last 80 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.methods.ssl.dinn_model import DINN, DinnParams
from perloc.methods.ssl.gnn_model import GnnParams, RelationNet
from perloc.methods.ssl.learned import (
    LearnedLocalizer,
    Localizer,
    random_mic_mask,
    set_position_stats,
)
from perloc.methods.training import Optimization

_PAPER7 = "Berg et al., IPIN 2024 (Paper VII), Tables 1-2; "
DINN_PIECES = ((3 / 20, 1.0), (5 / 20, 0.5), (12 / 20, 0.25))  # MultiStepLR [3, 8] of 20 epochs
GNN_PIECES = ((0.01, 1.0), (0.02, 0.5), (0.17, 0.25), (0.80, 0.125))  # [1, 3, 20] of 100


@dataclass(frozen=True)
class DinnMethodParams:
    """Paper sizes by default; ``mics``: the M of each DI-NN_M model."""

    mics: tuple[int, ...] = (5, 7, 9, 11)
    channels: tuple[int, ...] = (64, 128, 256, 512)
    gru_hidden: int = 256
    n_fft: int = 1024

    def __post_init__(self) -> None:
        if not self.mics or any(not 2 <= int(m) <= 64 for m in self.mics):
            raise ValueError(f"mics must list microphone counts in 2..64, got {self.mics}")

    def model_params(self, m: int) -> DinnParams:
        return DinnParams(n_mics=int(m), channels=tuple(self.channels),
                          gru_hidden=self.gru_hidden, n_fft=self.n_fft, extra_metadata=0)


class DiNN(LearnedLocalizer):
    card = MethodCard(
        name="di-nn", task="ssl", kind="learned", params=DinnMethodParams,
        reference=_PAPER7 + "Grinstein et al. 2023 (DI-NN)",
        summary="STFT CNN + BiGRU on raw audio, late fusion of mic coordinates; one model per M",
    )

    @staticmethod
    def build(params: DinnMethodParams) -> nn.Module:
        return nn.ModuleDict({f"m{m}": DINN(params.model_params(m)) for m in params.mics})

    def optimization(self, ctx: FitContext) -> Optimization:
        return Optimization(optimizer="adam", schedule="piecewise", pieces=DINN_PIECES)

    def accepts(self, batch: Batch) -> np.ndarray:
        return super().accepts(batch) & np.isin(batch.meta["mics"], self.params.mics)

    def inputs(self, batch: Batch, rng: np.random.Generator | None) -> dict:
        signals = device.host_tensor(batch["signals"])
        mic_pos = device.host_tensor(batch["mic_pos"])
        if rng is None:  # test: the batch holds one M
            return {"signals": signals, "mic_pos": mic_pos}
        out = {}
        for m in self.params.mics:  # a random M-subset per example for every DI-NN_M
            order = np.sort(np.argsort(rng.random((len(batch), signals.shape[1])), 1)[:, :m], 1)
            index = device.host_tensor(order)
            rows = torch.arange(len(batch), device=signals.device)[:, None]
            out[m] = {"signals": signals[rows, index], "mic_pos": mic_pos[rows, index]}
        return out

    @staticmethod
    def _run(model: Localizer, signals: Tensor, mic_pos: Tensor) -> Tensor:
        metadata = model.normalise(mic_pos).reshape(len(signals), -1)
        return model.net[f"m{signals.shape[1]}"](signals, metadata)

    def forward(self, model: Localizer, inputs: dict) -> Tensor:
        return self._run(model, inputs["signals"], inputs["mic_pos"])

    def loss(self, model: Localizer, inputs: dict, target: Tensor) -> Tensor:
        goal = model.normalise(target)
        losses = [nn.functional.mse_loss(self._run(model, **part), goal) for part in inputs.values()]
        return torch.stack(losses).sum()

    def validate(self, training) -> dict[str, float]:
        from perloc.metrics.localization import euclidean_error_cm

        val = training.validation
        scores = []
        for m in self.params.mics:
            rng = np.random.default_rng([m, 5])
            part = device.place(self.inputs(val, rng)[m])
            with torch.inference_mode():
                self.model.eval()
                pred = device.host(self.model.denormalise(self._run(self.model, **part)))
            scores.append(float(euclidean_error_cm(pred, val["position"]).mean()))
        return {"mae_cm": float(np.mean(scores))}


@dataclass(frozen=True)
class GnnMethodParams:
    """Paper width by default; ``min_mics``: smallest random training subset (GNN_M)."""

    n_lags: int = 629
    width: int = 625
    min_mics: int = 5


class Gnn(LearnedLocalizer):
    card = MethodCard(
        name="gnn", task="ssl", kind="learned", params=GnnMethodParams,
        reference=_PAPER7 + "Grinstein et al., ICASSP 2023 (relation network)",
        summary="relation network: MLP on (GCC-PHAT, r_i, r_j) per pair, mean, MLP",
        capabilities=frozenset({"variable_mics"}),
    )

    def optimization(self, ctx: FitContext) -> Optimization:
        return Optimization(optimizer="adam", schedule="piecewise", pieces=GNN_PIECES)

    @staticmethod
    def build(params: GnnMethodParams) -> nn.Module:
        return RelationNet(GnnParams(n_lags=params.n_lags, width=params.width, extra_metadata=0))

    def inputs(self, batch: Batch, rng: np.random.Generator | None) -> dict:
        signals = device.host_tensor(batch["signals"])
        b, m = signals.shape[:2]
        if rng is None:
            mask = np.ones((b, m), dtype=bool)
        else:
            mask = random_mic_mask(b, m, self.params.min_mics, rng)
        return {"signals": signals, "mic_pos": device.host_tensor(batch["mic_pos"]),
                "mic_mask": device.host_tensor(mask)}

    def forward(self, model: Localizer, inputs: dict) -> Tensor:
        return model.net(inputs["signals"], model.normalise(inputs["mic_pos"]), inputs["mic_mask"])


@dataclass(frozen=True)
class MeanPositionParams:
    """No parameters: the floor every learned localizer must clear."""


class MeanPosition(LearnedLocalizer):
    """Always the mean training source position: what a regressor that learned nothing from
    the audio scores (its MAE is the spread of the test walk around the training mean)."""

    card = MethodCard(
        name="mean-position", task="ssl", kind="learned", params=MeanPositionParams,
        reference="trivial baseline (not in Paper VII)",
        summary="predicts the training set's mean source position for every frame",
        capabilities=frozenset({"perm_invariant", "variable_mics"}),
    )

    @staticmethod
    def build(params: MeanPositionParams) -> nn.Module:
        return nn.Identity()

    def inputs(self, batch: Batch, rng: np.random.Generator | None) -> dict:
        return {"n": len(batch)}

    def forward(self, model: Localizer, inputs: dict) -> Tensor:
        # normalised coordinates: the mean itself
        return torch.zeros(inputs["n"], 3, device=model.pos_mean.device)

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        set_position_stats(self.model, training)
        return {f"val_{k}": [v] for k, v in self.validate(training).items()}


for _method in (DiNN, Gnn, MeanPosition):
    METHODS.add(_method.card.name, _method, _method.card.aliases)
