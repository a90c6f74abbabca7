"""Paper I's methods on one shared backbone and FC trunk (spec dold_pointtnt.md §1.4-§1.8).

=================  ==========================================  ==============================
``direct``         FC(D) regression, half-MSE on the target     raw output + the training mean
                   minus the training mean (the code does so
                   for UTK; here for every dataset)
``rvc``            one softmax over the base classes (UTK 40    expected value (continuous) /
                   ages, BIWI 151 degrees per angle, HCI 5)     argmax (HCI)
``dold-equal``     the code's equal-width heads (UTK w = 5      mean over heads of each head's
                   with padding centres: 5 x 10; BIWI w = 3     expected value (centroids as
                   over -75..74: 3 x 50 per angle; HCI w = 2)   values); HCI: MAP
``dold-random``    M heads of L centres drawn without          as dold-equal
                   replacement, redrawn per seed (UTK 30 x 10
                   from 21..60; BIWI 30 x 40 from -78:0.01:78,
                   the code's L; HCI 10 x 3)
``dold-ordinal``   head n: groups "< n", "= n", "> n" of the   MAP of the marginalised base-
                   base classes (HCI: 5 heads of 2-3 outputs)  class posterior (HCI); expected
                                                               value of it (continuous)
=================  ==========================================  ==============================

Every method: backbone (``resnet50`` randomly initialised, or the harness's small ``cnn``) ->
FC(``trunk``) + ReLU per label dimension (Direct: one shared trunk) -> its head. Training as
the paper (§1.8): Adam (0.9, 0.999, 1e-8), coupled L2 ``weight_decay`` on weights (biases
exempt, as MATLAB's default L2 factors), lr x0.1 after each third of the run (the paper's
every 10 of 30 epochs), the last epoch evaluated; the test set draws the monitoring curve
only. A prediction carries ``members`` [B, D, M], every head's expected value, for the
ambiguity decomposition (for MAP-decoded HCI rows too: the identity is about those values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.datasets.ordinal_data import LABEL_SPACES, LabelSpace
from perloc.methods.checks import require_positive_ints
from perloc.methods.ordinal import bins as B
from perloc.methods.ordinal.nets import (
    BACKBONES,
    OrdinalNet,
    head_probabilities,
    label_diversity_loss,
    make_backbone,
)
from perloc.methods.training import ModelState, Optimization, train

PAPER1 = "Berg, Oskarsson & O'Connor, ICPR 2020 (Paper I)"
PREDICT_CHUNK = 256
# per dataset: (equal-width w, padding), (random bins L, heads M, centre grid)
EQUAL_WIDTH = {"utkface": (5, True), "biwi": (3, False), "hci": (2, False)}
RANDOM_BINS = {"utkface": (10, 30, np.arange(21, 61)),
               "biwi": (40, 30, np.round(np.arange(-7800, 7801) / 100, 2)),
               "hci": (3, 10, np.arange(5))}


@dataclass(frozen=True)
class OrdinalParams:
    """Backbone (``resnet50`` as the paper, or ``cnn``: ``width`` channels in its first
    block), FC trunk width, and for the label-diversity heads ``bins``/``heads`` (0: the
    paper's configuration for the dataset, see the module table)."""

    backbone: str = "resnet50"
    width: int = 32
    trunk: int = 2048
    bins: int = 0
    heads: int = 0

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, "
                             f"got {self.backbone!r}")
        require_positive_ints(self, ("width", "trunk"))
        if self.bins < 0 or self.heads < 0:
            raise ValueError("bins and heads must be >= 0 (0: the paper's configuration)")


PAPER_PIECES = ((1 / 3, 1.0), (1 / 3, 0.1), (1 / 3, 0.01))  # x0.1 every 10 of 30 epochs


def paper_optimization(ctx: FitContext) -> Optimization:
    """Adam with coupled L2 on weights, the paper's step decay (``lr_pieces`` in the recipe:
    (fraction of the run, lr factor) pairs; default x0.1 at each third), last epoch kept."""
    pieces = tuple(tuple(p) for p in ctx.options.get("lr_pieces", PAPER_PIECES))
    return Optimization(optimizer="adam", weight_decay=ctx.options.get("weight_decay", 1e-3),
                        no_decay=("bias",), schedule="piecewise", pieces=pieces, keep_last=True)


