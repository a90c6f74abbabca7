"""3DMatch descriptors as harness methods (spec dold_pointtnt.md §6): ``fpfh`` (classical),
``dip`` (DIP's T-Net + PointNet) and ``point-tnt-dip`` (Paper II's Point-TnT inside DIP's
pipeline).

Every method maps a test pair's two fragments (column ``fragments``) to one descriptor per
keypoint, predicting ``pair = (F_i [K, D], F_j [K, D])``; the task matches and scores them
(:mod:`perloc.metrics.points`). A fragment's descriptors are computed once and reused by every
pair that names it (memo keyed by the fragment, kept for the scenes of the current batch).

``point-tnt-dip``: each keypoint's 256-point LRF patch (radius 0.52 m, divided by it:
:mod:`perloc.datasets.matching_data`) goes through Point-TnT (DIP's TNet and PointNet removed,
so no Chamfer term) with M = 48 anchors of k = 10 neighbours; its global feature Z [2 d_f] is
mapped by one Linear to 32 numbers and L2-normalised (the projection is unpublished: assumed,
as the spec says). Trained with the hardest-contrastive loss (:func:`hardest_contrastive`),
AdamW weight decay 0.1 (biases exempt), cosine decay from the profile's lr (paper 1e-4, 10
epochs, no augmentation); one step is one training fragment pair of 256 patch pairs; the last
epoch is kept. Validation: on held-out training pairs, the share of anchor patches whose
nearest positive descriptor is their own partner (a curve, not a selection).

``dip``: the same patches through DIP's network (:class:`~perloc.methods.points.baselines.
DipNet`), loss = hardest-contrastive + the Chamfer term of the T-Net-aligned anchor and positive
patches (:func:`chamfer`), DIP's SGD recipe (momentum 0.9, L2 1e-3, lr x 0.1 at 15/40 and
30/40 of the steps), the same steps, validation and last-epoch rule.
"""

from __future__ import annotations

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
from perloc.datasets.matching_data import voxel_downsample
from perloc.methods.checks import require_positive, require_positive_ints
from perloc.methods.points.baselines import DipNet
from perloc.methods.points.fpfh import fpfh
from perloc.methods.points.ops import farthest_point_sample
from perloc.methods.points.point_tnt import point_tnt
from perloc.methods.training import ModelState, Optimization, train

__all__ = ["DipMethod", "FpfhMethod", "PatchDescriptor", "PointTnTDipMethod", "chamfer",
           "hardest_contrastive"]

TASK = "points-3dmatch"
POS_MARGIN, NEG_MARGIN = 0.1, 1.4
DESCRIBE_CHUNK = 256
HELD_OUT_PAIRS = 4
PATCH_DRAW_SEED = 0   # which 256 of a test patch's neighbours: the same draw for every seed


def hardest_contrastive(anchor: Tensor, positive: Tensor, pos_margin: float = POS_MARGIN,
                        neg_margin: float = NEG_MARGIN) -> Tensor:
    """FCGF-style loss of n matching descriptor pairs (rows of ``anchor`` and ``positive``):

    L = 1/n sum_i relu(|a_i - p_i| - m_p)^2
        + 1/2 (1/n sum_i relu(m_n - min_{j != i} |a_i - p_j|)^2
               + 1/n sum_j relu(m_n - min_{i != j} |a_i - p_j|)^2)

    with m_p = 0.1 and m_n = 1.4; the hardest negatives are searched within the batch."""
    dist = torch.cdist(anchor, positive)
    pos = F.relu(dist.diagonal() - pos_margin).pow(2).mean()
    off = dist + torch.eye(len(dist), dtype=dist.dtype, device=dist.device) * 1e6
    rows = F.relu(neg_margin - off.min(dim=1).values).pow(2).mean()
    cols = F.relu(neg_margin - off.min(dim=0).values).pow(2).mean()
    return pos + 0.5 * (rows + cols)


class TrainingSteps:
    """The patch pairs of each training pair, drawn once and kept (DIP caches them too):
    ``pairs_per_step`` correspondences by farthest-point sampling on fragment i's side from a
    start seeded by the pair's index."""

    def __init__(self, training) -> None:
        self.training = training
        self._kept: dict = {}

    def __call__(self, index: int):
        if index not in self._kept:
            xyz = device.host_tensor(self.training.anchor_points(index))
            n = min(self.training.pairs_per_step, len(xyz))
            gen = torch.Generator().manual_seed(index)
            rows = device.host(farthest_point_sample(xyz[None], n, "random", gen)[0])
            self._kept[index] = self.training.patch_pairs(index, rows)
        return self._kept[index]


