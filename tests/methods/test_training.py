"""The shared training loop: learns, keeps the best epoch, resumes after an interruption."""

import shutil

import numpy as np
import pytest
import torch

from perloc.bench.core.protocols import FitContext
from perloc.methods.training import load_checkpoint, train

TRUE_W = torch.tensor([[2.0, -1.0, 0.5]])


def _problem():
    def make_batch(rng):
        x = torch.as_tensor(rng.standard_normal((16, 3)), dtype=torch.float32)
        return x, x @ TRUE_W.T

    def step_loss(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y)

    def validate(model):
        with torch.no_grad():
            x = torch.eye(3)
            return {"mse": float(torch.nn.functional.mse_loss(model(x), x @ TRUE_W.T))}

    return make_batch, step_loss, validate


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1, bias=False)


def _ctx(path, epochs=4):
    return FitContext(checkpoint=path, seed=0, epochs=epochs, steps_per_epoch=25, batch_size=16,
                      lr=0.05)


def test_training_learns_and_checkpoints(tmp_path):
    model = _model()
    state = train(model, _ctx(tmp_path / "a.pt"), *_problem(), score_key="mse")
    assert state.complete and state.epoch == 4
    assert state.history["val_mse"][-1] < 0.01 < state.history["val_mse"][0]
    payload = load_checkpoint(tmp_path / "a.pt")
    assert payload["complete"] and payload["epoch"] == 4
    again = _model()
    train(again, _ctx(tmp_path / "a.pt"), *_problem(), score_key="mse")  # cached: no training
    torch.testing.assert_close(again.weight, model.weight)


def test_interrupted_training_resumes_from_the_last_checkpoint(tmp_path):
    reference = _model()
    train(reference, _ctx(tmp_path / "ref.pt"), *_problem(), score_key="mse")

    make_batch, step_loss, validate = _problem()
    calls = {"n": 0}

    def dying_batch(rng):
        calls["n"] += 1
        if calls["n"] == 25 * 2 + 7:  # in the middle of the third epoch
            raise KeyboardInterrupt
        return make_batch(rng)

    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train(_model(), _ctx(path), dying_batch, step_loss, validate, score_key="mse")
    assert load_checkpoint(path)["epoch"] == 2 and not load_checkpoint(path)["complete"]
    messages = []
    resumed = _model()
    ctx = _ctx(path)
    ctx.say = messages.append
    state = train(resumed, ctx, make_batch, step_loss, validate, score_key="mse")
    assert any("resuming" in m and "epoch 2" in m for m in messages)
    assert state.epoch == 4 and len(state.history["val_mse"]) == 4
    torch.testing.assert_close(resumed.weight, reference.weight, rtol=0, atol=0)


def test_checkpoints_load_weights_only(tmp_path):
    train(_model(), _ctx(tmp_path / "w.pt", epochs=1), *_problem(), score_key="mse")
    payload = torch.load(tmp_path / "w.pt", weights_only=True)
    assert set(payload) >= {"model", "optimizer", "epoch", "best_state", "history"}
    assert np.isfinite(payload["best_score"])


def test_warmup_cosine_schedule_at_zero_warmup_end_and_total():
    from perloc.methods.training import warmup_cosine

    total, warm = 1000, 100
    assert warmup_cosine(0, warm, total) == 0.0
    assert warmup_cosine(50, warm, total) == pytest.approx(0.5 * 0.5 * (1 + np.cos(np.pi * 0.05)))
    assert warmup_cosine(warm, warm, total) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.1)))
    assert warmup_cosine(total, warm, total) == pytest.approx(0.0, abs=1e-12)


def test_piecewise_schedule_follows_its_fractions():
    from perloc.methods.training import piecewise

    pieces = ((1 / 3, 1.0), (1 / 3, 0.5), (1 / 6, 0.2), (1 / 6, 0.1))
    factors = [piecewise(t, 120, pieces) for t in (0, 39, 40, 79, 80, 99, 100, 119, 500)]
    assert factors == [1.0, 1.0, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.1]


