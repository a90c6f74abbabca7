"""The server of FP8 federated learning (spec ``kws_fl.md`` §5.3-§5.5, Alg. 3) as a Flower
``Strategy``: it runs unchanged under Flower's simulation engine, on a real SuperLink with
SuperNodes across machines, or on the in-process grid the leaderboards use.

Per round t:

1. sample P = ``clients_per_round`` of the K connected nodes uniformly without replacement
   (a generator seeded by (run seed, t): Flower's own ``FedAvg`` draws from Python's global
   ``random``, which no run seed reaches);
2. downlink: the server's FP32 master weights encoded for the variant (FP8 codes by stochastic
   rounding for UQ / UQ+, round-to-nearest for BQ, float32 otherwise), one draw sent to every
   sampled client; the round's client learning rate travels in the config;
3. aggregate: w_{t+1} = Σ_k (n_k / m_t) · dequant(w^k), m_t = Σ_{k ∈ P_t} n_k over the
   *participating* clients (not the global dataset size); α, β and every other float tensor
   are averaged with the same weights, unquantized;
4. UQ+: SERVEROPTIMIZE per FP8 weight (:func:`perloc.methods.layers.fp8_payload.server_optimize`: 5
   straight-through gradient steps on w, then a grid search over 50 α in [min α^k, max α^k]).

Bytes are counted from the records actually built: uplink the sum of the replies' payloads,
downlink the payload times the number of recipients. Each round's numbers are appended to
``history`` (round, clients, bytes_up, bytes_down, train_loss).

Device: the server works on the CPU (the master weights come and go as Flower records, the
clients' states arrive decoded on the CPU); the clients train on the cell's device
(:mod:`perloc.methods.fl.client`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from torch import Tensor

from perloc.methods.fl.client import draw_generator
from perloc.methods.fl.codec import ModelCodec, record_nbytes
from perloc.methods.layers.fp8_payload import server_optimize


class FederatedError(RuntimeError):
    """A client failed or replied with something that does not fit the model."""


def weighted_average(states: list[dict[str, Tensor]], weights: list[float]) -> dict[str, Tensor]:
    """Σ_k p_k · state_k for every float tensor (p_k = n_k / Σ n); non-float entries (flags,
    counters) are taken from the first state."""
    p = torch.tensor(weights, dtype=torch.float64, device=next(iter(states[0].values())).device)
    p = p / p.sum()
    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            stacked = torch.stack([s[key].to(torch.float64) for s in states])
            out[key] = (p.reshape((-1,) + (1,) * first.dim()) * stacked).sum(0).to(first.dtype)
        else:
            out[key] = first.clone()
    return out


class Fp8FedAvg(FedAvg):
    """FedAvg, FP8 FedAvg with deterministic (BQ) or stochastic (UQ) communication, and UQ+.

    ``codec`` fixes the variant; ``lr(t)`` is the client learning rate of round t (the cosine
    over all rounds for keyword spotting, constant for CIFAR); ``round_offset`` continues the
    round count of a resumed run (Flower's loop restarts at 1); ``server_lr`` is the step of
    SERVEROPTIMIZE's gradient steps (the paper picked it from {0.01, 0.1, 1})."""

    def __init__(self, codec: ModelCodec, *, clients_per_round: int, seed: int,
                 lr: Callable[[int], float], round_offset: int = 0, server_lr: float = 0.1,
                 server_steps: int = 5, n_alpha: int = 50) -> None:
        super().__init__(fraction_train=1.0, fraction_evaluate=0.0,
                         min_train_nodes=clients_per_round, min_available_nodes=clients_per_round)
        self.codec = codec
        self.variant = codec.variant
        self.clients_per_round = clients_per_round
        self.seed = seed
        self.lr = lr
        self.round_offset = round_offset
        self.server = {"lr": server_lr, "steps": server_steps, "n_alpha": n_alpha}
        self.history: list[dict[str, float]] = []
        self._downlink = 0

    def sample(self, round_: int, nodes: Iterable[int]) -> list[int]:
        nodes = sorted(nodes)
        if len(nodes) < self.clients_per_round:
            raise FederatedError(f"{len(nodes)} clients connected, {self.clients_per_round} "
                                 "needed per round")
        rng = np.random.default_rng([self.seed, round_])
        picked = rng.choice(len(nodes), size=self.clients_per_round, replace=False)
        return [nodes[i] for i in sorted(picked)]

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> list[Message]:
        round_ = self.round_offset + server_round
        master = arrays.to_torch_state_dict()
        record = self.codec.encode(master, draw_generator(self.seed, round_, 0, 0))
        nodes = self.sample(round_, grid.get_node_ids())
        self._downlink = record_nbytes(record) * len(nodes)
        sent = ConfigRecord({**dict(config), "server-round": round_, "seed": self.seed,
                             "lr": float(self.lr(round_))})
        return [Message(content=RecordDict({"arrays": record, "config": sent}),
                        dst_node_id=node, message_type=MessageType.TRAIN) for node in nodes]

    def aggregate_train(self, server_round: int, replies: Iterable[Message]
                        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        failed = [r for r in replies if r.has_error()]
        if failed or len(replies) != self.clients_per_round:
            why = failed[0].error.reason if failed else f"{len(replies)} replies"
            raise FederatedError(f"round {self.round_offset + server_round}: {why}")
        replies.sort(key=lambda r: int(r.content["metrics"]["partition-id"]))
        states = [self.codec.decode(r.content["arrays"]) for r in replies]
        n = [float(r.content["metrics"]["num-examples"]) for r in replies]
        master = weighted_average(states, n)
        if self.variant.server_optimize:
            self._server_optimize(master, states, n)
        uplink = sum(record_nbytes(r.content["arrays"]) for r in replies)
        loss = float(np.average([float(r.content["metrics"]["loss"]) for r in replies],
                                weights=n))
        row = {"round": self.round_offset + server_round, "clients": len(replies),
               "bytes_up": uplink, "bytes_down": self._downlink, "train_loss": loss}
        self.history.append(row)
        return ArrayRecord(torch_state_dict=master), MetricRecord(row)

    def _server_optimize(self, master: dict[str, Tensor], states: list[dict[str, Tensor]],
                         n: list[float]) -> None:
        for weight, alpha in self.codec.weights.items():
            result = server_optimize([s[weight] for s in states], [s[alpha] for s in states], n,
                                     steps=self.server["steps"], lr=self.server["lr"],
                                     n_alpha=self.server["n_alpha"])
            master[weight] = result.weight.to(master[weight].dtype)
            master[alpha] = result.alpha.to(master[alpha].dtype).reshape(master[alpha].shape)
