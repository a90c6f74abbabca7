"""Geometric feature matching on 3DMatch (Paper II §5, Table 5): feature-match recall of the
Point-TnT descriptor in DIP's pipeline and of FPFH.

Data: ``--data-root`` holds the test scenes (directly or in ``3DMatch_test/``) and, for learned
methods, the training fragments in ``3DMatch_train/``; without it the stand-ins
``3dmatch-sim`` and ``3dmatch-train-sim`` are written in those layouts and read by the same
adapters. One example is one gt.log pair; each fragment is downsampled at 1 cm and the same
keypoints (5,000 in the protocol) are given to every method. Scores (percent): FMR (mutual
nearest neighbours, tau_1 = 0.10 m, tau_2 = 0.05; mean over scenes), the population std over
scenes, the mean inlier ratio; per scene through ``--split scene`` or the per-scene slices.
The training curve (held-out patch match accuracy) is the share of a held-out training pair's
256 anchor patches whose nearest positive descriptor is their own partner.
"""

from __future__ import annotations

from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import DataRequest, Profile, Reported, TaskSpec
from perloc.bench.report.curves import TrainingCurves
from perloc.bench.report.efficiency import Efficiency
from perloc.bench.report.tables import SliceTables
from perloc.datasets.threedmatch import TEST_SCENES
from perloc.metrics.points import matching_cards

METHODS = ("point-tnt-dip", "dip", "fpfh")

PROFILES = {
    "smoke": Profile(
        "smoke", "3dmatch-sim smoke size (1 scene of 3 fragments, 3,000 points each; 300 "
        "keypoints per fragment); Point-TnT-1 descriptor with 1 block, 16 anchors of 8, d_f 32, "
        "and DIP at width 32, each 2 epochs of 2 steps of 32 patch pairs (lr 1e-3); FPFH at "
        "Open3D's recipe; seed 0",
        grid={}, dataset={"size": "smoke", "keypoints": 300, "pairs_per_step": 32},
        batch_size=8, bootstrap=200, torch_threads=1,
        train={"epochs": 2, "steps_per_epoch": 2, "batch_size": 32, "lr": 1e-3},
        method_params={"point-tnt-dip": {"size": 1, "depth": 1, "anchors": 16, "k": 8,
                                         "emb_dims": 32},
                       "dip": {"width": 32}}),
    "default": Profile(
        "default", "3dmatch-sim default size (8 test scenes x 10 fragments of 20,000 points, "
        "78 gt.log pairs; 1,000 keypoints per fragment, the protocol's 5,000 in the paper "
        "profile); training on 3dmatch-train-sim (8 rooms x 10 fragments, 72 overlapping "
        "pairs, 4 held out for the validation curve); Point-TnT-1 descriptor (h 1, d_Y 64) "
        "with 2 blocks, M 48, k 10, d_f 256 (191,648 parameters; paper: Point-TnT-3 sizes), "
        "AdamW lr 1e-3 (paper: 1e-4) weight decay 0.1, cosine; DIP at width 256 (170,729 "
        "parameters; DIP: 1024) with DIP's SGD recipe (lr 1e-3, momentum 0.9, L2 1e-3, x 0.1 "
        "at 15/40 and 30/40); each 8 epochs of 40 steps of 256 patch pairs (paper: 10 epochs "
        "of every training pair; DIP: 40); FPFH at Open3D's recipe (5 cm support, 10 / 25 cm "
        "radii); fp32; seed 0 (a learned cell takes 35-40 min on one core of a busy 2-core "
        "machine; more seeds with --seeds)",
        grid={}, dataset={"size": "default", "keypoints": 1000, "pairs_per_step": 256},
        batch_size=8, seeds=(0,), torch_threads=1,
        train={"epochs": 8, "steps_per_epoch": 40, "batch_size": 256, "lr": 1e-3},
        method_params={"point-tnt-dip": {"size": 1, "depth": 2, "anchors": 48, "k": 10,
                                         "emb_dims": 256},
                       "dip": {"width": 256}}),
    "paper": Profile(
        "paper", "real 3DMatch under --data-root (3DMatch_test/ with the 8 benchmark scenes "
        "and 1,623 pairs; 3DMatch_train/ fragments with .info.txt poses); 5,000 keypoints; "
        "Point-TnT-3 descriptor (M 48, k 10, 4 blocks, d_f 1024) trained 10 epochs of 3,000 "
        "steps, each one training pair drawn at random (256 patch pairs), AdamW lr 1e-4 "
        "weight decay 0.1, cosine",
        grid={}, dataset={"size": None, "keypoints": 5000, "pairs_per_step": 256},
        needs_real_data=True, batch_size=8, seeds=(0,),
        train={"epochs": 10, "steps_per_epoch": 3000, "batch_size": 256, "lr": 1e-4}),
}


