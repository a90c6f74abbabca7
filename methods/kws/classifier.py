"""Keyword classifiers as harness methods: shared training, prediction and efficiency probe.

A subclass sets ``card`` and implements ``build(params) -> nn.Module`` (MFCC [B, 98, 40] ->
logits [B, classes]) and ``optimization(ctx) -> Optimization``. The base class trains with the
shared loop (:func:`perloc.methods.training.train`) on :class:`~perloc.datasets.kws_data.
KwsTraining` batches, keeps the epoch with the best validation accuracy, predicts the argmax
class of each clip and offers the raw-audio -> logits module (front end included) for the
efficiency figures.

The number of classes comes from the training data (12 or 35), so the network is built in
``fit``, from the seed (on the CPU, then placed on the cell's device: the same initial weights
everywhere). Every method's parameters carry ``precision``: ``fp32`` (the cell's ``--amp``
decides), or ``bf16`` = training under bf16 autocast on the cell's device with fp32 master
weights (the paper trains in fp32 on GPUs; bf16 is this harness's CPU speed-up, reported as a
variant, and inference always runs in fp32). Training batches are made on the CPU (the
augmentation and front end of :class:`~perloc.datasets.kws_data.KwsTraining`) and moved by
the training loop; prediction moves each chunk of features to the cell's device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.datasets.features.mfcc import Mfcc
from perloc.methods.training import ModelState, Optimization, train

PRECISIONS = ("fp32", "bf16")
PAPER_CLASSES = 12  # the 12-class task of Paper III's parameter counts
PREDICT_CHUNK = 256
CLIP_SAMPLES = 16_000


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def accuracy_percent(logits: Tensor, labels: Tensor) -> float:
    return float((logits.argmax(dim=-1) == labels).float().mean() * 100.0)


class AudioClassifier(nn.Module):
    """Raw 1-s clips -> logits: the MFCC front end followed by the classifier."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.front = Mfcc()
        self.classifier = classifier

    def forward(self, audio: Tensor) -> Tensor:
        return self.classifier(self.front(audio))


class KeywordClassifier(ModelState):
    """Base for the keyword-spotting methods (see the module docstring)."""

    card: MethodCard
    label_smoothing: float = 0.0

    def __init__(self, params) -> None:
        self.params = params
        self.model: nn.Module | None = None  # built by fit, once the classes are known

    @staticmethod
    def build(params, n_classes: int) -> nn.Module:
        raise NotImplementedError

    def optimization(self, ctx: FitContext) -> Optimization:
        raise NotImplementedError

    def paper_model(self) -> nn.Module:
        """The network of these parameters for the 12-class task (the paper's counts);
        ``fit`` builds the trained one from the data's class count."""
        return self.model if self.model is not None else self.build(self.params, PAPER_CLASSES)

    def logits(self, model: nn.Module, mfcc: Tensor) -> Tensor:
        """Evaluation logits (distilled models average their two heads here)."""
        return model(mfcc)

    def loss(self, model: nn.Module, mfcc: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(model(mfcc).float(), labels, label_smoothing=self.label_smoothing)

    def class_logits(self, mfcc: np.ndarray) -> Tensor:
        self.model.eval()
        with torch.inference_mode():
            return torch.cat([self.logits(self.model, device.tensor(mfcc[i:i + PREDICT_CHUNK]))
                              for i in range(0, len(mfcc), PREDICT_CHUNK)])

    def predict(self, batch: Batch) -> Batch:
        """Batch with ``label`` (argmax class) from ``mfcc`` [B, 98, 40] features."""
        logits = self.class_logits(np.asarray(batch["mfcc"], dtype=np.float32))
        return Batch({"label": device.host(logits.argmax(dim=-1))}, dict(batch.meta))

    def validate(self, training) -> dict[str, float]:
        features, labels = training.validation
        return {"accuracy": accuracy_percent(self.class_logits(features), device.tensor(labels))}

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        """Train with the method's optimisation; keep the best validation accuracy."""
        torch.manual_seed(ctx.seed)
        self.model = device.build(lambda: self.build(self.params, len(training.classes)))

        def make_batch(rng):
            return training.batch(ctx.batch_size, rng)

        state = train(self.model, ctx, make_batch, self.loss, lambda _: self.validate(training),
                      score_key="accuracy", optimization=self.optimization(ctx))
        return state.history

    def inference_probe(self) -> tuple[nn.Module, Tensor]:
        """(raw audio -> logits module, one silent-free 1-s clip) for efficiency figures (the
        clip drawn on the CPU, the same everywhere; the probe places both)."""
        gen = torch.Generator().manual_seed(0)
        clip = 0.1 * torch.randn(1, CLIP_SAMPLES, generator=gen, device=gen.device)
        return AudioClassifier(_Eval(self)), clip


class _Eval(nn.Module):
    """The method's evaluation forward (``logits``) as a module."""

    def __init__(self, method: KeywordClassifier) -> None:
        super().__init__()
        self.net = method.model
        self.method = method

    def forward(self, mfcc: Tensor) -> Tensor:
        return self.method.logits(self.net, mfcc)
