"""``bench score seld --ref DIR --pred DIR``: the DCASE2024 SELD evaluation of CSV folders.

References (``--ref``, searched recursively: a flat folder or the ``metadata_dev/`` layout)
are 6-column CSVs with distances in cm; predictions (``--pred``) are paired by file stem and are
7-column Cartesian (metres) or 6-column polar CSVs (``--pred-distance-unit``, default m, as the
official code reads them). A reference without a prediction file counts as no predictions; a
prediction without a reference is an error. Every file is read and checked before anything is
computed. Statistics accumulate over all files (as the official code does); with two or more
files each metric also gets the jackknife over files. ``--json`` prints exactly F, DOAE, RDE,
DE, ER, LR, SELD (F, ER, LR and SELD as fractions, DOAE in degrees, RDE unitless, DE in
metres; NaN as null).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import ScorerOption
from perloc.datasets.dcase_csv import DcaseEvents, csv_files, read_prediction, read_reference
from perloc.metrics.seld import NAMES, SeldConfig, file_stats, jackknife_scores, scores

_UNITS = {"F": "", "DOAE": "deg", "RDE": "", "DE": "m", "ER": "", "LR": "", "SELD": ""}


def _number(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


class SeldFileScorer:
    """The DCASE2024 metrics on official CSV folders (module docstring)."""

    options = (
        ScorerOption("classes", int, 13, "number of classes (class indices 0..N-1)"),
        ScorerOption("average", str, "macro", "class averaging", ("macro", "micro")),
        ScorerOption("pred_distance_unit", str, "m", "unit of a 6-column polar prediction's "
                     "distance", ("m", "cm")),
    )

    def read(self, ref: Path, pred: Path, options: dict) -> list[tuple[str, DcaseEvents,
                                                                         DcaseEvents]]:
        classes = options["classes"]
        if classes < 1:
            raise UserError(f"--classes: {classes} must be >= 1")
        refs, preds = csv_files(Path(ref), "--ref"), csv_files(Path(pred), "--pred")
        if not refs:
            raise UserError(f"--ref {ref}: no reference CSV under it")
        orphans = sorted(set(preds) - set(refs))
        if orphans:
            raise UserError(f"--pred {preds[orphans[0]]}: no reference file {orphans[0]}.csv "
                            f"under {ref}")
        return [(stem, read_reference(path, classes),
                 read_prediction(preds[stem], classes, options["pred_distance_unit"])
                 if stem in preds else DcaseEvents.empty())
                for stem, path in sorted(refs.items())]

    def score(self, ref: Path, pred: Path, options: dict) -> tuple[dict, list[str]]:
        files = self.read(ref, pred, options)
        config = SeldConfig(n_classes=options["classes"])
        per_file = np.stack([file_stats(r, p, config) for _, r, p in files])
        result = {k: float(v) for k, v in scores(per_file.sum(axis=0), config,
                                                 options["average"]).items()}
        lines = [f"{len(files)} files, {options['average']} average over "
                 f"{config.n_classes} classes (DCASE2024: 20 deg, relative distance 1.0)"]
        intervals = jackknife_scores(per_file, config, options["average"]) \
            if len(files) >= 2 else {}
        for name in NAMES:
            text = f"{name:5s} {result[name]:.4f} {_UNITS[name]}".rstrip()
            iv = intervals.get(name)
            if iv is not None and math.isfinite(iv.low):
                text += f"   jackknife {iv.estimate:.4f} [{iv.low:.4f}, {iv.high:.4f}]"
            lines.append(text)
        return {name: _number(result[name]) for name in NAMES}, lines
