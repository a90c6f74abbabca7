"""Small validation helpers for method parameter dataclasses."""

from __future__ import annotations


def require_positive_int(name: str, value) -> None:
    """ValueError naming ``name`` unless ``value`` is an int >= 1 (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def require_positive_ints(obj, names) -> None:
    """ValueError naming the first field of ``obj`` in ``names`` that is not an int >= 1."""
    for name in names:
        require_positive_int(name, getattr(obj, name))


def require_probability(name: str, value) -> None:
    """ValueError naming ``name`` unless ``value`` is a real number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")


def require_at_least(name: str, value, low) -> None:
    """ValueError naming ``name`` unless ``value`` is a real number >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise ValueError(f"{name} must be a number >= {low}, got {value!r}")


def require_positive(name: str, value) -> None:
    """ValueError naming ``name`` unless ``value`` is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
