"""Federated training sets: a dataset's training split cut into clients, in memory, plus the
central test set the server evaluates on every round (spec ``kws_fl.md`` §5.7).

A *setup* names the data, the partition and its parameter (``cifar10-iid``, ``cifar10-dir0.3``,
``gsc-speaker`` ...). Images are normalised with the layout's channel statistics (FedDyn's) and augmented by
the client with a random 32 x 32 crop of the 4-pixel zero-padded image and a horizontal flip
(both drawn from the client's round generator, batched). Keyword clips are the KWS task's
cached MFCC features [98, 40] (the models carry no front end here), with the labels of the
35-word task.

Device: the clients' data, the augmentation and the server's test set are CPU tensors (data
preparation; every draw comes from the client's CPU generator, so a run draws the same batches
on every device); the client moves each minibatch to the cell's device.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.datasets.fl_partitions import dirichlet_partition, iid_partition, speaker_partition

FL_DATA_VERSION = 1
PARTITIONS = ("iid", "dirichlet", "speaker")


@dataclass(frozen=True)
class FlSetup:
    """One federated experiment's data: ``data`` (cifar10 | cifar100 | gsc), ``partition``
    (iid | dirichlet | speaker), ``alpha`` (Dirichlet concentration)."""

    name: str
    data: str
    partition: str
    alpha: float = 0.0

    @property
    def modality(self) -> str:
        return "audio" if self.data == "gsc" else "image"


SETUPS = {s.name: s for s in (
    FlSetup("cifar10-iid", "cifar10", "iid"),
    FlSetup("cifar10-dir0.3", "cifar10", "dirichlet", 0.3),
    FlSetup("cifar100-iid", "cifar100", "iid"),
    FlSetup("cifar100-dir0.3", "cifar100", "dirichlet", 0.3),
    FlSetup("gsc-iid", "gsc", "iid"),
    FlSetup("gsc-speaker", "gsc", "speaker"),
)}


def setup_named(name: str) -> FlSetup:
    if name not in SETUPS:
        raise UserError(f"unknown federated setup {name!r} (known: {', '.join(SETUPS)})")
    return SETUPS[name]


def normalise_images(images: np.ndarray, stats: tuple[tuple[float, ...], tuple[float, ...]]
                     ) -> Tensor:
    """uint8 [N, 3, 32, 32] -> float32, (x / 255 - mean_c) / std_c; ``stats`` = (mean, std) per
    channel (the layout's: FedDyn's CIFAR statistics)."""
    mean, std = (device.host_tensor(v).reshape(1, 3, 1, 1) for v in stats)
    return (device.host_tensor(np.asarray(images)).float() / 255.0 - mean) / std


def crop_flip(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random crop of the zero-padded batch back to its size, and a horizontal flip with
    probability 1/2, independently per image (gathered in one indexing operation)."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    at = generator.device  # the draws come from the generator, on its device
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=at).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=at).to(x.device)
    flip = (torch.rand(b, generator=generator, device=at) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :].expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


@dataclass
class FederatedData:
    """The clients' data of one setup and seed (``parts[k]``: client k's rows of ``x``)."""

    setup: FlSetup
    x: Tensor
    y: Tensor
    parts: list[np.ndarray]
    test_x: Tensor
    test_y: Tensor
    n_classes: int
    source_version: str
    seed: int
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None
    stats: tuple = ()  # images: the per-channel (mean, std) the inputs were normalised with
    client_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def version(self) -> str:
        blob = json.dumps([FL_DATA_VERSION, self.setup.name, self.source_version, self.seed,
                           len(self.parts)])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def n_clients(self) -> int:
        return len(self.parts)

    def client(self, pid: int) -> tuple[Tensor, Tensor]:
        rows = device.host_tensor(self.parts[pid])
        return self.x[rows], self.y[rows]

    def describe(self) -> dict:
        sizes = [len(p) for p in self.parts]
        return {"setup": self.setup.name, "clients": len(sizes), "examples": int(sum(sizes)),
                "client_size": [min(sizes), max(sizes)], "test": len(self.test_y)}


def partition(setup: FlSetup, labels: np.ndarray, n_clients: int, seed: int,
              speakers: np.ndarray | None = None) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """The clients' index arrays (and, for speaker partitions, the speaker of each)."""
    if setup.partition == "iid":
        return iid_partition(len(labels), n_clients, seed), ()
    if setup.partition == "dirichlet":
        return dirichlet_partition(labels, n_clients, setup.alpha, seed), ()
    if speakers is None:
        raise UserError(f"setup {setup.name}: a speaker partition needs speaker ids")
    names, parts = speaker_partition(speakers, seed)
    return parts, names


def image_federation(setup: FlSetup, adapter, n_clients: int, seed: int) -> FederatedData:
    """A CIFAR adapter's training split cut into ``n_clients`` (its test split: the server's)."""
    labels = adapter.labels("train")
    parts, _ = partition(setup, labels, n_clients, seed)
    stats = (adapter.layout.mean, adapter.layout.std)
    return FederatedData(setup, normalise_images(adapter.images("train"), stats),
                         device.host_tensor(labels), parts,
                         normalise_images(adapter.images("test"), stats),
                         device.host_tensor(adapter.labels("test")), len(adapter.class_names),
                         adapter.version, seed, crop_flip, stats)


def spec_augment_mfcc(x: Tensor, generator: torch.Generator) -> Tensor:
    """The KWS task's SpecAugment (its default masks, shared by the batch) on MFCC batches."""
    from perloc.datasets.kws_augment import AugmentParams, spec_augment

    return spec_augment(x, AugmentParams(), generator)


def keyword_federation(setup: FlSetup, clips, n_clients: int, seed: int) -> FederatedData:
    """A Speech Commands task's training clips (:class:`perloc.datasets.kws_data.KwsClips`, MFCC
    features) cut by ``setup.partition``: ``speaker`` gives one client per training speaker
    (``n_clients`` is ignored), ``iid`` ``n_clients`` equal shards."""
    labels = np.asarray(clips.labels("training"))
    speakers = clips.speakers("training") if setup.partition == "speaker" else None
    parts, names = partition(setup, labels, n_clients, seed, speakers)
    return FederatedData(setup, device.host_tensor(np.asarray(clips.features("training"),
                                                              dtype=np.float32)),
                         device.host_tensor(labels), parts,
                         device.host_tensor(np.asarray(clips.features("testing"),
                                                       dtype=np.float32)),
                         device.host_tensor(np.asarray(clips.labels("testing"))),
                         len(clips.classes), clips.commands.version, seed, spec_augment_mfcc,
                         client_names=names)
