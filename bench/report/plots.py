"""Plots rendered from run records (matplotlib, Agg backend): cumulative error distributions
and confusion matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_error_cdf(curves: dict[str, list[float]], path: Path, title: str,
                   xlabel: str = "error (cm)") -> Path:
    """One cumulative distribution per label from its 0..100th percentiles; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, percentiles in curves.items():
        ax.plot(percentiles, np.linspace(0, 1, len(percentiles)), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of test examples")
    ax.set_title(title)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusions(matrices: dict[str, dict], path: Path, title: str) -> Path:
    """Row-normalised confusion matrices (rows true, columns predicted), one panel per label;
    ``matrices[label] = {"classes": [...], "counts": [[...]]}``. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(matrices)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.8 * rows), squeeze=False)
    for ax, (label, matrix) in zip(axes.flat, matrices.items(), strict=False):
        counts = np.asarray(matrix["counts"], dtype=np.float64)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
        names = [c.strip("_") for c in matrix["classes"]]
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(label, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def plot_curves(curves: dict[str, tuple[list[float], list[float]]], path: Path, title: str,
                ylabel: str, floor: tuple[str, float] | None = None,
                xlabel: str = "training steps", log_x: bool = False) -> Path:
    """One curve per label (``(x, values)``: validation values against training steps by
    default), and an optional horizontal ``floor`` (label, value); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, marker=".", label=label)
    if floor is not None:
        ax.axhline(floor[1], color="grey", linestyle="--", label=floor[0])
    ax.set_xlabel(xlabel)
    if log_x:
        ax.set_xscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
