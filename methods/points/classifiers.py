"""Paper II's shape classifiers as harness methods: Point-TnT, its global-attention Baseline,
PointNet and DGCNN, trained with the Point-TnT recipe (spec dold_pointtnt.md §5.3).

Recipe: AdamW (lr from the profile, paper 1e-3) with weight decay 0.1 on everything but the
biases (the official name filter exempts only those: gotcha 14), linear warm-up over
``warmup_epochs`` (paper 10) then cosine decay to 0 (the paper: to lr/100 with T_max = 500),
label smoothing 0.2 as the code (1 - eps on the true class, eps / (C - 1) on each other), the
RSMix-mixed loss (1 - lambda) CE(y_A) + lambda CE(y_B) (:mod:`perloc.datasets.points_data`),
PointNet's feature-transform regulariser; the last epoch is evaluated (Protocol 1) and the
per-epoch test accuracy is kept as the curve (Protocol 2 is its maximum: reported only as the
curve). PointNet and DGCNN are trained with the same recipe here (their own papers use
Adam / SGD with step decay for 250 epochs); Paper II's table quotes their numbers.
Prediction: argmax class per cloud, ``label``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.methods.checks import require_positive_ints
from perloc.methods.points.baselines import DGCNN, PointNet, orthogonality_loss
from perloc.methods.points.point_tnt import baseline, point_tnt
from perloc.methods.training import ModelState, Optimization, train

PAPER2 = "Berg, Oskarsson & O'Connor, ICPR 2022 (Paper II)"
SMOOTHING = 0.2
PREDICT_CHUNK = 64
PAPER_CLASSES = 15


def smoothed_ce(logits: Tensor, labels: Tensor, eps: float = SMOOTHING) -> Tensor:
    """Per sample -sum_c q_c log p_c with q = 1 - eps on the label, eps / (C - 1) elsewhere."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    c = logits.shape[-1]
    q = torch.full_like(log_p, eps / (c - 1)).scatter_(1, labels[:, None], 1.0 - eps)
    return -(q * log_p).sum(dim=-1)


@dataclass(frozen=True)
class TnTParams:
    """Point-TnT-``size`` (h = size, d_Y = 64 h) with the spec's defaults; ``depth``,
    ``anchors`` (M), ``k`` (neighbours), ``dilation``, ``point_dim`` (d_E), ``emb_dims`` (d_f),
    and the Table 3 switches ``local_attention`` / ``global_attention``."""

    size: int = 3
    depth: int = 4
    anchors: int = 192
    k: int = 20
    dilation: int = 1
    point_dim: int = 32
    emb_dims: int = 1024
    local_attention: bool = True
    global_attention: bool = True

    def __post_init__(self) -> None:
        require_positive_ints(self, ("size", "depth", "anchors", "k", "dilation", "point_dim",
                                     "emb_dims"))
        if self.size not in (1, 2, 3):
            raise ValueError(f"size must be 1, 2 or 3, got {self.size}")


@dataclass(frozen=True)
class BaselineParams:
    """The naive transformer: h = 3, d_Y = 192, ``depth`` global layers, d_f ``emb_dims``."""

    depth: int = 4
    emb_dims: int = 1024
    global_attention: bool = True

    def __post_init__(self) -> None:
        require_positive_ints(self, ("depth", "emb_dims"))


@dataclass(frozen=True)
class PointNetParams:
    dropout: float = 0.3


@dataclass(frozen=True)
class DgcnnParams:
    k: int = 20
    emb_dims: int = 1024

    def __post_init__(self) -> None:
        require_positive_ints(self, ("k", "emb_dims"))


