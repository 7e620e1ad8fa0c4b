"""Reading attribute values that any SDK (or an attacker) may have sent: a value of the wrong type, a negative or
non-finite number or an empty string reads as absent, never as a crash. Every dialect reads through these."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from math import isfinite
from typing import Any

import orjson


class BadSpan(ValueError):
    """A span carries a value that cannot be read as what its key means; ``str(err)`` says which (the span is
    rejected through the OTLP partial success, the rest of the request is stored)."""


def num(attrs: Mapping[str, Any], *keys: str, scale: float = 1.0) -> float | None:
    """The first of ``keys`` whose value is a finite number >= 0 (or a string of one), times ``scale``."""
    for k in keys:
        v = attrs.get(k)
        if v is None:  # the usual case, first: most keys of most dialects are absent
            continue
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                continue
        if isinstance(v, (int, float)) and not isinstance(v, bool) and isfinite(v) and v >= 0:
            return float(v) * scale
    return None


def integer(attrs: Mapping[str, Any], *keys: str) -> int | None:
    """As :func:`num`, as an int; a first readable value of 2**62 or more reads as absent."""
    v = num(attrs, *keys)
    return int(v) if v is not None and v < 2**62 else None


def text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` whose value is a non-empty string, cut to 256 characters."""
    for k in keys:
        v = attrs.get(k)
        if isinstance(v, str) and v:
            return v[:256]
    return None


def iso_ns(value: Any, key: str) -> int | None:
    """An ISO 8601 time (quoted or not; naive means UTC) or ns since the epoch, as ns since the epoch."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not isfinite(value):
            raise BadSpan(f"a span has a non-finite {key} ({value})")
        v = int(value)
        return v if v > 10**17 else None  # ns since the epoch
    if not isinstance(value, str):
        return None
    stripped = value.strip().strip('"')
    try:
        dt = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1e6) * 1000


def json_map(value: Any) -> Mapping[str, Any]:
    """A mapping, or a JSON object sent as a string; anything else is an empty mapping."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            out = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}
