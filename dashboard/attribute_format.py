"""Span attribute values formatted for reading: units from the attribute's name, sensible rounding.

``attribute_value("streamscope.stream.gap_p95", 0.12494888100000001)`` → ``"125 ms"``;
``attribute_value("gen_ai.usage.output_tokens", 12000)`` → ``"12,000"``; booleans as ``true``/``false``; lists one
item per line; JSON text indented. Returns plain strings (the template escapes them).
"""

from __future__ import annotations

import math
from typing import Any

from streamscope.dashboard.conversation import pretty
from streamscope.dashboard.formatting import duration, money

_SECONDS = (
    "time_to_first",
    "ttft",
    "gap_p",
    "gap_max",
    ".gap",
    "stall_threshold",
    "duration",
    ".offset",
    "latency",
    "stalled_for",
    "retry_after",
)
_PER_SECOND = ("per_second",)
_COST = ("cost", "usd")


def _unit_of(key: str) -> str | None:
    k = key.lower()
    if any(p in k for p in _PER_SECOND):
        return "/s"
    if any(p in k for p in _COST):
        return "$"
    if any(p in k for p in _SECONDS):
        return "s"
    return None


def plain_number(value: float) -> str:
    """A float rounded to 4 significant digits, without exponent for everyday magnitudes."""
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.1f}"
    if magnitude >= 1e-4:
        digits = max(0, 3 - math.floor(math.log10(magnitude)))
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def attribute_value(key: str, value: Any) -> str:
    """One attribute value as text for the attribute table."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        unit = _unit_of(key)
        if unit == "s":
            return duration(float(value))
        if unit == "$":
            return money(float(value))
        text = f"{value:,}" if isinstance(value, int) else plain_number(float(value))
        return f"{text} /s" if unit == "/s" else text
    if isinstance(value, (list, tuple)):
        if not value:
            return "(empty list)"
        return "\n".join(attribute_value(key, v) if not isinstance(v, str) else v for v in value)
    if isinstance(value, dict):
        return pretty(value)
    text = str(value)
    if text[:1] in ("{", "["):
        return pretty(text)
    return text
