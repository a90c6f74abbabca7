"""Inclusive ``LO:HI`` ranges for condition flags (``--snr 0:30``; ``A`` means ``A:A``)."""

from __future__ import annotations

import math

from perloc.bench.core.errors import UserError


def parse_range(flag: str, text: str) -> tuple[float, float]:
    """``"0:30"`` -> (0.0, 30.0); ``"6"`` -> (6.0, 6.0); anything else is a UserError naming the flag."""
    parts = text.split(":")
    if len(parts) not in (1, 2) or any(not p.strip() for p in parts):
        raise UserError(f"{flag}: {text!r} is not LO:HI or a single number")
    try:
        lo, hi = (float(p) for p in (parts * 2)[:2]) if len(parts) == 1 else map(float, parts)
    except ValueError:
        raise UserError(f"{flag}: {text!r} is not LO:HI with numbers (e.g. 0:30)") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise UserError(f"{flag}: {text!r} must be finite")
    if lo > hi:
        raise UserError(f"{flag}: {text!r} has LO > HI")
    return lo, hi
