"""Federated learning in FP8 (Paper IV): FP32 FedAvg against FP8 FedAvg with deterministic
(BQ) or stochastic (UQ) communication and UQ+ (server-side optimisation), on CIFAR-10/100
(LeNet, ResNet18-GN) and Speech Commands v2 35 words (KWT-1, MatchboxNet).

The ``setup`` condition picks the data and its partition (``cifar10-iid``, ``cifar10-dir0.3``,
``gsc-speaker`` ...); it is a *training* condition: each setup trains its own models and has its
own leaderboard section. Rounds run through Flower's ``Strategy`` and ``ClientApp`` objects on
an in-process grid (:mod:`perloc.methods.fl.grid`; the same objects run on Flower's simulation
engine or a SuperLink). Score: top-1 accuracy of the final global model on the central test
split (bootstrap CI over test examples), with the per-round test accuracy, the bytes of every
round and the communication gain at equal accuracy over FP32 FedAvg.
"""

from __future__ import annotations

from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import DataRequest, Profile, Reported, TaskSpec
from perloc.bench.report.communication import CommunicationGain
from perloc.bench.report.curves import TrainingCurves
from perloc.metrics.classification import KWS_METRICS

METHODS = ("fedavg", "fp8-fedavg-bq", "fp8-fedavg-uq", "fp8-fedavg-uq-plus")
_KWS_ROUND = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1, "lr_schedule": "cosine"}

PROFILES = {
    "smoke": Profile(
        "smoke", "cifar10-sim smoke size (500 training images in 4 iid clients, 200 test); "
        "FP32 FedAvg and FP8 FedAvg-UQ with the paper's LeNet (797,962 parameters); 10 rounds "
        "of 2 clients, 12 local SGD steps "
        "of 32 (lr 0.05 with momentum 0.9, which the paper does not use, weight decay 1e-3); "
        "the other variants (-m) 2 rounds, a plumbing check; E4M3; seed 0",
        grid={"setup": ("cifar10-iid",)}, dataset={"size": "smoke", "clients": 4},
        bootstrap=200, torch_threads=1, batch_size=256, methods=("fedavg", "fp8-fedavg-uq"),
        train={"epochs": 10, "steps_per_epoch": 12, "batch_size": 32, "lr": 0.05,
               "momentum": 0.9, "clients_per_round": 2, "optimizer": "sgd",
               "weight_decay": 1e-3, "rounds_per_checkpoint": 5,
               "per_method": {m: {"epochs": 2} for m in ("fp8-fedavg-bq", "fp8-fedavg-uq-plus",
                                                         "fp8-qat-det", "fp8-qat-rand")}}),
    "default": Profile(
        "default", "cifar10-sim default size (10,000 training images, 2,000 test) in 20 "
        "clients of 500 (the paper's client size), iid and Dirichlet(0.3); the paper's LeNet; "
        "30 rounds of 5 clients (C = 0.25; paper: 1000 rounds of 10 of 100), 5 local SGD "
        "steps of 50 per round (half a local epoch; paper: 5 epochs), lr 0.1, weight decay "
        "1e-3, random crop and flip; speech-commands-tts default size (35 words) with one "
        "client per training speaker, MatchboxNet 3x1x64 on MFCCs (KWT-1: -p model=kwt-1), 30 "
        "rounds of 10 clients, 5 local AdamW steps of 50 (lr 1e-3 cosine over the rounds, "
        "weight decay 0.1, SpecAugment); E4M3; seeds 0, 1, 2",
        grid={"setup": ("cifar10-iid", "cifar10-dir0.3", "gsc-speaker")},
        dataset={"size": "default", "clients": 20}, batch_size=500, seeds=(0, 1, 2),
        torch_threads=1, methods=METHODS,
        train={"epochs": 30, "steps_per_epoch": 5, "batch_size": 50, "lr": 0.1,
               "clients_per_round": 5, "optimizer": "sgd", "weight_decay": 1e-3,
               "setups": {"gsc-speaker": {**_KWS_ROUND, "clients_per_round": 10,
                                          "model": "matchboxnet"}}}),
    "paper": Profile(
        "paper", "real CIFAR-10/100 or Speech Commands v2 under --data-root (one setup per "
        "command: -w setup=...), 100 clients, 1000 rounds of 10 (C = 0.1), 5 local epochs "
        "(50 steps) of 50, SGD lr 0.1 weight decay 1e-3 (CIFAR); speaker-id: one client per "
        "speaker (2112), 500 rounds of 21, 50 AdamW steps (lr 1e-3 cosine, weight decay 0.1); "
        "-p model=resnet18-gn|matchboxnet for the other networks",
        grid={"setup": ("cifar10-iid", "cifar10-dir0.3", "cifar100-iid", "cifar100-dir0.3",
                        "gsc-iid", "gsc-speaker")},
        dataset={"size": None, "clients": 100}, needs_real_data=True, batch_size=500,
        seeds=(0, 1, 2), methods=METHODS,
        train={"epochs": 1000, "steps_per_epoch": 50, "batch_size": 50, "lr": 0.1,
               "clients_per_round": 10, "optimizer": "sgd", "weight_decay": 1e-3,
               "rounds_per_checkpoint": 10,
               "setups": {"gsc-iid": dict(_KWS_ROUND),
                          "gsc-speaker": {**_KWS_ROUND, "epochs": 500,
                                          "clients_per_round": 21}}}),
}


