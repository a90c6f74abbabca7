"""The board's in-process grid and Flower's own simulation engine run the same strategy and
client objects to the same bytes and the same model (fixed seeds, 3 rounds)."""

from __future__ import annotations

import pytest
import torch
from flwr.app import ArrayRecord
from torch import nn

from perloc.methods.fl.client import FlClient, LocalRecipe
from perloc.methods.fl.codec import ModelCodec
from perloc.methods.fl.grid import InProcessGrid
from perloc.methods.fl.strategy import Fp8FedAvg
from perloc.methods.fl.variants import VARIANTS
from perloc.methods.layers.fp8 import fp8_qat

torch.set_num_threads(1)
VARIANT = VARIANTS["fp8-fedavg-uq-plus"]  # stochastic rounding both ways, server optimisation
N_CLIENTS, ROUNDS = 3, 3


def _parts():
    g = torch.Generator().manual_seed(0)
    centres = 2.0 * torch.randn(3, 6, generator=g)
    out = []
    for k in range(N_CLIENTS):
        y = torch.randint(0, 3, (20 + 5 * k,), generator=g)
        out.append((centres[y] + torch.randn(len(y), 6, generator=g), y))
    return out


def _model():
    torch.manual_seed(0)
    return fp8_qat(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))


def _pieces():
    parts = _parts()
    model = _model()
    codec = ModelCodec(model, VARIANT)
    client = FlClient(_model(), codec, lambda k: parts[k], LocalRecipe(4, 8, weight_decay=0.0))
    strategy = Fp8FedAvg(codec, clients_per_round=N_CLIENTS, seed=7, lr=lambda t: 0.1)
    return model, client, strategy


def _in_process():
    model, client, strategy = _pieces()
    result = strategy.start(InProcessGrid(client.app(), N_CLIENTS),
                            ArrayRecord(torch_state_dict=model.state_dict()), num_rounds=ROUNDS)
    return strategy.history, result.arrays.to_torch_state_dict()


def _simulation():
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    model, client, strategy = _pieces()
    app, out = ServerApp(), {}

    @app.main()
    def main(grid, context):
        out["result"] = strategy.start(grid, ArrayRecord(torch_state_dict=model.state_dict()),
                                       num_rounds=ROUNDS)

    run_simulation(app, client.app(), N_CLIENTS,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": 2, "include_dashboard": False}})
    return strategy.history, out["result"].arrays.to_torch_state_dict()


@pytest.mark.slow
def test_flower_simulation_engine_gives_the_in_process_bytes_and_model():
    history, state = _in_process()
    sim_history, sim_state = _simulation()
    assert [h["round"] for h in sim_history] == [1, 2, 3]
    for ours, theirs in zip(history, sim_history, strict=True):
        assert ours["bytes_up"] == theirs["bytes_up"] and ours["bytes_down"] == theirs["bytes_down"]
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6)
    for key, value in state.items():
        assert torch.allclose(value.float(), sim_state[key].float(), atol=1e-6), key