class OrdinalMethod(ModelState):
    """Shared fit / predict of the Paper I methods (see the module doc)."""

    card: MethodCard
    paper_dataset = "utkface"  # the dataset of the paper's parameter count

    def __init__(self, params: OrdinalParams) -> None:
        self.params = params
        self.model: OrdinalNet | None = None
        self.space: LabelSpace | None = None
        self.binset: B.BinSet | None = None
        self.offset = np.zeros(1)

    # --------------------------------------------------------------------------- heads

    def heads(self, space: LabelSpace, rng: np.random.Generator) -> tuple:
        """Per label dimension, the method's partitions (None: regression)."""
        raise NotImplementedError

    def _outputs(self, space: LabelSpace) -> tuple[int, ...]:
        if self.binset is None:
            return (len(space.dims),)
        return tuple(int(sum(p.size for p in dim)) for dim in self.binset.heads)

    def build(self, space: LabelSpace, seed: int) -> None:
        self.space = space
        heads = self.heads(space, np.random.default_rng([seed, 1020]))
        self.binset = None if heads is None else B.BinSet(heads, space.base)
        p, outputs = self.params, self._outputs(space)
        self.model = device.build(lambda: OrdinalNet(make_backbone(p.backbone, p.width), p.trunk,
                                                     outputs))

    def paper_model(self) -> OrdinalNet:
        """The trained network, or the card's configuration built for ``paper_dataset``."""
        if self.model is not None:
            return self.model
        other = type(self)(self.params)
        other.build(LABEL_SPACES[self.paper_dataset], seed=0)
        return other.model

    # --------------------------------------------------------------------------- loss

    def training_batch(self, training, size: int, rng: np.random.Generator
                       ) -> tuple[Tensor, Tensor]:
        """(images, targets float [B, D]) on the host; for the head methods the targets are
        encoded here already: each head's true flat output index, int64 [B, M]."""
        images, targets = training.batch(size, rng)
        if self.binset is None:
            return images, targets
        return images, device.host_tensor(self.binset.encode(device.host(targets)))

    def loss(self, model: OrdinalNet, images: Tensor, targets: Tensor) -> Tensor:
        """Half-MSE on ``targets`` (float [B, D]) for Direct; else the label-diversity loss of
        ``targets`` as :meth:`training_batch` encodes them (int64 [B, M])."""
        out = model(images)
        if self.binset is None:
            goal = targets.float() - device.tensor(self.offset, dtype=torch.float32)
            return 0.5 * F.mse_loss(out.float(), goal, reduction="none").sum(dim=1).mean()
        return label_diversity_loss(out, self._segment, len(self.binset.flat), targets)

    @property
    def _segment(self) -> Tensor:
        return device.tensor(self.binset.segment)

    # --------------------------------------------------------------------------- predict

    def estimates(self, images) -> tuple[np.ndarray, np.ndarray | None]:
        """(estimates [N, D], members [N, D, M] or None) for normalised images [N, 3, H, W]."""
        self.model.eval()
        with torch.inference_mode():
            out = torch.cat([self.model(device.tensor(images[i:i + PREDICT_CHUNK]))
                             for i in range(0, len(images), PREDICT_CHUNK)]).double()
        if self.binset is None:
            return device.host(out) + self.offset, None
        probs = device.host(head_probabilities(out, self._segment, len(self.binset.flat)))
        members = self.binset.members(probs)
        if self.space.kind == "ordinal":
            post = self.binset.class_posterior(probs)
            return self.binset.base[0][post.argmax(axis=1)][:, None], members
        return members.mean(axis=-1), members

    def predict(self, batch: Batch) -> Batch:
        """``target`` [B, D] (and ``members`` [B, D, M] for the head ensembles)."""
        estimate, members = self.estimates(np.asarray(batch["image"], dtype=np.float32))
        columns = {"target": estimate}
        if members is not None and members.shape[-1] > 1:
            columns["members"] = members
        return Batch(columns, dict(batch.meta))

    def validate(self, training) -> dict[str, float]:
        images, targets = training.monitor
        estimate, _ = self.estimates(images)
        return {"mae": float(np.abs(estimate - targets).mean())}

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        """Train with the paper's recipe; ``full_epochs`` in the recipe makes an epoch one
        pass over the training rows (the paper's epochs) whatever ``steps_per_epoch`` says."""
        if ctx.options.get("full_epochs"):
            ctx = dataclasses.replace(ctx, steps_per_epoch=-(-len(training) // ctx.batch_size))
        torch.manual_seed(ctx.seed)
        self.build(training.space, ctx.seed)
        self.offset = training.arrays[1].mean(axis=0) if self.binset is None \
            else np.zeros(len(training.space.dims))
        state = train(self.model, ctx, lambda rng: self.training_batch(training, ctx.batch_size,
                                                                       rng),
                      self.loss, lambda _: self.validate(training), score_key="mae",
                      optimization=paper_optimization(ctx))
        return state.history


def _card(name: str, summary: str) -> MethodCard:
    return MethodCard(name, "ordinal", "learned", OrdinalParams, PAPER1, summary)


def _per_dim(space: LabelSpace, make) -> tuple:
    return tuple(make(base) for base in space.base)


class Direct(OrdinalMethod):
    card = _card("direct", "regression: FC(D) on one shared trunk, half-MSE")

    def heads(self, space, rng):
        return None


class Rvc(OrdinalMethod):
    card = _card("rvc", "regression via classification: one softmax over the base classes")

    def heads(self, space, rng):
        return _per_dim(space, B.rvc)


class DoldEqual(OrdinalMethod):
    card = _card("dold-equal", "label diversity, equal-width shifted bins (the code's centred "
                 "bins with padding centres)")

    def heads(self, space, rng):
        width, pad = EQUAL_WIDTH[space.name]
        width = self.params.bins or width
        if space.name == "biwi":  # the code's grid is -75..74 (+75 is not a centre)
            return _per_dim(space, lambda b: B.equal_width_centred(-75, 74, width, pad))
        return _per_dim(space, lambda b: B.equal_width_centred(int(b[0]), int(b[-1]), width,
                                                               pad))


class DoldRandom(OrdinalMethod):
    card = _card("dold-random", "label diversity, randomized bins redrawn per seed")

    def heads(self, space, rng):
        bins, heads, grid = RANDOM_BINS[space.name]
        bins, heads = self.params.bins or bins, self.params.heads or heads
        return _per_dim(space, lambda b: B.randomized(grid, bins, heads, rng))


class DoldOrdinal(OrdinalMethod):
    card = _card("dold-ordinal", "label diversity for ordinal targets: head n separates "
                 "'< n', '= n', '> n' (HCI)")
    paper_dataset = "hci"

    def heads(self, space, rng):
        return _per_dim(space, B.ordinal_groups)


for _cls in (Direct, Rvc, DoldEqual, DoldRandom, DoldOrdinal):
    METHODS.add(_cls.card.name, _cls)