class DescriptorMethod:
    """Shared ``predict``: one :meth:`describe` per fragment, memoised by fragment key."""

    card: MethodCard

    def describe(self, fragment) -> np.ndarray:
        raise NotImplementedError

    def predict(self, batch: Batch) -> Batch:
        memo = getattr(self, "_memo", {})
        scenes = {f.scene for pair in batch["fragments"] for f in pair}
        memo = {k: v for k, v in memo.items() if v[0] in scenes}
        out = np.empty(len(batch), dtype=object)
        for r, pair in enumerate(batch["fragments"]):
            for f in pair:
                if f.key not in memo:
                    memo[f.key] = (f.scene, self.describe(f))
            out[r] = tuple(memo[f.key][1] for f in pair)
        self._memo = memo
        return Batch({"pair": out}, dict(batch.meta))


@dataclass(frozen=True)
class FpfhParams:
    """Open3D's registration recipe: a ``voxel`` support cloud, normals from up to
    ``normal_nn`` points within ``normal_radius``, histograms over up to ``feature_nn`` within
    ``feature_radius`` (metres)."""

    voxel: float = 0.05
    normal_radius: float = 0.10
    feature_radius: float = 0.25
    normal_nn: int = 30
    feature_nn: int = 100

    def __post_init__(self) -> None:
        require_positive_ints(self, ("normal_nn", "feature_nn"))
        for name in ("voxel", "normal_radius", "feature_radius"):
            require_positive(name, getattr(self, name))


class FpfhMethod(DescriptorMethod):
    card = MethodCard("fpfh", TASK, "classical", FpfhParams,
                      "Rusu, Blodow & Beetz, ICRA 2009",
                      "Fast Point Feature Histograms (33 bins) at each keypoint over a voxel "
                      "support cloud", capabilities=frozenset({"perm_invariant"}))

    def __init__(self, params: FpfhParams = FpfhParams()) -> None:
        self.params = params

    def describe(self, fragment) -> np.ndarray:
        p = self.params
        support = voxel_downsample(fragment.cloud, p.voxel)
        return fpfh(support, fragment.keypoints, p.normal_radius, p.feature_radius,
                    p.normal_nn, p.feature_nn).astype(np.float32)


class PatchDescriptor(nn.Module):
    """Point-TnT over an LRF patch -> Z -> Linear(2 d_f -> out) -> L2 normalised."""

    def __init__(self, size: int, depth: int, anchors: int, k: int, emb_dims: int,
                 out_dims: int, n_points: int) -> None:
        super().__init__()
        self.backbone = point_tnt(size, 2, n_points=n_points, anchors=anchors, k=k,
                                  depth=depth, emb_dims=emb_dims)
        self.backbone.head = nn.Identity()   # no classifier: the descriptor head replaces it
        self.project = nn.Linear(2 * emb_dims, out_dims)

    def forward(self, patches: Tensor) -> Tensor:
        return F.normalize(self.project(self.backbone.features(patches)), dim=-1)


@dataclass(frozen=True)
class TnTDipParams:
    """Point-TnT-``size`` over 256-point patches with M = ``anchors``, k neighbours, ``depth``
    blocks, d_f ``emb_dims``; a ``out_dims``-d descriptor (DIP's 32)."""

    size: int = 3
    depth: int = 4
    anchors: int = 48
    k: int = 10
    emb_dims: int = 1024
    out_dims: int = 32
    patch_points: int = 256

    def __post_init__(self) -> None:
        require_positive_ints(self, ("size", "depth", "anchors", "k", "emb_dims", "out_dims",
                                     "patch_points"))


