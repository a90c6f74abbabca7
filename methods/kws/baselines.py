"""The MHAtt-RNN teacher and DS-CNN as keyword-spotting methods (Paper III's comparison table).

Both use the harness's shared 98 x 40 MFCC front end and training batches (the same
augmentation as KWT). Recipe of MHAtt-RNN (Rybakov et al. 2020, spec kws_fl.md 3.2): Adam,
no label smoothing, piecewise-constant lr 1e-3 / 5e-4 / 2e-4 / 1e-4 over 1/3, 1/3, 1/6, 1/6 of
the steps (40k / 40k / 20k / 20k in the original 120k). DS-CNN is trained with that same
recipe here; Hello Edge's own schedule (Adam, 5e-4 -> 1e-4 in steps) has the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.methods.kws.classifier import KeywordClassifier, check_precision
from perloc.methods.kws.ds_cnn_model import DsCnn, DsCnnParams
from perloc.methods.kws.mhatt_rnn_model import MhattRnn, MhattRnnParams
from perloc.methods.training import Optimization

PIECES = ((1 / 3, 1.0), (1 / 3, 0.5), (1 / 6, 0.2), (1 / 6, 0.1))


def piecewise_adam(precision: str) -> Optimization:
    return Optimization(optimizer="adam", eps=1e-7, schedule="piecewise", pieces=PIECES,
                        autocast="bf16" if precision == "bf16" else None, maximize=True)


@dataclass(frozen=True)
class MhattMethodParams:
    """Paper config by default (756,689 parameters with 12 classes)."""

    conv_filters: int = 10
    rnn_units: int = 128
    heads: int = 4
    dense: int = 64
    dropout: float = 0.2
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_precision(self.precision)

    def model_params(self, n_classes: int) -> MhattRnnParams:
        return MhattRnnParams(n_classes=n_classes, conv_filters=self.conv_filters,
                              rnn_units=self.rnn_units, heads=self.heads, dense=self.dense,
                              dropout=self.dropout)


class MhattRnnMethod(KeywordClassifier):
    card = MethodCard(
        name="mhatt-rnn", task="kws", kind="learned", params=MhattMethodParams,
        reference="Rybakov et al., Interspeech 2020; reproduced in Paper III Table 3",
        summary="conv + 2 BiGRU + 4-head attention from the middle step; KWT's teacher",
        aliases=("att-rnn-mh",))

    @staticmethod
    def build(params: MhattMethodParams, n_classes: int) -> nn.Module:
        return MhattRnn(params.model_params(n_classes))

    def optimization(self, ctx: FitContext) -> Optimization:
        return piecewise_adam(self.params.precision)


@dataclass(frozen=True)
class DsCnnMethodParams:
    """DS-CNN-L by default (276 filters, 5 blocks; 414,012 parameters with 12 classes)."""

    filters: int = 276
    blocks: int = 5
    first_stride: tuple[int, int] = (2, 1)
    dropout: float = 0.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_precision(self.precision)

    def model_params(self, n_classes: int) -> DsCnnParams:
        return DsCnnParams(n_classes=n_classes, filters=self.filters, blocks=self.blocks,
                           first_stride=tuple(self.first_stride), dropout=self.dropout)


class DsCnnMethod(KeywordClassifier):
    card = MethodCard(
        name="ds-cnn", task="kws", kind="learned", params=DsCnnMethodParams,
        reference="Zhang et al. 2017 (Hello Edge), DS-CNN-L; quoted in Paper III Table 3",
        summary="conv + depthwise-separable conv blocks + global average pooling")

    @staticmethod
    def build(params: DsCnnMethodParams, n_classes: int) -> nn.Module:
        return DsCnn(params.model_params(n_classes))

    def optimization(self, ctx: FitContext) -> Optimization:
        return piecewise_adam(self.params.precision)


for _method in (MhattRnnMethod, DsCnnMethod):
    METHODS.add(_method.card.name, _method, _method.card.aliases)