def test_step_schedule_drives_the_learning_rate(tmp_path, monkeypatch):
    from perloc.methods import training as tr

    make_batch, step_loss, validate = _problem()
    optimizers, seen = [], []
    real = tr.make_optimizer

    def spy(model, ctx, opt):
        made = real(model, ctx, opt)
        optimizers.append(made[0])
        return made

    def recording_loss(model, x, y):
        seen.append(optimizers[0].param_groups[0]["lr"])
        return step_loss(model, x, y)

    monkeypatch.setattr(tr, "make_optimizer", spy)
    train(_model(), _ctx(tmp_path / "s.pt", epochs=2), make_batch, recording_loss, validate,
          score_key="mse", optimization=tr.Optimization(schedule="warmup-cosine", warmup_steps=10))
    expected = [0.05 * tr.warmup_cosine(t, 10, 50) for t in range(50)]
    np.testing.assert_allclose(seen, expected, rtol=1e-9, atol=1e-12)


def test_weight_decay_skips_the_named_parameters():
    from perloc.methods.kws.kwt import NO_DECAY
    from perloc.methods.kws.kwt_model import KWT, KwtParams
    from perloc.methods.training import Optimization, _parameter_groups

    model = KWT(KwtParams(dim=16, mlp_dim=32, heads=1, depth=2, distill=True))
    decay, keep = _parameter_groups(model, Optimization(weight_decay=0.1, no_decay=NO_DECAY))
    names = {id(p): n for n, p in model.named_parameters()}
    kept = {names[id(p)] for p in keep["params"]}
    decayed = {names[id(p)] for p in decay["params"]}
    assert {"pos", "class_token", "embed.bias", "blocks.0.norm1.weight"} <= kept
    assert {"dist_token", "embed.weight", "blocks.0.qkv.weight", "head.weight"} <= decayed
    assert decay["weight_decay"] == 0.1 and keep["weight_decay"] == 0.0
    assert not any(n.endswith("bias") or "norm" in n for n in decayed)


def test_bf16_autocast_trains_with_fp32_master_weights_and_maximize_keeps_the_best(tmp_path):
    from perloc.methods.training import Optimization

    make_batch, step_loss, _ = _problem()
    scores = iter([1.0, 3.0, 2.0])
    model = _model()
    state = train(model, _ctx(tmp_path / "b.pt", epochs=3), make_batch, step_loss,
                  lambda _: {"acc": next(scores)}, score_key="acc",
                  optimization=Optimization(autocast="bf16", maximize=True))
    assert model.weight.dtype == torch.float32
    assert state.best_score == -3.0 and state.history["val_acc"] == [1.0, 3.0, 2.0]


def test_bad_optimization_options_are_rejected():
    from perloc.methods.training import Optimization

    for kwargs in ({"optimizer": "lamb"}, {"schedule": "linear"}, {"autocast": "fp8"},
                   {"schedule": "piecewise"}):
        with pytest.raises(ValueError):
            Optimization(**kwargs)


def test_sgd_is_dip_s_recipe_momentum_and_coupled_l2():
    """One SGD step from w = 1 with gradient 0: L2 1e-3 adds 1e-3 * w to the gradient, so
    w <- 1 - lr * 1e-3 (momentum has no history yet) = 1 - 1e-4 at lr 0.1."""
    import torch

    from perloc.bench.core.protocols import FitContext
    from perloc.methods.training import Optimization, make_optimizer

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.ones_(model.weight)
    ctx = FitContext(checkpoint=None, seed=0, epochs=1, steps_per_epoch=1, batch_size=1, lr=0.1)
    opt, _, _ = make_optimizer(model, ctx, Optimization(optimizer="sgd", weight_decay=1e-3))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    (model.weight * 0.0).sum().backward()
    opt.step()
    assert abs(float(model.weight.detach()) - (1 - 1e-4)) < 1e-7  # float32


