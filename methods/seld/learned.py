"""SELD networks as harness methods: SELDnet and CST-Former on GCC + MS, SALSA-Lite or NGCC + MS.

Training (Paper VI §4.6, the CST-Former recipe for both networks): 5-s sequences (250 feature
frames, 50 label frames) cut from the training files without overlap, the ADPIT loss with the
1/d distance scaling, AdamW with weight decay 0.05 (none on biases and norm layers), a linear
warm-up over the first ``warmup_fraction`` of the steps (Paper VI: 5 of 300 epochs) then cosine
decay, and the **final** weights kept ("no cherry picking"); the validation curve (macro F and
DOAE on held-out training files) is drawn, not used for selection. Prediction runs each whole
test file as consecutive 5-s sequences (the last padded with 1e-6, as the baseline pads) and
decodes the first floor(N / 2400) label frames (threshold 0.5, 15-degree unification).

NGCC + MS methods first pre-train (or load) the multi-target NGCC-PHAT of their ``ngcc_*``
parameters on the same training files (:mod:`perloc.methods.seld.ngcc_pretrain`, one
pre-training shared by every method with that extractor), then keep it frozen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.datasets.dcase_csv import DcaseEvents
from perloc.datasets.starss23 import LABEL_HOP
from perloc.methods.seld.cst_former import CstFormer, CstFormerParams
from perloc.methods.seld.decode import decode
from perloc.methods.seld.feature_store import fit_scaler
from perloc.methods.seld.inputs import FEATURE_SETS, SEQUENCE, FileFeatures, sequences, shape_of
from perloc.methods.seld.losses import adpit_loss
from perloc.methods.seld.ngcc_features import LagProjection, NgccSeld, NgccSeldParams
from perloc.methods.seld.ngcc_pretrain import pretrained_extractor
from perloc.methods.seld.seldnet import Seldnet, SeldnetParams
from perloc.methods.training import ModelState, Optimization, train
from perloc.metrics.seld import SeldConfig, file_stats, scores

LABELS_PER_SEQUENCE = SEQUENCE // 5


class SeldNetwork(nn.Module):
    """Feature parts -> multi-ACCDOA: the scaler (buffers), the lag MLP for NGCC + MS, the
    backbone."""

    def __init__(self, feature_set: str, backbone: nn.Module, parts, ngcc: nn.Module | None = None):
        super().__init__()
        self.feature_set = feature_set
        self.backbone = backbone
        self.ngcc = ngcc  # the NGCC + MS extractor (frozen once pre-trained)
        (channels, bins), *_ = parts
        self.register_buffer("mean", torch.zeros(channels, 1, bins))
        self.register_buffer("std", torch.ones(channels, 1, bins))
        self.lags = LagProjection(13) if feature_set == "ngcc-ms" else None

    def train(self, mode: bool = True) -> SeldNetwork:
        """The frozen NGCC stays in eval mode (its BatchNorm never updates: module docstring
        of :mod:`perloc.methods.seld.ngcc_features`)."""
        super().train(mode)
        if self.ngcc is not None:
            self.ngcc.eval()
        return self

    def forward(self, parts: list[Tensor]) -> Tensor:
        x = parts[0]
        if self.lags is None:
            x = (x - self.mean) / self.std
        else:
            x = torch.cat([x, self.lags(parts[1])], dim=1)
        return self.backbone(x)


def _in_shape(feature_set: str, ngcc_channels: int = 16) -> tuple[int, int]:
    """(channels, bins) the backbone sees."""
    parts = shape_of(feature_set, ngcc_channels).parts
    return (4 + parts[1][0], 64) if feature_set == "ngcc-ms" else parts[0]


@dataclass
class _Files:
    """Training sequences in memory: parts [S, ch, 250, F] and labels [S, 50, 6, 5, C]."""

    parts: list[np.ndarray]
    labels: np.ndarray


class SeldLearned(ModelState):
    """Base of the learned SELD methods; subclasses set ``card``, ``feature_set`` and
    ``backbone(params, channels, bins)``."""

    card: MethodCard
    feature_set: str

    def __init__(self, params) -> None:
        self.params = params
        self.model: SeldNetwork | None = None
        self.ngcc = None
        self.inputs: FileFeatures | None = None

    @staticmethod
    def backbone(params, channels: int, bins: int) -> nn.Module:
        raise NotImplementedError

    def ngcc_params(self) -> NgccSeldParams:
        p = self.params
        return NgccSeldParams(channels=p.ngcc_channels, out_channels=p.ngcc_out_channels,
                              sinc_kernel=p.ngcc_sinc_kernel)

    def build(self) -> SeldNetwork:
        c = self.params.ngcc_out_channels if self.feature_set == "ngcc-ms" else 16
        channels, bins = _in_shape(self.feature_set, c)
        ngcc = None
        if self.feature_set == "ngcc-ms":
            ngcc = self.ngcc if self.ngcc is not None else NgccSeld(self.ngcc_params())
        return SeldNetwork(self.feature_set, self.backbone(self.params, channels, bins),
                           shape_of(self.feature_set, c).parts, ngcc)

    def paper_model(self) -> nn.Module:
        return self.model if self.model is not None else self.build()

    # -- data ---------------------------------------------------------------------------
    def _file_parts(self, audio: np.ndarray, n_label: int) -> list[np.ndarray]:
        return self.inputs(audio, n_label)

    def _training_files(self, training, split: str) -> _Files:
        parts: list[list[np.ndarray]] = []
        labels = []
        for stem in training.files(split):
            n_label = training.n_label_frames(stem)
            for audio, events in training.views(stem):
                file_parts = self._file_parts(audio, n_label)
                whole = max(1, n_label // LABELS_PER_SEQUENCE)
                parts.append([sequences(p)[:whole] for p in file_parts])
                y = training.labels(events, whole * LABELS_PER_SEQUENCE)
                labels.append(y.reshape(whole, LABELS_PER_SEQUENCE, *y.shape[1:]))
        stacked = [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        return _Files(stacked, np.concatenate(labels))

    def _fit_scaler(self, files: _Files) -> None:
        if self.feature_set == "ngcc-ms":
            return
        scaler = fit_scaler([files.parts[0]])  # every training sequence [S, ch, 250, F]
        self.model.mean.copy_(device.tensor(scaler.mean[:, None], torch.float32))
        self.model.std.copy_(device.tensor(scaler.std[:, None], torch.float32))

    # -- training -----------------------------------------------------------------------
    def optimization(self, ctx: FitContext) -> Optimization:
        total = ctx.epochs * ctx.steps_per_epoch
        warmup = int(round(ctx.options.get("warmup_fraction", 5 / 300) * total))
        return Optimization(optimizer="adamw", weight_decay=0.05, no_decay_1d=True,
                            schedule="warmup-cosine", warmup_steps=warmup, maximize=True,
                            keep_last=True)

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        history: dict[str, list[float]] = {}
        if self.feature_set == "ngcc-ms":
            self.ngcc, history = pretrained_extractor(self.ngcc_params(), training, ctx)
        torch.manual_seed(ctx.seed)
        folder = Path(ctx.checkpoint).parent / "features"
        self.inputs = FileFeatures(self.feature_set, folder, self.ngcc)
        self.model = device.build(self.build)
        files = self._training_files(training, "train")
        self._fit_scaler(files)
        val = list(training.files("val"))

        def make_batch(rng):
            idx = rng.integers(0, len(files.labels), ctx.batch_size)
            return ([device.host_tensor(p[idx]) for p in files.parts],
                    device.host_tensor(files.labels[idx]))

        def loss(model, parts, labels):
            return adpit_loss(model(parts), labels, relative_distance=True)

        def validate(model):
            return self._validate(model, training, val)

        state = train(self.model, ctx, make_batch, loss, validate, score_key="F",
                      optimization=self.optimization(ctx))
        return {**history, **state.history}

    def _validate(self, model, training, stems) -> dict[str, float]:
        config = SeldConfig(n_classes=self.params.n_classes)
        total = np.zeros(config.width)
        for stem in stems:
            n_label = training.n_label_frames(stem)
            audio, events = training.recording(stem)  # not the 8 ACS views: one is scored
            total += file_stats(events, self._events(audio, n_label, model), config)
        result = scores(total, config)
        return {"F": float(result["F"]) * 100.0, "DOAE": float(result["DOAE"])}

    # -- prediction ---------------------------------------------------------------------
    def _events(self, audio: np.ndarray, n_label: int, model=None) -> DcaseEvents:
        model = self.model if model is None else model
        parts = [device.tensor(sequences(p)) for p in self._file_parts(audio, n_label)]
        model.eval()
        with torch.inference_mode():
            out = torch.cat([model([p[i:i + 8] for p in parts])
                             for i in range(0, len(parts[0]), 8)])
        out = device.host(out.flatten(0, 1)[:n_label])  # [frames, 3, 4, C]
        frame, cls, xyz, dist = decode(out)
        return DcaseEvents(frame, cls, np.zeros(len(frame), np.int64), xyz, dist)

    def predict(self, batch: Batch) -> Batch:
        """Batch with ``events`` (DcaseEvents per file) from each file's ``audio``."""
        events = np.empty(len(batch), dtype=object)
        for i, audio in enumerate(batch["audio"]):
            events[i] = self._events(audio, audio.shape[-1] // LABEL_HOP)
        return Batch({"events": events}, dict(batch.meta))


@dataclass(frozen=True)
class SeldnetMethodParams(SeldnetParams):
    """The DCASE2024 SELDnet sizes (64 filters, GRU 128, 2 attention layers)."""


@dataclass(frozen=True)
class CstFormerMethodParams(CstFormerParams):
    """CST-Former Small by default (``size=large`` for the Large rows)."""


@dataclass(frozen=True)
class _NgccFields:
    """The frozen extractor of NGCC + MS (Paper VI: 32 channels, C = 16, 479-tap SincNet)."""

    ngcc_channels: int = 32
    ngcc_out_channels: int = 16
    ngcc_sinc_kernel: int = 479


@dataclass(frozen=True)
class SeldnetNgccParams(SeldnetMethodParams, _NgccFields):
    """SELDnet on NGCC + MS."""


@dataclass(frozen=True)
class CstFormerNgccParams(CstFormerMethodParams, _NgccFields):
    """CST-Former on NGCC + MS."""


def _seldnet(params: SeldnetMethodParams, channels: int, bins: int) -> nn.Module:
    return Seldnet(channels, bins, params)


def _cst_former(params: CstFormerMethodParams, channels: int, bins: int) -> nn.Module:
    if bins == 382 and params.size == "small":
        params = dataclasses.replace(params, size="small-salsa")
    return CstFormer(channels, bins, p=params)


_NETWORKS = {
    "seldnet": ((SeldnetMethodParams, SeldnetNgccParams), _seldnet,
                "DCASE2024 audio-only SELDnet baseline (Politis et al.; partha2409 baseline)"),
    "cst-former": ((CstFormerMethodParams, CstFormerNgccParams), _cst_former,
                   "CST-Former (Shul & Choi, ICASSP 2024), as trained in Paper VI"),
}
_FEATURE_NOTES = {"gcc-ms": "log-mel + GCC-PHAT", "salsa-lite": "SALSA-Lite",
                  "ngcc-ms": "log-mel + frozen multi-target NGCC-PHAT (Paper VI)"}


def _register() -> None:
    for network, ((plain, with_ngcc), backbone, reference) in _NETWORKS.items():
        for feature_set in FEATURE_SETS:
            name = f"{network}-{feature_set}"
            params = with_ngcc if feature_set == "ngcc-ms" else plain
            card = MethodCard(name=name, task="seld", kind="learned", params=params,
                              reference=reference,
                              summary=f"{network} on {_FEATURE_NOTES[feature_set]}")
            cls = type(name.replace("-", "_"), (SeldLearned,),
                       {"card": card, "feature_set": feature_set,
                        "backbone": staticmethod(backbone)})
            METHODS.add(name, cls, ())


_register()
