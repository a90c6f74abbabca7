"""HTML pieces of the static site: escaped text, sortable tables, and the markdown subset the
leaderboard's reports write.

Everything that comes from a file (task descriptions, method names, notes) goes through
:func:`esc`; :class:`Html` marks a string that is already HTML (links, inline SVG). The
reports' markdown blocks use a small subset, which :func:`markdown_html` turns into HTML:
paragraphs, GitHub pipe tables (made sortable), inline ``code`` and images ``![alt](file)``.
Anything else is kept as escaped text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from typing import Any


class Html(str):
    """A string that is already HTML (not escaped again)."""


def esc(value: Any) -> Html:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?=$|\s|%)")
_TAG = re.compile(r"<[^>]*>")
_EMPTY = {"", "-", "N/A", "n/a", "nan", "NaN", "never"}


def sort_value(cell: Any) -> float | None:
    """The number a cell sorts by: its leading number (``4.36 [2.91, 6.02]`` -> 4.36,
    ``17.94 / 45.56`` -> 17.94); None for text, N/A and "-"."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int | float):
        return float(cell) if math.isfinite(cell) else None
    text = _TAG.sub("", cell) if isinstance(cell, Html) else str(cell)
    found = _NUMBER.match(text)
    return float(found.group(1)) if found and math.isfinite(float(found.group(1))) else None


def _blank(cell: Any) -> bool:
    text = _TAG.sub("", cell) if isinstance(cell, Html) else str(cell)
    return text.strip().split(" ")[0] in _EMPTY


def column_types(header: Sequence[Any], rows: Sequence[Sequence[Any]],
                 unsorted: Sequence[int] = ()) -> list[str]:
    """``num`` for a column whose every cell is a number (or N/A, "-"), ``text`` otherwise,
    ``""`` (not sortable) for the ``unsorted`` columns."""
    types = []
    for i in range(len(header)):
        cells = [row[i] for row in rows if i < len(row)]
        numeric = any(sort_value(c) is not None for c in cells) and all(
            sort_value(c) is not None or _blank(c) for c in cells)
        types.append("" if i in unsorted else "num" if numeric else "text")
    return types


def _head(text: Any) -> Html:
    """A header cell: ``name (explanation)`` as the name over the explanation in small type."""
    if isinstance(text, Html):
        return text
    name, paren, hint = str(text).partition(" (")
    return Html(f'<span class="label">{esc(name)}</span>'
                + (f'<span class="hint">({esc(hint)}</span>' if paren else ""))


def table_html(header: Sequence[Any], rows: Sequence[Sequence[Any]], *, caption: str = "",
               names: Sequence[int] = (), unsorted: Sequence[int] = (), cls: str = "") -> Html:
    """A sortable table: numeric columns right-aligned with ``data-v`` sort values, the
    ``names`` columns in bold; ``unsorted`` columns get no sort control."""
    types = column_types(header, rows, unsorted)
    heads = "".join(f'<th scope="col"{f" data-type={chr(34)}{t}{chr(34)}" if t else ""}>'
                    f"{_head(h)}</th>" for h, t in zip(header, types, strict=True))
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            value = sort_value(cell) if types[i] == "num" else None
            kind = "name" if i in names else "num" if types[i] == "num" else ""
            attrs = (f' class="{kind}"' if kind else "") + (
                f' data-v="{value!r}"' if value is not None else "")
            cells.append(f"<td{attrs}>{esc('' if cell is None else cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption_html = f"<caption>{esc(caption)}</caption>" if caption else ""
    return Html(f'<div class="table-wrap"><table class="sortable {cls}">{caption_html}'
                f"<thead><tr>{heads}</tr></thead><tbody>{''.join(body)}</tbody>"
                "</table></div>")


_INLINE = re.compile(r"`([^`]*)`|!\[([^\]]*)\]\(([^)\s]+)\)")
Figure = Callable[[str, str], Html]


def inline_html(text: str) -> Html:
    """Escaped text with ``code`` spans (images are taken out first by the caller)."""
    out, last = [], 0
    for found in _INLINE.finditer(text):
        out.append(esc(text[last:found.start()]))
        out.append(f"<code>{esc(found.group(1))}</code>" if found.group(1) is not None
                   else esc(found.group(0)))
        last = found.end()
    out.append(esc(text[last:]))
    return Html("".join(out))


def _paragraph(text: str, figure: Figure) -> Html:
    """A paragraph; its images become figures after the text (``figure(alt, file)``)."""
    images = [(m.group(2), m.group(3)) for m in _INLINE.finditer(text) if m.group(3)]
    if not images:
        return Html(f"<p>{inline_html(text)}</p>")
    words = _INLINE.sub(lambda m: m.group(0) if m.group(3) is None else "", text).strip()
    words = words.rstrip(":").strip()
    figures = "".join(figure(alt, src) for alt, src in images)
    return Html((f"<p>{inline_html(words)}</p>" if words else "")
                + f'<div class="figures">{figures}</div>')


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _is_rule(line: str) -> bool:
    return bool(re.fullmatch(r"\|?(\s*:?-+:?\s*\|)*\s*:?-+:?\s*\|?", line.strip()))


def markdown_html(block: str, figure: Figure) -> Html:
    """One report block (markdown subset) as HTML: paragraphs split at blank lines; a
    paragraph of ``|`` lines whose second line is a rule is a table (first column bold)."""
    out = []
    for part in re.split(r"\n\s*\n", block.strip()):
        lines = part.strip().splitlines()
        if len(lines) >= 2 and all(line.lstrip().startswith("|") for line in lines) \
                and _is_rule(lines[1]):
            header = _cells(lines[0])
            rows = [_cells(line) for line in lines[2:]]
            rows = [row + [""] * (len(header) - len(row)) for row in rows]
            out.append(table_html(header, [row[:len(header)] for row in rows], names=(0,)))
        elif lines:
            out.append(_paragraph(" ".join(line.strip() for line in lines), figure))
    return Html("".join(out))