class PointClassifier(ModelState):
    """Shared fit / predict (see the module doc); subclasses ``build(n_classes, n_points)``."""

    card: MethodCard

    def __init__(self, params) -> None:
        self.params = params
        self.model: nn.Module | None = None
        self.n_points = 1024

    def build(self, n_classes: int, n_points: int) -> nn.Module:
        raise NotImplementedError

    def paper_model(self) -> nn.Module:
        return self.model if self.model is not None else self.build(PAPER_CLASSES, 1024)

    def logits_and_extra(self, points: Tensor) -> tuple[Tensor, Tensor]:
        return self.model(points), torch.zeros((), device=points.device)

    def loss(self, model: nn.Module, points: Tensor, target: tuple) -> Tensor:
        label_a, label_b, lam = target
        logits, extra = self.logits_and_extra(points)
        mixed = (1 - lam) * smoothed_ce(logits, label_a) + lam * smoothed_ce(logits, label_b)
        return mixed.mean() + extra

    def logits(self, points: np.ndarray) -> Tensor:
        self.model.eval()
        with torch.inference_mode():
            return torch.cat([self.model(device.tensor(points[i:i + PREDICT_CHUNK]))
                              for i in range(0, len(points), PREDICT_CHUNK)])

    def predict(self, batch: Batch) -> Batch:
        logits = self.logits(np.asarray(batch["points"], dtype=np.float32))
        return Batch({"label": device.host(logits.argmax(dim=-1))}, dict(batch.meta))

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        torch.manual_seed(ctx.seed)
        self.n_points = training.n_points
        self.model = device.build(lambda: self.build(len(training.classes), training.n_points))
        points, labels = training.test_arrays()

        def make_batch(rng):
            b = training.batch(ctx.batch_size, rng)
            return (device.host_tensor(b.points),
                    (device.host_tensor(b.label_a), device.host_tensor(b.label_b),
                     device.host_tensor(b.lam, dtype=torch.float32)))

        def validate(_):
            right = device.host(self.logits(points).argmax(dim=-1)) == labels
            return {"accuracy": float(100.0 * right.mean())}

        warmup = int(ctx.options.get("warmup_epochs", 10) * ctx.steps_per_epoch)
        opt = Optimization(optimizer="adamw", weight_decay=0.1, no_decay=("bias",),
                           schedule="warmup-cosine", warmup_steps=warmup, maximize=True,
                           keep_last=True)
        return train(self.model, ctx, make_batch, self.loss, validate, score_key="accuracy",
                     optimization=opt).history

    def inference_probe(self) -> tuple[nn.Module, Tensor]:
        gen = torch.Generator().manual_seed(0)
        return self.model, torch.randn(1, self.n_points, 3, generator=gen, device=gen.device)


def _card(name: str, params: type, summary: str, reference: str = PAPER2) -> MethodCard:
    return MethodCard(name, "points", "learned", params, reference, summary,
                      capabilities=frozenset({"perm_invariant"}))


class PointTnTMethod(PointClassifier):
    card = _card("point-tnt", TnTParams, "Point-TnT: FPS anchors, kNN patches, local attention "
                 "over each patch's edges and global attention over the anchors")

    def build(self, n_classes, n_points):
        config = {k: v for k, v in dataclasses.asdict(self.params).items() if k != "size"}
        return point_tnt(self.params.size, n_classes, n_points=n_points, **config)


class BaselineMethod(PointClassifier):
    card = _card("attention-baseline", BaselineParams, "Paper II's Baseline: every point a "
                 "token, global attention over all points (no anchors, no patches)")

    def build(self, n_classes, n_points):
        p = self.params
        return baseline(n_classes, n_points=n_points, depth=p.depth, emb_dims=p.emb_dims,
                        global_attention=p.global_attention)


class PointNetMethod(PointClassifier):
    card = _card("pointnet", PointNetParams, "PointNet with input and feature T-Nets",
                 "Qi et al., CVPR 2017")

    def build(self, n_classes, n_points):
        return PointNet(n_classes, dropout=self.params.dropout)

    def logits_and_extra(self, points):
        logits, transform = self.model.forward_with_transform(points)
        return logits, orthogonality_loss(transform)


class DgcnnMethod(PointClassifier):
    card = _card("dgcnn", DgcnnParams, "DGCNN: EdgeConv over dynamic feature-space kNN graphs",
                 "Wang et al., ACM TOG 2019")

    def build(self, n_classes, n_points):
        return DGCNN(n_classes, k=self.params.k, emb_dims=self.params.emb_dims)


for _cls in (PointTnTMethod, BaselineMethod, PointNetMethod, DgcnnMethod):
    METHODS.add(_cls.card.name, _cls)
