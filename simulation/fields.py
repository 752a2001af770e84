"""Typed readers for raw YAML values: each names the field path it reads in its error (ScenarioError)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class ScenarioError(ValueError):
    """A scenario (or calibration) file is invalid; the message names the bad field by its path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def mapping(value: Any, at: str, allowed: set[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        got = "nothing" if value is None else type(value).__name__
        raise ScenarioError(at, f"required: a mapping, got {got}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise ScenarioError(
                join(at, unknown[0]), f"unknown field (allowed: {', '.join(sorted(allowed))})"
            )
    return value


def join(at: str, key: object) -> str:
    return f"{at}.{key}" if at else str(key)


def number(
    raw: Mapping[str, Any],
    key: str,
    at: str,
    default: float | None = None,
    lo: float = 0.0,
    hi: float = math.inf,
    lo_open: bool = False,
) -> float:
    """A finite number in [lo, hi] (or (lo, hi] when lo_open); required when default is None."""
    path = join(at, key)
    value = raw.get(key, default)
    if value is None:
        raise ScenarioError(path, "required: a number")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(path, f"must be a number, got {value!r}")
    if value < lo or value > hi or (lo_open and value == lo):
        low = f"> {lo:g}" if lo_open else f">= {lo:g}"
        high = "" if hi == math.inf else f" and <= {hi:g}"
        raise ScenarioError(path, f"must be {low}{high}, got {value!r}")
    return float(value)


def integer(
    raw: Mapping[str, Any], key: str, at: str, default: int | None = None, lo: int = 0, hi: int = 2**62
) -> int:
    path = join(at, key)
    value = raw.get(key, default)
    if value is None:
        raise ScenarioError(path, "required: an integer")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(path, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ScenarioError(path, f"must be in {lo}..{hi}, got {value}")
    return value


def text(raw: Mapping[str, Any], key: str, at: str, default: str | None = None) -> str:
    path = join(at, key)
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise ScenarioError(path, "required: a non-empty string")
    return value


def weights(value: Any, at: str, known: Mapping[str, Any] | set[str] | None, what: str) -> dict[str, float]:
    """A non-empty {name: weight} map with positive weights, normalised to sum 1."""
    raw = mapping(value, at)
    if not raw:
        raise ScenarioError(at, f"at least one {what} is required")
    out: dict[str, float] = {}
    for name in raw:
        if isinstance(name, bool):
            raise ScenarioError(join(at, name), 'read as a YAML boolean: quote it ("NO")')
        if known is not None and name not in known:
            raise ScenarioError(join(at, name), f"unknown {what} {name!r}")
        out[str(name)] = number(raw, name, at, lo=0.0, lo_open=True)
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


def name_list(value: Any, at: str, known: Mapping[str, Any] | set[str], what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ScenarioError(at, f"a non-empty list of {what} names")
    for i, item in enumerate(value):
        if item not in known:
            raise ScenarioError(f"{at}[{i}]", f"unknown {what} {item!r}")
    return tuple(str(v) for v in value)