def _setup(request: DataRequest):
    from perloc.datasets.fl_data import setup_named

    return setup_named(request.grid["setup"][0])


def _cifar(request: DataRequest, data: str):
    from perloc.datasets.cifar import Cifar10, Cifar100
    from perloc.datasets.digest import ContentDigests
    from perloc.datasets.synth.cifar_sim import write_cifar_sim

    root = request.real_root(f"the real {data} python batches")
    if root is None:
        size = request.profile.dataset["size"]
        root = write_cifar_sim(request.cache_dir / "data" / f"{data}-sim-{size}", data, size)
    adapter = Cifar10 if data == "cifar10" else Cifar100
    return adapter(root, digests=ContentDigests(request.cache_dir / "caches" /
                                                "digests-v1.sqlite"))


def make_dataset(request: DataRequest):
    """The central test split of the cell's setup."""
    from perloc.bench.tasks.kws import keyword_clips
    from perloc.datasets.kws_data import KwsTest

    setup = _setup(request)
    if setup.modality == "audio":
        return KwsTest(keyword_clips(request, "35"))
    return _cifar(request, setup.data)


def make_training(request: DataRequest):
    """The cell's setup: the training split cut into clients (and the server's test split)."""
    from perloc.bench.tasks.kws import keyword_clips
    from perloc.datasets.fl_data import image_federation, keyword_federation

    setup, clients = _setup(request), int(request.profile.dataset["clients"])
    if setup.modality == "audio":
        return keyword_federation(setup, keyword_clips(request, "35"), clients, request.seed)
    return image_federation(setup, _cifar(request, setup.data), clients, request.seed)


_T1 = "Paper IV Table 1 (final test accuracy %, mean ± std over 3 seeds / gain vs FP32)"
_T2 = "Paper IV Table 2 (QAT ablation, iid, FP32 communication)"
_T3 = "Paper IV Table 3 (communication ablation, iid, deterministic QAT)"


