"""Shared by the KWS model tests: a two-class toy problem and a fit-until-perfect loop."""

from __future__ import annotations

import torch


def two_class_batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 has a positive mean in the first half of the frames, class 1 in the second."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 98, 40, generator=gen)
    y = torch.arange(n) % 2
    x[y == 0, :49] += 1.0
    x[y == 1, 49:] += 1.0
    return x, y


def train_accuracy(model, x, y) -> float:
    """Accuracy on (x, y) in eval mode; the model is returned to training mode."""
    with torch.no_grad():
        accuracy = (model.eval()(x).argmax(-1) == y).float().mean().item()
    model.train()
    return accuracy


def fit_two_classes(model, steps: int = 60) -> float:
    """Adam (lr 1e-2) on 16 toy clips until 100 % train accuracy (checked every 2 steps)."""
    model.train()
    x, y = two_class_batch(16)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    accuracy = 0.0
    for step in range(1, steps + 1):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
        if step % 2 == 0 and (accuracy := train_accuracy(model, x, y)) == 1.0:
            break
    return accuracy


def assert_finite_gradients(model) -> None:
    """One backward pass on 4 toy clips reaches every parameter with finite gradients."""
    torch.manual_seed(0)
    model.train()
    x, y = two_class_batch(4)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
