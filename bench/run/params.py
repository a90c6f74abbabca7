"""Method parameters: frozen dataclasses with the paper's defaults, overridden by ``-p key=value``."""

from __future__ import annotations

import dataclasses
import json
import math
import types
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
        except RecursionError:
            raise UserError(f"-p {key.strip()}: value nested too deeply") from None
    return out


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """``value`` as the annotated type: int, float, str, bool, None and tuple[T, ...]."""
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list | tuple):
        element = typing.get_args(hint)[0]
        return tuple(_coerce(name, element, v) for v in value)
    allowed = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if len(allowed) > 1:
        for kind in allowed:
            try:
                return _coerce(name, kind, value)
            except UserError:
                continue
    kind = allowed[0]
    if kind is type(None) and value is None:
        return None
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise UserError(f"-p {name}={value!r}: expected a finite number")
        return float(value)
    if kind in (int, str, bool) and isinstance(value, kind) and not (
        kind is int and isinstance(value, bool)
    ):
        return value
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
    try:
        values = {k: _coerce(k, hints[k], v) for k, v in overrides.items()}
        return params_type(**values)
    except RecursionError:
        raise UserError("-p: a value is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise UserError(f"-p: {exc}") from None
