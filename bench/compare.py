"""``bench compare A B``: two methods side by side per condition cell, overall, and a verdict."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from perloc.bench.core.record import RunRecord, Score
from perloc.bench.core.task import TaskSpec


def _cells(record: RunRecord, columns: tuple[str, ...]) -> list[str]:
    """Slice names that fix every condition column (``snr=0|t60=0.2``), in grid order."""
    names = [n for n in record.slices if n.count("|") == len(columns) - 1
             and all(f"{c}=" in n for c in columns)]
    return sorted(names, key=lambda n: [float(part.split("=")[1]) for part in n.split("|")])


def _fmt(score: Score) -> str:
    return f"{score.value:.2f} [{score.ci_low:.2f}, {score.ci_high:.2f}]"


def comparison_rows(task: TaskSpec, a: RunRecord, b: RunRecord) -> list[dict]:
    """One row per condition cell plus an ``overall`` row, with both methods' headline scores."""
    rows = []
    tables = [(name, a.slices[name], b.slices[name]) for name in _cells(a, task.slice_by)
              if name in b.slices]
    for name, sa, sb in [*tables, ("overall", a.scores, b.scores)]:
        row = {"cell": name}
        for metric in task.headline_metrics:
            row[metric] = {a.method: vars(sa[metric]), b.method: vars(sb[metric]),
                           "delta": sa[metric].value - sb[metric].value}
        rows.append(row)
    return rows


def comparison_table(task: TaskSpec, a: RunRecord, b: RunRecord) -> str:
    header = ["cell"]
    for metric in task.headline_metrics:
        header += [f"{a.method} {metric}", f"{b.method} {metric}", f"Δ {metric}"]
    body = []
    for row in comparison_rows(task, a, b):
        line = [row["cell"]]
        for metric in task.headline_metrics:
            cell = row[metric]
            line += [_fmt(Score(**cell[a.method])), _fmt(Score(**cell[b.method])),
                     f"{cell['delta']:+.2f}"]
        body.append(line)
    return tabulate(body, headers=header, disable_numparse=True)


def verdict(task: TaskSpec, a: RunRecord, b: RunRecord, metric: str | None = None) -> str:
    """One line: who is better overall on ``metric`` and whether the 95% CIs overlap."""
    metric = metric or task.primary
    card = task.metric(metric)
    sa, sb = a.scores[metric], b.scores[metric]
    a_better = sa.value > sb.value if card.higher_is_better else sa.value < sb.value
    best, other = (a, b) if a_better else (b, a)
    separated = sa.ci_low > sb.ci_high or sb.ci_low > sa.ci_high
    strength = "95% CIs do not overlap" if separated else "95% CIs overlap: not a clear win"
    return (f"{best.method} beats {other.method} on {metric} overall "
            f"({best.scores[metric].value:.2f} vs {other.scores[metric].value:.2f} {card.unit}; "
            f"{strength})")


def plot_comparison(task: TaskSpec, records: list[RunRecord], path: Path) -> None:
    """Paper V Figure 3 layout: headline metrics against SNR, one curve per method and T60."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_col, curve_col = task.slice_by[0], task.slice_by[1]
    metrics = task.headline_metrics
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for style, record in zip(styles, records, strict=False):
            _plot_record(ax, record, metric, x_col, curve_col, style)
        card = task.metric(metric)
        ax.set_xlabel(x_col.upper())
        ax.set_ylabel(f"{metric} [{card.unit}]")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{task.name}: " + " vs ".join(r.method for r in records) +
                 f" ({records[0].profile} profile, {records[0].dataset['provenance']['kind']} data)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def _plot_record(ax, record: RunRecord, metric: str, x_col: str, curve_col: str,
                 style: str) -> None:
    points: dict[float, list[tuple[float, float]]] = {}
    for name in _cells(record, (x_col, curve_col)):
        parts = dict(part.split("=") for part in name.split("|"))
        points.setdefault(float(parts[curve_col]), []).append(
            (float(parts[x_col]), record.slices[name][metric].value))
    for index, (curve, xy) in enumerate(sorted(points.items())):
        xs, ys = zip(*sorted(xy), strict=True)
        ax.plot(xs, ys, style, color=f"C{index}", marker="o", ms=3,
                label=f"{record.method} {curve_col}={curve:g}")
