"""``bench status``: what each sweep has finished, failed, and still pending, from the records.

A sweep's cells come from its manifest (``results/sweeps/*.json``, written when the sweep
starts); a cell is ``ok`` or ``failed`` by its record and ``pending`` without one.
"""

from __future__ import annotations

import json

from tabulate import tabulate

from perloc.bench.core.errors import UserError
from perloc.bench.store import record_files
from perloc.bench.store.workspace import Workspace


def _manifests(workspace: Workspace, task: str | None) -> list[dict]:
    folder = workspace.results / "sweeps"
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: malformed sweep manifest ({exc.msg})") from None
        if task is None or manifest.get("task") == task:
            out.append(manifest)
    return sorted(out, key=lambda m: m.get("created_at", ""))


def sweep_states(workspace: Workspace, task: str | None = None) -> list[dict]:
    """Per sweep: id, task, profile, counts of ok / failed / pending cells, failed cells."""
    records: dict[tuple[str, str], dict[str, object]] = {}
    states = []
    for manifest in _manifests(workspace, task):
        pair = (manifest["task"], manifest["profile"])
        if pair not in records:
            records[pair] = {r.key: r for r in record_files.load_all(workspace.runs, *pair)}
        by_key = records[pair]
        counts = {"ok": 0, "failed": 0, "pending": 0}
        failures = []
        for cell in manifest["cells"]:
            record = by_key.get(cell["key"])
            state = "pending" if record is None else ("ok" if record.status == "ok" else "failed")
            counts[state] += 1
            if state == "failed":
                failures.append(f"{cell['method']} seed={cell['seed']}: {record.reason}")
        states.append({"sweep": manifest["sweep_id"], "task": pair[0], "profile": pair[1],
                       "cells": len(manifest["cells"]), **counts, "failures": failures,
                       "created_at": manifest.get("created_at", "")})
    return states


def format_status(states: list[dict]) -> str:
    if not states:
        return "no sweeps recorded"
    rows = [[s["sweep"], s["task"], s["profile"], s["cells"], s["ok"], s["failed"], s["pending"],
             s["created_at"][:19]] for s in states]
    text = tabulate(rows, headers=["sweep", "task", "profile", "cells", "ok", "failed",
                                   "pending", "started (UTC)"])
    failures = [f"  {s['sweep']}: {line}" for s in states for line in s["failures"]]
    return text + ("\n\nfailed cells:\n" + "\n".join(failures) if failures else "")


def sweep_summary(outcome, planned: int) -> str:
    """One paragraph for stderr after ``bench run``: counts, time, failed cells, and the
    records a tracking server that stopped answering did not get."""
    lines = [f"sweep: {planned} cells: {outcome.ran} run, {outcome.reused} reused, "
             f"{len(outcome.failed)} failed, {outcome.not_started} not started "
             f"({outcome.seconds:.1f} s)"]
    lines += [f"  failed: {r.method} seed={r.seed} {r.where or ''}: {r.reason}"
              for r in outcome.failed]
    if outcome.unmirrored:
        why = f" ({outcome.mirror_down})" if outcome.mirror_down else ""
        tasks = " ".join(sorted({r.task for r in outcome.unmirrored}))
        lines.append(f"  not mirrored: {len(outcome.unmirrored)} records have no MLflow run: "
                     f"{outcome.tracking_uri} did not answer{why}; the records are saved, "
                     f"`bench sync {tasks}` mirrors them when it is back")
        lines += [f"  not mirrored: {r.method} seed={r.seed}{f' {r.where}' if r.where else ''} "
                  f"(cell {r.key})" for r in outcome.unmirrored]
    return "\n".join(lines)
