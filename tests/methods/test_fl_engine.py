"""The federated engine: bytes on the wire, FedAvg's weights and sampling, LOCALUPDATE's fresh
optimiser, FedAvg against centralised SGD, and learning through the Flower strategy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    RecordDict,
)
from torch import nn

from perloc.methods.fl.client import FlClient, LocalRecipe, local_update
from perloc.methods.fl.codec import ModelCodec, record_nbytes
from perloc.methods.fl.grid import InProcessGrid
from perloc.methods.fl.models import lenet
from perloc.methods.fl.strategy import FederatedError, Fp8FedAvg, weighted_average
from perloc.methods.fl.variants import VARIANTS, FlVariant
from perloc.methods.layers.fp8 import fp8_qat, quantize

torch.set_num_threads(1)

# LeNet by hand: conv 3->64 5x5, conv 64->64 5x5, fc 1600->384->192->10
LENET_WEIGHTS = 3 * 64 * 25 + 64 * 64 * 25 + 1600 * 384 + 384 * 192 + 192 * 10  # 797,248
LENET_BIASES = 64 + 64 + 384 + 192 + 10  # 714


def test_lenet_payload_bytes_follow_the_spec_formula():
    fp32 = ModelCodec(lenet(10), VARIANTS["fedavg"])
    assert record_nbytes(fp32.encode(lenet(10).state_dict())) == 4 * (LENET_WEIGHTS + LENET_BIASES)
    model = fp8_qat(lenet(10))
    fp8 = ModelCodec(model, VARIANTS["fp8-fedavg-uq"])
    # 1 byte per FP8 weight, 4 per FP32 bias, 4 per alpha (5 weights) and beta (5 inputs)
    want = LENET_WEIGHTS + 4 * LENET_BIASES + 4 * 5 + 4 * 5
    assert record_nbytes(fp8.encode(model.state_dict())) == want == 800_144


def test_decoded_fp8_payload_is_the_grid_value_and_carries_the_ranges():
    model = fp8_qat(nn.Linear(4, 2))
    model(torch.randn(3, 4))  # calibrates beta
    codec = ModelCodec(model, VARIANTS["fp8-fedavg-bq"])
    state = codec.decode(codec.encode(model.state_dict()))
    alpha = model.weight_quantizer.alpha.detach()
    assert float(state["weight_quantizer.alpha"]) == float(alpha)
    assert float(state["input_quantizer.alpha"]) == float(model.input_quantizer.alpha.detach())
    assert bool(state["input_quantizer.initialized"])
    # deterministic communication: the weight's round-to-nearest grid value at its own range
    assert torch.equal(state["layer.weight"], quantize(model.layer.weight.detach(), alpha))


def test_an_uncalibrated_range_travels_as_zero_and_stays_uncalibrated():
    model = fp8_qat(nn.Linear(4, 2))
    codec = ModelCodec(model, VARIANTS["fp8-fedavg-uq"])
    state = codec.decode(codec.encode(model.state_dict()))
    assert float(state["input_quantizer.alpha"]) == 0.0
    assert not bool(state["input_quantizer.initialized"])


def test_a_payload_of_another_model_is_refused():
    codec = ModelCodec(nn.Linear(4, 2), VARIANTS["fedavg"])
    other = ModelCodec(nn.Linear(4, 3), VARIANTS["fedavg"]).encode(nn.Linear(4, 3).state_dict())
    with pytest.raises(ValueError, match="bytes, expected"):
        codec.decode(other)


def test_weighted_average_weights_by_the_participants_examples():
    a = {"w": torch.tensor([1.0, 0.0]), "n": torch.tensor(7)}
    b = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(9)}
    out = weighted_average([a, b], [1, 3])  # n_k / m_t with m_t = 4
    assert torch.allclose(out["w"], torch.tensor([0.25, 3.0]))
    assert int(out["n"]) == 7  # non-float entries: the first client's


def _strategy(variant="fedavg", per_round=3, seed=0):
    codec = ModelCodec(nn.Linear(2, 2), VARIANTS[variant])
    return Fp8FedAvg(codec, clients_per_round=per_round, seed=seed, lr=lambda t: 0.1)


def test_sampling_is_without_replacement_seeded_and_varies_by_round():
    s = _strategy(per_round=5)
    nodes = list(range(10, 30))
    draws = [s.sample(r, nodes) for r in range(1, 6)]
    assert all(len(set(d)) == 5 and set(d) <= set(nodes) for d in draws)
    assert draws == [_strategy(per_round=5).sample(r, reversed(nodes)) for r in range(1, 6)]
    assert len({tuple(d) for d in draws}) > 1
    with pytest.raises(FederatedError, match="3 clients connected"):
        s.sample(1, [1, 2, 3])


def _toy(n_clients=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(3, 8, generator=g)

    def draw(k, n):
        gg = torch.Generator().manual_seed(100 + k)
        y = torch.randint(0, 3, (n,), generator=gg)
        return centres[y] + torch.randn(n, 8, generator=gg), y

    parts = [draw(k, 30 + 10 * k) for k in range(n_clients)]
    return parts, draw(99, 300)


def _mlp(variant: FlVariant) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    return fp8_qat(model, stochastic=variant.qat == "rand") if variant.qat != "none" else model


def _accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


TOY_RECIPE = LocalRecipe(5, 8, weight_decay=0.0)


def _run(variant_name, rounds=3, per_round=4, recipe=TOY_RECIPE):
    variant = VARIANTS[variant_name]
    parts, (xt, yt) = _toy()
    model = _mlp(variant)
    codec = ModelCodec(model, variant)
    client = FlClient(_mlp(variant), codec, lambda k: parts[k], recipe)
    strategy = Fp8FedAvg(codec, clients_per_round=per_round, seed=0, lr=lambda t: 0.1)
    result = strategy.start(InProcessGrid(client.app(), len(parts)),
                            ArrayRecord(torch_state_dict=model.state_dict()), num_rounds=rounds)
    model.load_state_dict(result.arrays.to_torch_state_dict())
    return strategy, _accuracy(model, xt, yt)


@pytest.mark.parametrize("variant", ["fedavg", "fp8-fedavg-bq", "fp8-fedavg-uq",
                                     "fp8-fedavg-uq-plus", "fp8-qat-rand"])
def test_every_variant_learns_a_separable_toy_through_the_flower_strategy(variant):
    strategy, accuracy = _run(variant)
    assert accuracy > 0.8  # chance: 1/3
    assert [h["round"] for h in strategy.history] == [1, 2, 3]
    bytes_up = {h["bytes_up"] for h in strategy.history}
    assert len(bytes_up) == 1 and bytes_up == {h["bytes_down"] for h in strategy.history}


def test_fp8_rounds_send_about_a_quarter_of_the_fp32_bytes():
    fp32, _ = _run("fedavg", rounds=1)
    fp8, _ = _run("fp8-fedavg-uq", rounds=1)
    # Linear(8,16)+Linear(16,3): 176 weights, 19 biases; FP8 adds 2 alphas and 2 betas
    per_model_fp32, per_model_fp8 = 4 * (176 + 19), 176 + 4 * 19 + 4 * 4
    assert fp32.history[0]["bytes_up"] == 4 * per_model_fp32
    assert fp8.history[0]["bytes_up"] == 4 * per_model_fp8


def test_fedavg_of_one_full_batch_step_equals_centralised_sgd():
    """Equal clients, full participation, one local step on each client's whole partition:
    the FedAvg model is one SGD step on the union (spec kws_fl.md §7.3)."""
    g = torch.Generator().manual_seed(3)
    parts = [(torch.randn(6, 4, generator=g), torch.randint(0, 2, (6,), generator=g))
             for _ in range(3)]
    torch.manual_seed(1)
    model = nn.Linear(4, 2)
    central = copy.deepcopy(model)
    codec = ModelCodec(model, VARIANTS["fedavg"])
    client = FlClient(copy.deepcopy(model), codec, lambda k: parts[k],
                      LocalRecipe(1, 6, weight_decay=0.0))
    strategy = Fp8FedAvg(codec, clients_per_round=3, seed=0, lr=lambda t: 0.5)
    result = strategy.start(InProcessGrid(client.app(), 3),
                            ArrayRecord(torch_state_dict=model.state_dict()), num_rounds=1)
    x = torch.cat([p[0] for p in parts])
    y = torch.cat([p[1] for p in parts])
    optimizer = torch.optim.SGD(central.parameters(), lr=0.5)
    nn.functional.cross_entropy(central(x), y).backward()
    optimizer.step()
    fed = result.arrays.to_torch_state_dict()
    for key, value in central.state_dict().items():
        assert torch.allclose(fed[key], value, atol=1e-6), key


def _message(codec, state, round_=1):
    config = ConfigRecord({"server-round": round_, "seed": 0, "lr": 0.01})
    return Message(content=RecordDict({"arrays": codec.encode(state), "config": config}),
                   dst_node_id=1, message_type=MessageType.TRAIN)


def test_local_optimiser_state_is_reset_every_round():
    """AdamW moments from a previous round would change the update; a fresh optimiser gives
    the same reply to the same message."""
    InProcessGrid(None, 1)  # sets the process's Flower identity for building messages
    parts, _ = _toy(1)
    variant = VARIANTS["fedavg"]
    model = _mlp(variant)
    codec = ModelCodec(model, variant)
    client = FlClient(_mlp(variant), codec, lambda k: parts[k],
                      LocalRecipe(3, 8, optimizer="adamw", weight_decay=0.1))
    context = Context(run_id=1, node_id=1, node_config={"partition-id": 0}, state=RecordDict(),
                      run_config={})
    first = client.train(_message(codec, model.state_dict()), context)
    again = client.train(_message(codec, model.state_dict()), context)
    a, b = (codec.decode(m.content["arrays"]) for m in (first, again))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], model.state_dict()["0.weight"])


def test_a_round_with_missing_replies_stops_with_the_count():
    with pytest.raises(FederatedError, match="round 1: 0 replies"):
        _strategy(per_round=2).aggregate_train(1, [])


def test_local_update_draws_only_from_its_generator():
    parts, _ = _toy(1)
    x, y = parts[0]
    recipe = LocalRecipe(4, 8)
    runs = []
    for _ in range(2):
        model = _mlp(VARIANTS["fedavg"])
        torch.manual_seed(np.random.randint(1000))  # the global generator must not matter
        local_update(model, x, y, recipe, 0.1, torch.Generator().manual_seed(5))
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
