"""Method parameters: frozen dataclasses with the paper's defaults, overridden by ``-p key=value``."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from perloc.bench.core.errors import UserError


def parse_overrides(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> {"a": 1, "b": "x"} (values parsed as JSON when they are JSON)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"-p/--param: {item!r} is not key=value")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _coerce(name: str, hint: Any, value: Any) -> Any:
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind in (int, float, str, bool) and isinstance(value, kind) and not (
            kind is int and isinstance(value, bool)
        ):
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    names = " or ".join("null" if k is type(None) else getattr(k, "__name__", str(k))
                        for k in allowed)
    raise UserError(f"-p {name}={value!r}: expected {names}")


def build_params(params_type: type, overrides: dict[str, Any]):
    """Instantiate ``params_type`` with ``overrides`` checked against its fields and types."""
    hints = typing.get_type_hints(params_type)
    fields = {f.name for f in dataclasses.fields(params_type)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise UserError(f"-p {unknown[0]}: unknown parameter (known: {', '.join(sorted(fields))})")
    values = {k: _coerce(k, hints[k], v) for k, v in overrides.items()}
    try:
        return params_type(**values)
    except (TypeError, ValueError) as exc:
        raise UserError(f"-p: {exc}") from None
