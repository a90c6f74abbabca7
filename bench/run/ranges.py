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


def parse_where(flag: str, items: tuple[str, ...] | list[str]) -> dict[str, tuple]:
    """``("mics=5:9", "setup=1_a,1_b")`` -> ``{"mics": (5.0, 9.0), "setup": ("1_a", "1_b")}``.

    A value made of numbers (``A`` or ``LO:HI``) is an inclusive range; anything else is a
    comma-separated list of categorical values.
    """
    where: dict[str, tuple] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserError(f"{flag}: {item!r} is not CONDITION=VALUES (e.g. mics=5:9, setup=1_a)")
        name = name.strip()
        if name in where:
            raise UserError(f"{flag}: condition {name!r} given twice")
        try:
            where[name] = parse_range(f"{flag} {name}", value)
        except UserError:
            if any(c.isdigit() for c in value.split(":")[0]) and ":" in value:
                raise
            where[name] = tuple(v.strip() for v in value.split(",") if v.strip())
    return where


MAX_SEEDS = 10_000


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0:4"`` -> (0, 1, 2, 3, 4) (inclusive); ``"1,5,9"`` -> (1, 5, 9); ``"3"`` -> (3,)."""
    try:
        if ":" in text:
            lo, hi = (int(p) for p in text.split(":"))
            if hi - lo + 1 > MAX_SEEDS:  # checked before the range is expanded
                raise UserError(f"--seeds: {text!r} names {hi - lo + 1} seeds (at most "
                                f"{MAX_SEEDS})")
            seeds = tuple(range(lo, hi + 1))
        else:
            seeds = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise UserError(f"--seeds: {text!r} is not LO:HI or a comma-separated list of "
                        "integers") from None
    if not seeds:
        raise UserError(f"--seeds: {text!r} selects no seed (LO > HI)")
    if len(seeds) > MAX_SEEDS or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds: {text!r} must name distinct non-negative seeds "
                        f"(at most {MAX_SEEDS})")
    return seeds
