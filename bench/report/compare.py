"""``bench compare A B``: two methods side by side per condition cell, overall, and a verdict."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from perloc.bench.core.record import RunRecord
from perloc.bench.core.task import TaskSpec


def _parts(name: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in name.split("|"))


def cell_names(task: TaskSpec, *records: RunRecord) -> list[str]:
    """The comparison's rows: slices that fix exactly the profile's grid columns (``snr=0|
    t60=0.2``, ``setup=1_a|mics=11``), or, for a task without a grid, each single-column
    slice (``word=yes``); in the grid's order, then numeric, then alphabetical."""
    grid = task.profile(records[0].profile).grid
    columns = [c for c in task.slice_by if c in grid] or list(task.slice_by[:1])
    seen = {n for r in records for n in [*r.slices, *r.failures] if n != "overall"}
    names = [n for n in seen if set(_parts(n)) == set(columns)]
    orders = {c: [str(v) for v in grid.get(c, ())] for c in columns}

    return sorted(names, key=lambda n: [_rank(_parts(n)[c], orders[c]) for c in columns])


def _rank(value: str, order: list[str]) -> tuple:
    normal = [_canonical(v) for v in order]
    if _canonical(value) in normal:
        return (0, normal.index(_canonical(value)), 0.0, "")
    try:
        return (1, 0, float(value), "")
    except ValueError:
        return (2, 0, 0.0, value)


def _canonical(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else str(number)


def _fmt(score: dict | None) -> str:
    if score is None:
        return "N/A"
    return f"{score['value']:.2f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}]"


def comparison_rows(task: TaskSpec, a: RunRecord, b: RunRecord) -> list[dict]:
    """One row per condition cell plus an ``overall`` row, with both methods' headline scores
    (a metric a method has no score for in a cell, e.g. N/A where it failed, is left out)."""
    rows = []
    tables = [(name, a.slices.get(name, {}), b.slices.get(name, {}))
              for name in cell_names(task, a, b)]
    for name, sa, sb in [*tables, ("overall", a.scores, b.scores)]:
        row = {"cell": name}
        for metric in task.headline_metrics:
            both = metric in sa and metric in sb
            row[metric] = {a.method: vars(sa[metric]) if metric in sa else None,
                           b.method: vars(sb[metric]) if metric in sb else None,
                           "delta": sa[metric].value - sb[metric].value if both else None}
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
            line += [_fmt(cell[a.method]), _fmt(cell[b.method]),
                     "-" if cell["delta"] is None else f"{cell['delta']:+.2f}"]
        body.append(line)
    return tabulate(body, headers=header, disable_numparse=True)


def verdict(task: TaskSpec, a: RunRecord, b: RunRecord, metric: str | None = None) -> str:
    """One line on ``metric`` overall. ``A beats B`` only when the difference is significant
    as the harness defines it: the 95% bootstrap CIs do not overlap. Equal scores, or CIs that
    overlap, are a tie: no winner is named."""
    metric = metric or task.primary
    card = task.metric(metric)
    missing = [r.method for r in (a, b) if metric not in r.scores]
    if missing:
        return f"no verdict on {metric}: {' and '.join(missing)} has no overall score for it"
    sa, sb = a.scores[metric], b.scores[metric]
    separated = sa.ci_low > sb.ci_high or sb.ci_low > sa.ci_high
    if sa.value == sb.value or not separated:
        why = "equal scores" if sa.value == sb.value else "95% CIs overlap"
        return (f"{a.method} and {b.method} tie on {metric} overall ({sa.value:.2f} vs "
                f"{sb.value:.2f} {card.unit}; {why}: no significant difference)")
    a_better = sa.value > sb.value if card.higher_is_better else sa.value < sb.value
    best, other = (a, b) if a_better else (b, a)
    return (f"{best.method} beats {other.method} on {metric} overall "
            f"({best.scores[metric].value:.2f} vs {other.scores[metric].value:.2f} {card.unit}; "
            "95% CIs do not overlap)")


def plot_comparison(task: TaskSpec, records: list[RunRecord], path: Path) -> None:
    """Headline metrics per comparison cell: x is the first condition (SNR, setup, word),
    one curve per method and value of the other conditions (Paper V Figure 3 for tdoa)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = task.headline_metrics
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    names = cell_names(task, *records)
    x_col = next(iter(_parts(names[0]))) if names else "cell"
    labels = list(dict.fromkeys(_parts(n)[x_col] for n in names))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for style, record in zip(["-", "--", ":", "-."], records, strict=False):
            _plot_record(ax, record, metric, names, x_col, labels, style)
        ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 8 else 0)
        ax.set_xlabel(x_col)
        ax.set_ylabel(f"{metric} [{task.metric(metric).unit}]")
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


def _plot_record(ax, record: RunRecord, metric: str, names: list[str], x_col: str,
                 labels: list[str], style: str) -> None:
    curves: dict[str, list[tuple[int, float]]] = {}
    for name in names:
        parts = _parts(name)
        score = record.slices.get(name, {}).get(metric)
        if score is not None:
            rest = "|".join(f"{c}={v}" for c, v in parts.items() if c != x_col)
            curves.setdefault(rest, []).append((labels.index(parts[x_col]), score.value))
    for index, (rest, xy) in enumerate(curves.items()):
        xs, ys = zip(*xy, strict=True)
        ax.plot(xs, ys, style, color=f"C{index % 10}", marker="o", ms=3,
                label=f"{record.method} {rest}".strip())