class LearnedDescriptor(DescriptorMethod, ModelState):
    """Shared fit / describe of a patch network (module doc); subclasses give ``build``,
    ``step_loss`` and ``optimization``."""

    patch_points = 256

    def __init__(self, params) -> None:
        self.params = params
        self.model = device.build(self.build)

    def build(self) -> nn.Module:
        raise NotImplementedError

    def step_loss(self, model: nn.Module, anchor: Tensor, positive: Tensor) -> Tensor:
        raise NotImplementedError

    def optimization(self, ctx: FitContext) -> Optimization:
        raise NotImplementedError

    def embed(self, patches: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.inference_mode():
            return device.host(torch.cat([self.model(device.tensor(patches[i:i + DESCRIBE_CHUNK]))
                                          for i in range(0, len(patches), DESCRIBE_CHUNK)]))

    def describe(self, fragment) -> np.ndarray:
        return self.embed(fragment.patches(PATCH_DRAW_SEED, points=self.patch_points))

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        torch.manual_seed(ctx.seed)
        self.model = device.build(self.build)
        held = max(1, min(HELD_OUT_PAIRS, len(training.pairs) // 5))
        fit_pairs = list(range(len(training.pairs) - held)) or [0]
        val_pairs = list(range(len(training.pairs) - held, len(training.pairs)))
        steps = TrainingSteps(training)

        def make_batch(rng):
            step = steps(int(rng.choice(fit_pairs)))
            return (device.host_tensor(step.anchor), device.host_tensor(step.positive)), None

        def validate(_):
            right = []
            for index in val_pairs:
                step = steps(index)
                a, b = self.embed(step.anchor), self.embed(step.positive)
                nearest = np.argmin(((a[:, None] - b[None]) ** 2).sum(-1), axis=1)
                right.append(nearest == np.arange(len(a)))
            return {"match_accuracy": float(100.0 * np.concatenate(right).mean())}

        return train(self.model, ctx, make_batch,
                     lambda model, x, _: self.step_loss(model, *x), validate,
                     score_key="match_accuracy", optimization=self.optimization(ctx)).history

    def inference_probe(self) -> tuple[nn.Module, Tensor]:
        gen = torch.Generator().manual_seed(0)
        return self.model, torch.randn(1, self.patch_points, 3, generator=gen,
                                       device=gen.device) * 0.3


class PointTnTDipMethod(LearnedDescriptor):
    card = MethodCard("point-tnt-dip", TASK, "learned", TnTDipParams,
                      "Berg, Oskarsson & O'Connor, ICPR 2022 (Paper II); DIP: Poiesi & "
                      "Boscaini, ICPR 2020",
                      "Point-TnT descriptor of LRF-canonicalised patches, hardest-contrastive "
                      "training (DIP's pipeline without its TNet)",
                      capabilities=frozenset({"perm_invariant"}))

    def __init__(self, params: TnTDipParams = TnTDipParams()) -> None:
        self.patch_points = params.patch_points
        super().__init__(params)

    def build(self) -> PatchDescriptor:
        p = self.params
        return PatchDescriptor(p.size, p.depth, p.anchors, p.k, p.emb_dims, p.out_dims,
                               p.patch_points)

    def step_loss(self, model, anchor, positive):
        return hardest_contrastive(model(anchor), model(positive))

    def optimization(self, ctx):
        return Optimization(optimizer="adamw", weight_decay=0.1, no_decay=("bias",),
                            schedule="warmup-cosine", warmup_steps=0, maximize=True,
                            keep_last=True)


def chamfer(a: Tensor, b: Tensor) -> Tensor:
    """DIP's Chamfer term of two point sets per patch [B, N, 3]:
    1/2 (mean_i min_j |a_i - b_j|^2 + mean_j min_i |a_i - b_j|^2), averaged over patches."""
    d = torch.cdist(a, b).pow(2)
    return 0.5 * (d.min(dim=2).values.mean() + d.min(dim=1).values.mean())


@dataclass(frozen=True)
class DipParams:
    """DIP's network at ``width`` (1024 in DIP) with an ``out_dims`` descriptor."""

    width: int = 1024
    out_dims: int = 32

    def __post_init__(self) -> None:
        require_positive_ints(self, ("width", "out_dims"))


class DipMethod(LearnedDescriptor):
    card = MethodCard("dip", TASK, "learned", DipParams,
                      "Poiesi & Boscaini, ICPR 2020 (DIP)",
                      "DIP: T-Net + PointNet descriptor of LRF-canonicalised patches, "
                      "hardest-contrastive + Chamfer loss, SGD",
                      capabilities=frozenset({"perm_invariant"}))

    def build(self) -> DipNet:
        return DipNet(self.params.width, self.params.out_dims)

    def step_loss(self, model, anchor, positive):
        desc_a, moved_a = model.aligned(anchor)
        desc_p, moved_p = model.aligned(positive)
        return hardest_contrastive(desc_a, desc_p) + chamfer(moved_a, moved_p)

    def optimization(self, ctx):
        """DIP's recipe: SGD, momentum 0.9, L2 1e-3 on every parameter, lr x 0.1 after 15 of
        every 40 epochs' worth of steps (its StepLR(15) over 40 epochs)."""
        return Optimization(optimizer="sgd", momentum=0.9, weight_decay=1e-3,
                            schedule="piecewise", pieces=((15 / 40, 1.0), (15 / 40, 0.1),
                                                          (10 / 40, 0.01)),
                            maximize=True, keep_last=True)


for _cls in (FpfhMethod, PointTnTDipMethod, DipMethod):
    METHODS.add(_cls.card.name, _cls)
