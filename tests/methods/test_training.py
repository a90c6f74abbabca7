"""The shared training loop: learns, keeps the best epoch, resumes after an interruption."""

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