def test_the_loop_moves_batches_and_keeps_the_fp16_scaler(tmp_path, monkeypatch):
    """Under a placement the loop moves every batch with ``device.place`` (a CPU batch made
    by ``make_batch`` reaches ``step_loss`` on the cell's device), and a fp16 run keeps a
    gradient scaler whose state the checkpoint carries."""
    from perloc.bench.core import device

    make_batch, step_loss, validate = _problem()
    seen = []

    def watching(model, x, y):
        seen.append(x.device.type)
        return step_loss(model, x, y)

    moved = []
    real_place = device.place
    monkeypatch.setattr(device, "place", lambda obj: moved.append(type(obj)) or real_place(obj))
    eager = _model()
    train(eager, _ctx(tmp_path / "eager.pt", epochs=2), make_batch, watching, validate,
          score_key="mse")
    assert moved.count(tuple) == 50 and set(seen) == {"cpu"}
    half = _model()
    with device.using(device.Placement("cpu", "fp16")):
        train(half, _ctx(tmp_path / "half.pt", epochs=1), *_problem(), score_key="mse")
    assert "scaler" in load_checkpoint(tmp_path / "half.pt")
    assert "scaler" not in load_checkpoint(tmp_path / "eager.pt")


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")),
                    reason="torch.compile's CPU code generation needs a C++ compiler")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile imports torch.jit
def test_compiled_steps_learn_what_eager_steps_learn(tmp_path):
    """``--compile`` steps a torch.compile'd model: the same weights as eager, to float
    tolerance."""
    from perloc.bench.core import device

    eager = _model()
    train(eager, _ctx(tmp_path / "eager.pt", epochs=2), *_problem(), score_key="mse")
    compiled = _model()
    with device.using(device.Placement("cpu", "off", compile=True)):
        train(compiled, _ctx(tmp_path / "compiled.pt", epochs=2), *_problem(), score_key="mse")
    torch.testing.assert_close(compiled.weight, eager.weight, rtol=1e-4, atol=1e-5)


def test_background_batches_keep_their_order_and_raise_where_they_are_used(monkeypatch):
    """The CUDA path of ``placed_batches`` (a thread makes batches ahead into pinned memory),
    run here with the device calls stubbed: the same batches in the same order as made in
    turn, a failure in ``make_batch`` raised in the training thread, and a consumer that stops
    early leaves no thread behind."""
    import threading
    from types import SimpleNamespace

    from perloc.bench.core import device
    from perloc.methods.training import placed_batches

    def make_batch(rng):
        return torch.as_tensor(rng.standard_normal(4)), int(rng.integers(100))

    in_turn = list(placed_batches(make_batch, np.random.default_rng(3), 7))
    monkeypatch.setattr(device, "placement", lambda: SimpleNamespace(kind="cuda"))
    pinned = []
    monkeypatch.setattr(device, "pinned", lambda obj: pinned.append(1) or obj)
    monkeypatch.setattr(device, "place", lambda obj: obj)
    ahead = list(placed_batches(make_batch, np.random.default_rng(3), 7))
    assert len(pinned) == 7 and len(ahead) == 7
    for (a, i), (b, j) in zip(in_turn, ahead, strict=True):
        assert torch.equal(a, b) and i == j

    def failing(rng):
        if rng.integers(10) > 100:
            return None
        raise ValueError("bad batch 0")

    with pytest.raises(ValueError, match="bad batch 0"):
        list(placed_batches(failing, np.random.default_rng(0), 3))
    stream = placed_batches(make_batch, np.random.default_rng(0), 1000)
    next(stream)
    stream.close()  # the training loop stopped (an exception, an interruption)
    assert not [t for t in threading.enumerate() if t.name == "perloc-batches"]