def _roots(request: DataRequest):
    root = request.real_root("the 3DMatch test scenes (and 3DMatch_train/ for training)")
    if root is None:
        return None, None
    test = root / "3DMatch_test"
    return (test if test.is_dir() else root), root / "3DMatch_train"


def _digests(request: DataRequest):
    from perloc.datasets.digest import ContentDigests

    return ContentDigests(request.cache_dir / "caches" / "digests-v1.sqlite")


def make_dataset(request: DataRequest):
    from perloc.datasets.matching_data import MatchingTest
    from perloc.datasets.synth.threedmatch_sim import write_threedmatch_sim
    from perloc.datasets.threedmatch import ThreeDMatch

    test, _ = _roots(request)
    if test is None:
        size = request.profile.dataset["size"]
        test = write_threedmatch_sim(request.cache_dir / "data" / f"3dmatch-sim-{size}", size)
    return MatchingTest(ThreeDMatch(test, digests=_digests(request)),
                        keypoints=request.profile.dataset["keypoints"])


def make_training(request: DataRequest):
    from perloc.datasets.matching_data import MatchingTraining
    from perloc.datasets.synth.threedmatch_sim import write_threedmatch_train_sim
    from perloc.datasets.threedmatch_train import ThreeDMatchTrain

    _, train = _roots(request)
    if train is None:
        size = request.profile.dataset["size"]
        train = write_threedmatch_train_sim(
            request.cache_dir / "data" / f"3dmatch-train-sim-{size}", size)
    return MatchingTraining(ThreeDMatchTrain(train, digests=_digests(request)),
                            pairs_per_step=request.profile.dataset["pairs_per_step"])


_T5 = "Paper II Table 5 (3DMatch FMR, tau_1 0.10 m, tau_2 0.05, 5,000 keypoints; %)"


def _reported() -> tuple[Reported, ...]:
    return (Reported(_T5, "dip (DIP, PointNet descriptor)", "3dmatch",
                     {"fmr": 94.8, "fmr_std": 4.6}),
            Reported(_T5, "point-tnt-dip", "3dmatch", {"fmr": 96.8, "fmr_std": 3.1},
                     "38 % fewer failed pairs than DIP"))


POINTS_3DMATCH = TASKS.add("points-3dmatch", TaskSpec(
    name="points-3dmatch", description="Geometric feature matching on 3DMatch (Paper II "
    "Table 5): feature-match recall of learned and classical local descriptors",
    dataset="3dmatch", metrics=matching_cards(len(TEST_SCENES)), primary="fmr",
    default_methods=METHODS, profiles=PROFILES,
    tolerances={"fmr": 5.0, "fmr_std": 5.0, "inlier_ratio": 5.0},
    make_dataset=make_dataset, make_training=make_training, target="pair",
    slice_by=("scene",), reported=_reported(), headline=("fmr", "inlier_ratio"),
    reports=(SliceTables(("scene",), {"scene": list(TEST_SCENES)}), Efficiency(),
             TrainingCurves("val_match_accuracy", "held-out patch match accuracy %",
                            lower_is_better=False)),
    example_unit="fragment pair"))
