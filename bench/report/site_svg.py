"""Inline SVG figures of the static site, drawn from the board's numbers (no plotting library,
nothing fetched).

* :func:`condition_plots`: one line chart per condition column of a section (snr, t60,
  mics ...): the primary metric, mean over a row's seeds, against the column's values, one
  line per method. The values are the per-condition tables' (``Row.slice_value``).
* :func:`seed_spread`: a row's per-seed values of the primary metric as dots on the section's
  common scale, with the mean as a bar: how far the seeds spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from perloc.bench.report.base import Row
from perloc.bench.report.site_markup import Html, esc
from perloc.bench.report.tables import value_order

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
DASHES = ("", "5,3", "2,2")


def conditions(rows: Sequence[Row]) -> dict[str, list[str]]:
    """column -> its values (grid order: numbers numerically, names alphabetically) over the
    rows' one-column slices (``snr=0``)."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for entry in row.ok:
            for name in entry.get("slices") or {}:
                if "|" not in name and "=" in name:
                    column, value = name.split("=", 1)
                    seen.setdefault(column, set()).add(value)
    return {column: value_order(values) for column, values in sorted(seen.items())}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (steps 1, 2, 2.5 or 5 x 10^k)."""
    if high <= low:
        low, high = low - 1.0, high + 1.0
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((high - first) / step)) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(title: str, xlabel: str, ylabel: str, xs: list[str],
               series: dict[str, list[float | None]]) -> Html:
    """An SVG line chart: categorical ``xs``, one polyline (broken at None) per series, a
    legend on the right; every point has a tooltip with its value. Many or long x labels
    widen the chart and are set at an angle."""
    longest = max(len(value) for value in xs)
    slanted = longest > 7 and len(xs) > 6
    slot = 26 if slanted else max(40, 7 * longest + 10)
    left, right, top = 56, 170, 30
    bottom = 46 + (int(5.5 * min(longest, 24)) if slanted else 0)
    width, height = left + max(334, slot * len(xs)) + right, 244 + bottom
    values = [v for points in series.values() for v in points if v is not None]
    ticks = nice_ticks(min(values), max(values))
    y0, y1 = ticks[0], ticks[-1]
    inner_w, inner_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (inner_w * (i + 0.5) / len(xs))

    def y(v: float) -> float:
        return top + inner_h * (1 - (v - y0) / (y1 - y0))

    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{esc(title)}"><title>{esc(title)}</title>',
             f'<text x="{left}" y="16" font-weight="600">{esc(title)}</text>']
    for tick in ticks:
        parts.append(f'<line class="grid" x1="{left}" x2="{left + inner_w}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end">{_label(tick)}</text>')
    for i, value in enumerate(xs):
        at = f'x="{x(i):.1f}" y="{top + inner_h + 16}" text-anchor="middle"'
        if slanted:
            at = (f'transform="translate({x(i) + 3:.1f} {top + inner_h + 10}) rotate(-45)" '
                  'text-anchor="end"')
        parts.append(f"<text {at}>{esc(value)}</text>")
    parts.append(f'<line class="axis" x1="{left}" x2="{left + inner_w}" y1="{top + inner_h}" '
                 f'y2="{top + inner_h}"/>'
                 f'<text x="{left + inner_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                 f"{esc(xlabel)}</text>"
                 f'<text transform="translate(14 {top + inner_h / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{esc(ylabel)}</text>')
    for k, (name, points) in enumerate(series.items()):
        color, dash = PALETTE[k % len(PALETTE)], DASHES[(k // len(PALETTE)) % len(DASHES)]
        style = f'stroke="{color}" stroke-width="2" fill="none"' + (
            f' stroke-dasharray="{dash}"' if dash else "")
        run: list[str] = []
        for i, value in enumerate([*points, None]):
            if value is not None:
                run.append(f"{x(i):.1f},{y(value):.1f}")
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" '
                             f'fill="{color}"><title>{esc(name)}, {esc(xlabel)}={esc(xs[i])}: '
                             f"{_label(value)}</title></circle>")
            elif run:
                parts.append(f'<polyline points="{" ".join(run)}" {style}/>')
                run = []
        ly = top + 4 + 16 * k
        parts.append(f'<line x1="{width - right + 14}" x2="{width - right + 38}" y1="{ly}" '
                     f'y2="{ly}" {style}/><text x="{width - right + 44}" y="{ly + 4}">'
                     f"{esc(name)}</text>")
    parts.append("</svg>")
    return Html("".join(parts))


def condition_plots(board: dict, rows: Sequence[Row]) -> list[Html]:
    """One line chart per condition column with two values or more: the primary metric
    (mean over seeds) per value, one line per method."""
    primary = next(m for m in board["metrics"] if m["name"] == board["primary"])
    arrow = "higher is better" if primary["higher_is_better"] else "lower is better"
    charts = []
    for column, values in conditions(rows).items():
        series = {row.name: [row.slice_value(f"{column}={v}", primary["name"]) for v in values]
                  for row in rows if row.ok}
        series = {name: points for name, points in series.items()
                  if any(p is not None for p in points)}
        if len(values) < 2 or not series:
            continue
        charts.append(line_chart(f"{primary['name']} by {column} (mean over seeds)", column,
                                 f"{primary['name']} ({arrow})", values, series))
    return charts


def seed_spread(values: Sequence[float], low: float, high: float) -> Html:
    """Dots for the seeds' values on [low, high] and a bar at their mean; the values in the
    tooltip."""
    width, height, pad = 120, 18, 5
    span = (high - low) or 1.0

    def x(v: float) -> float:
        return pad + (width - 2 * pad) * (v - low) / span

    mean = sum(values) / len(values)
    tip = ", ".join(_label(v) for v in values)
    dots = "".join(f'<circle cx="{x(v):.1f}" cy="9" r="2.6" fill="#2457a6" '
                   'fill-opacity="0.6"/>' for v in values)
    return Html(f'<svg class="spread" xmlns="http://www.w3.org/2000/svg" width="{width}" '
                f'height="{height}" role="img" aria-label="seed values {esc(tip)}">'
                f"<title>seeds: {esc(tip)} (mean {_label(mean)})</title>"
                f'<line x1="{pad}" x2="{width - pad}" y1="9" y2="9" stroke="#d9e2ec"/>{dots}'
                f'<line x1="{x(mean):.1f}" x2="{x(mean):.1f}" y1="2" y2="16" stroke="#d62728" '
                'stroke-width="1.5"/></svg>')
