"""Plots rendered from run records (matplotlib, Agg backend): cumulative error distributions."""

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
    ax.set_ylabel("fraction of frames")
    ax.set_title(title)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path