def _reported() -> tuple[Reported, ...]:
    table1 = {  # (data, model, split): FP32, UQ, UQ+ as (mean, std, gain)
        ("cifar10", "lenet", "iid"): ((82.1, .1, 1), (82.0, .1, 4.1), (82.2, .3, 4.7)),
        ("cifar10", "lenet", "dir0.3"): ((77.1, .4, 1), (77.3, .9, 3.9), (77.7, .5, 3.9)),
        ("cifar10", "resnet18-gn", "iid"): ((92.0, .1, 1), (91.1, .2, 3.4), (92.0, .1, 3.9)),
        ("cifar10", "resnet18-gn", "dir0.3"): ((85.5, .5, 1), (87.4, .7, 5.2), (87.5, .5, 5.2)),
        ("cifar100", "lenet", "iid"): ((43.0, .3, 1), (44.8, .4, 6.0), (44.9, .5, 6.0)),
        ("cifar100", "lenet", "dir0.3"): ((38.3, .7, 1), (41.1, .3, 9.1), (41.3, .7, 9.5)),
        ("cifar100", "resnet18-gn", "iid"): ((64.6, .3, 1), (64.0, .2, 3.5), (64.6, .1, 4.0)),
        ("cifar100", "resnet18-gn", "dir0.3"): ((56.1, .7, 1), (55.4, .6, 3.6), (55.5, .6, 3.6)),
        ("gsc", "matchboxnet", "iid"): ((91.5, .3, 1), (90.0, .4, 3.5), (90.8, .4, 3.4)),
        ("gsc", "matchboxnet", "speaker"): ((79.6, .7, 1), (75.4, .6, 3.1), (77.0, 1.3, 3.3)),
        ("gsc", "kwt-1", "iid"): ((91.4, .4, 1), (89.2, .3, 2.3), (90.7, .2, 2.9)),
        ("gsc", "kwt-1", "speaker"): ((83.2, .2, 1), (79.6, .5, 2.9), (82.4, .8, 3.7)),
    }
    out = []
    for (data, model, split), cells in table1.items():
        for method, (mean, std, gain) in zip(("fedavg", "fp8-fedavg-uq", "fp8-fedavg-uq-plus"),
                                             cells, strict=True):
            out.append(Reported(_T1, f"{method} [{model}]", f"{data}-{split}",
                                {"accuracy": mean}, f"± {std} (sd, 3 seeds), gain {gain}x"))
    for table, names, rows in (
            (_T2, ("fedavg", "fp8-qat-det", "fp8-qat-rand"),
             {("cifar10", "lenet"): (82.1, 82.1, 82.0), ("cifar10", "resnet18-gn"): (92.0, 91.9, 91.8),
              ("cifar100", "lenet"): (43.0, 44.4, 43.7),
              ("cifar100", "resnet18-gn"): (64.6, 64.5, 63.5)}),
            (_T3, ("fedavg", "fp8-fedavg-bq", "fp8-fedavg-uq"),
             {("cifar10", "lenet"): (82.1, 80.1, 82.0), ("cifar10", "resnet18-gn"): (92.0, 91.1, 91.7),
              ("cifar100", "lenet"): (43.0, 38.0, 44.8),
              ("cifar100", "resnet18-gn"): (64.6, 62.5, 64.0)})):
        for (data, model), values in rows.items():
            for method, value in zip(names, values, strict=True):
                out.append(Reported(table, f"{method} [{model}]", f"{data}-iid",
                                    {"accuracy": value}, "mean of 3 seeds"))
    return tuple(out)


FL = TASKS.add("fl", TaskSpec(
    name="fl", description="Federated learning in FP8 (Paper IV): FP32 FedAvg, FP8 FedAvg with "
    "deterministic (BQ) and stochastic (UQ) communication, and UQ+; top-1 accuracy of the "
    "final global model, bytes communicated and the gain at equal accuracy",
    dataset="cifar10", metrics=KWS_METRICS, primary="accuracy", default_methods=METHODS,
    profiles=PROFILES, tolerances={"accuracy": 2.0}, make_dataset=make_dataset,
    make_training=make_training, target="label", reported=_reported(), family="fl",
    training_conditions=("setup",),
    reports=(CommunicationGain("fedavg"),
             TrainingCurves("val_accuracy", "test accuracy %", lower_is_better=False)),
    example_unit="example"))
