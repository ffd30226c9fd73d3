"""Spec field checks shared by the backends: each names the field as a path in the request
(e.g. "models[1].monai.channels[2]") and says what it accepts."""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidArgument


def integer(spec: dict[str, Any], name: str, prefix: str, default: int, low: int, high: int) -> int:
    """An int field where 0 means `default`; otherwise in [low, high]."""
    value = spec.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{prefix}.{name}", f"must be an integer, got {value!r}")
    if value == 0:
        return default
    if not low <= value <= high:
        raise InvalidArgument(f"{prefix}.{name}", f"must be between {low} and {high} (0 = default {default}), got {value}")
    return value


def fraction(spec: dict[str, Any], name: str, prefix: str, high: float = 1.0) -> float:
    """A float in [0, high)."""
    value = spec.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value < high:
        raise InvalidArgument(f"{prefix}.{name}", f"must be >= 0 and < {high}, got {value!r}")
    return float(value)


def integers(spec: dict[str, Any], name: str, prefix: str, low: int, high: int) -> list[int]:
    """A repeated int field, each entry in [low, high]; [] when unset."""
    values = list(spec.get(name) or [])
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise InvalidArgument(f"{prefix}.{name}[{i}]", f"must be an integer between {low} and {high}, got {v!r}")
    return values


def unset(spec: dict[str, Any], name: str, prefix: str, why: str) -> None:
    """A field that does not apply to the chosen variant must stay at its zero value."""
    value = spec.get(name)
    if value not in (None, 0, 0.0, "", []):
        raise InvalidArgument(f"{prefix}.{name}", f"must be unset: {why}, got {value!r}")


def choice(spec: dict[str, Any], name: str, prefix: str, allowed: Sequence[str], default: str) -> str:
    """A name from `allowed` ("" = default), matched case-insensitively, returned as spelled there."""
    value = spec.get(name) or ""
    if not value:
        return default
    by_lower = {a.lower(): a for a in allowed}
    if isinstance(value, str) and value.lower() in by_lower:
        return by_lower[value.lower()]
    raise InvalidArgument(f"{prefix}.{name}", f"must be one of {', '.join(allowed)}, got {value!r}")


def close_names(value: str, known: Sequence[str], n: int = 5) -> str:
    """"; close: a, b, c" for an unknown name (empty when nothing is close)."""
    close = difflib.get_close_matches(value, known, n=n, cutoff=0.5)
    return f"; close: {', '.join(close)}" if close else ""


def check_constructor(build: Callable[[], object], field: str, what: str) -> None:
    """Run a third-party constructor on the meta device (no memory, no weights): what it refuses,
    the work would refuse too, so the plan check names the field instead. A constructor that
    computes values while it builds (e.g. drop-path rates with .item()) cannot run on meta: that
    is inconclusive, not an error."""
    import torch

    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build()
    except (ValueError, KeyError, TypeError, AssertionError) as e:
        text = str(e).strip()
        raise InvalidArgument(field, f"{what}: {text.splitlines()[0] if text else type(e).__name__}") from None
    except (RuntimeError, NotImplementedError):
        pass
