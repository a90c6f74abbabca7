"""The static site's two shared files, written into ``assets/`` of every site.

``STYLE`` (site.css): page layout, tables (sticky header, right-aligned numbers, the sort
arrow of the sorted column), figures and the condition plots. ``SORTER`` (sort.js): a
vanilla-JS table sorter, no library and nothing fetched. A header cell of a
``table.sortable`` with ``data-type="num"`` sorts its column by each cell's ``data-v``
(cells without one, N/A or "-", go last both ways); ``data-type="text"`` sorts by the cell
text (numbers inside names compared as numbers). The first click sorts ascending, the next
descending; the sorted header gets ``aria-sort``. Enter or space on a focused header does
the same as a click.
"""

from __future__ import annotations

STYLE = """\
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --band: #f5f7fa;
        --accent: #2457a6; --head: #102a43; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
       Arial, sans-serif; }
header.top { background: var(--head); color: #fff; padding: 14px 20px; }
header.top a { color: #bcccdc; text-decoration: none; margin-right: 18px; }
header.top a:hover { color: #fff; }
header.top .brand { color: #fff; font-weight: 600; font-size: 17px; }
main { max-width: 1480px; margin: 0 auto; padding: 8px 20px 40px; }
h1 { font-size: 28px; margin: 22px 0 4px; }
h2 { font-size: 21px; margin: 0 0 8px; color: var(--head); }
h3 { font-size: 16px; margin: 22px 0 8px; color: var(--head); }
p { margin: 6px 0 10px; max-width: 1100px; }
p.lead { font-size: 17px; color: var(--muted); margin-top: 0; }
p.note, p.small { font-size: 13px; color: var(--muted); }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       background: var(--band); padding: 1px 4px; border-radius: 3px; }
a { color: var(--accent); }
nav.toc { margin: 14px 0 6px; display: flex; flex-wrap: wrap; gap: 6px; }
nav.toc a { border: 1px solid var(--line); border-radius: 14px; padding: 2px 11px;
            font-size: 13px; text-decoration: none; background: var(--band); }
section.board { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
                margin: 22px 0; }
.badge { display: inline-block; font-size: 12px; border-radius: 10px; padding: 1px 9px;
         margin-right: 6px; background: #e6f0ff; color: var(--accent); font-weight: 600; }
.badge.reported { background: #fff3c4; color: #8d2b0b; }
dl.metrics { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px;
             font-size: 13px; margin: 8px 0 0; }
dl.metrics dt { font-weight: 600; }
dl.metrics dd { margin: 0; color: var(--muted); }
.table-wrap { overflow-x: auto; margin: 8px 0 12px; border: 1px solid var(--line);
              border-radius: 6px; width: fit-content; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 6px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: var(--band); font-weight: 600; max-width: 190px; vertical-align: bottom; }
th .hint { display: block; font-weight: 400; font-size: 11px; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
tbody tr:hover td { background: #eef4fb; }
table.sortable th[data-type] { cursor: pointer; user-select: none; }
table.sortable th[data-type] .label::after { content: "\\00a0\\2195"; color: #9aa5b1;
                                             font-size: 11px; }
table.sortable th[aria-sort=ascending] .label::after { content: "\\00a0\\25B2";
                                                       color: var(--accent); }
table.sortable th[aria-sort=descending] .label::after { content: "\\00a0\\25BC";
                                                        color: var(--accent); }
.missing { color: var(--muted); font-style: italic; }
td a.rec, td span.rec { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.figures { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start;
           overflow-x: auto; }
figure { margin: 6px 0 12px; }
figure img { max-width: 100%; width: 680px; border: 1px solid var(--line);
             border-radius: 4px; }
figcaption { font-size: 12px; color: var(--muted); }
svg.plot text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.plot .grid { stroke: #e4e7eb; }
svg.plot .axis { stroke: #9aa5b1; }
svg.spread { vertical-align: middle; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
         margin-top: 30px; padding-top: 10px; }
"""

SORTER = """\
"use strict";
(function () {
  function value(cell) {
    var v = cell.getAttribute("data-v");
    return v === null ? null : parseFloat(v);
  }
  function compare(a, b, numeric, ascending) {
    if (numeric) {
      var p = value(a), q = value(b);
      if (p === null || q === null) { return (p === null) - (q === null); }
      return ascending ? p - q : q - p;
    }
    var c = a.textContent.trim().localeCompare(b.textContent.trim(), undefined,
                                               {numeric: true});
    return ascending ? c : -c;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.getAttribute("data-type") === "num";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      return compare(r.cells[index], s.cells[index], numeric, ascending);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable th[data-type]").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(th);
        }
      });
    });
  });
})();
"""
