"""KWT-1/2/3 and the distilled KWTs as harness methods (Berg et al. 2021, Paper III).

Recipe of Paper III Table 2 (spec kws_fl.md 2.3): AdamW (beta 0.9 / 0.999, eps 1e-7) with
decoupled weight decay 0.1 on everything except the position embedding, the class token,
LayerNorms and biases (the distillation token *is* decayed, as in the reference code); peak lr
1e-3 scaled by batch / 512; lr(t) = peak * min(1, t / W) * (1 + cos(pi t / T)) / 2 with W = 10
epochs of the training set; label smoothing 0.1; the best validation epoch is kept.

``kwt-N-distill`` adds the distillation token and learns by hard distillation (Eq. 6):
loss = CE(class head, y) / 2 + CE(distillation head, argmax teacher(x)) / 2, both with label
smoothing 0.1 (as the Keras code), the teacher seeing the same augmented input. The teacher
is ``mhatt-rnn``, trained first by the harness under the same profile and seed and frozen.
Evaluation averages the two heads' logits.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.methods.checks import require_positive_ints
from perloc.methods.kws.classifier import KeywordClassifier, check_precision
from perloc.methods.kws.kwt_model import KWT, KwtParams
from perloc.methods.training import Optimization

_PAPER3 = "Berg et al., Interspeech 2021 (Paper III), Table 3"
NO_DECAY = ("pos", "class_token", "norm", "bias")
WARMUP_EPOCHS = 10
REFERENCE_BATCH = 512
TEACHER = "mhatt-rnn"


def kwt_recipe(ctx: FitContext, precision: str, n_train: int) -> Optimization:
    """The Paper III optimisation for a training set of ``n_train`` clips."""
    epochs = ctx.options.get("warmup_epochs", WARMUP_EPOCHS)
    warmup = int(n_train / ctx.batch_size * epochs)
    return Optimization(optimizer="adamw", eps=1e-7, weight_decay=0.1, no_decay=NO_DECAY,
                        schedule="warmup-cosine", warmup_steps=warmup,
                        autocast="bf16" if precision == "bf16" else None, maximize=True)


def scaled_lr(lr: float, batch_size: int) -> float:
    """DeiT-style scaling: peak lr * batch / 512."""
    return lr * batch_size / REFERENCE_BATCH


def _validate_sizes(params) -> None:
    require_positive_ints(params, ("dim", "mlp_dim", "heads", "depth"))
    check_precision(params.precision)


def _params_type(name: str, dim: int, mlp_dim: int, heads: int) -> type:
    """The parameter dataclass of one KWT size (paper values as defaults)."""
    fields = [("dim", int, dim), ("mlp_dim", int, mlp_dim), ("heads", int, heads),
              ("depth", int, 12), ("precision", str, "fp32")]
    return dataclasses.make_dataclass(
        name, [(n, t, dataclasses.field(default=d)) for n, t, d in fields], frozen=True,
        namespace={"__post_init__": _validate_sizes,
                   "__doc__": f"KWT sizes (paper: d {dim}, mlp {mlp_dim}, {heads} heads, 12 "
                              "layers) and training precision (fp32 | bf16)."})


class KwtMethod(KeywordClassifier):
    """A KWT trained with the Paper III recipe; ``distill`` adds hard distillation."""

    label_smoothing = 0.1
    distill = False
    teachers: tuple[str, ...] = ()

    def __init__(self, params) -> None:
        self.teacher: nn.Module | None = None
        super().__init__(params)

    @classmethod
    def build(cls, params, n_classes: int) -> nn.Module:
        return KWT(KwtParams(dim=params.dim, mlp_dim=params.mlp_dim, heads=params.heads,
                             depth=params.depth, n_classes=n_classes, distill=cls.distill))

    def optimization(self, ctx: FitContext) -> Optimization:
        return kwt_recipe(ctx, self.params.precision, self._n_train)

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        self._n_train = len(training.train_labels)
        ctx = dataclasses.replace(ctx, lr=scaled_lr(ctx.lr, ctx.batch_size))
        return super().fit(training, ctx)

    def attach_teacher(self, name: str, teacher) -> None:
        self.teacher = teacher.model.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def loss(self, model: nn.Module, mfcc: Tensor, labels: Tensor) -> Tensor:
        if not self.distill:
            return super().loss(model, mfcc, labels)
        if self.teacher is None:
            raise RuntimeError(f"{self.card.name} needs its teacher ({TEACHER}) attached")
        with torch.no_grad():
            hard = self.teacher(mfcc).argmax(dim=-1)
        logits, dist = model(mfcc)
        ls = self.label_smoothing
        return 0.5 * (F.cross_entropy(logits.float(), labels, label_smoothing=ls)
                      + F.cross_entropy(dist.float(), hard, label_smoothing=ls))


def _register(size: int, dim: int, mlp_dim: int, heads: int) -> None:
    params = _params_type(f"Kwt{size}Params", dim, mlp_dim, heads)
    plain = type(f"Kwt{size}", (KwtMethod,), {"card": MethodCard(
        name=f"kwt-{size}", task="kws", kind="learned", params=params, reference=_PAPER3,
        summary=f"Keyword Transformer, d={dim}, {heads} head(s), 12 PostNorm layers on MFCC "
                "frame tokens")})
    distilled = type(f"Kwt{size}Distill", (KwtMethod,), {
        "distill": True, "teachers": (TEACHER,), "card": MethodCard(
            name=f"kwt-{size}-distill", task="kws", kind="learned", params=params,
            reference=_PAPER3 + " (dist.)",
            summary=f"KWT-{size} with a distillation token, hard distillation from MHAtt-RNN")})
    for cls in (plain, distilled):
        METHODS.add(cls.card.name, cls, cls.card.aliases)


for _size, (_dim, _mlp, _heads) in {1: (64, 256, 1), 2: (128, 512, 2), 3: (192, 768, 3)}.items():
    _register(_size, _dim, _mlp, _heads)

