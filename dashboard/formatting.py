"""Template filters: durations, timestamps and numbers, formatted for people.

All return plain strings; Jinja autoescaping does the rest.
"""

from __future__ import annotations

import datetime as dt
import math

from flask import Flask


def duration(seconds: float | None) -> str:
    """``0.0123`` → ``"12.3 ms"``; ``None`` (never happened) → ``"–"``."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def timestamp(seconds: float | None) -> str:
    """Epoch seconds → ``"2026-11-25 00:12:03.123Z"`` (UTC)."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "–"
    try:
        value = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "–"
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def number(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators; ``None`` → ``"–"``."""
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    """``0.125`` → ``"12.5%"``."""
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value * 100:.1f}%"


def money(usd: float | None) -> str:
    """``1.234`` → ``"$1.23"``; below a cent with two significant digits (``0.00012`` → ``"$0.00012"``), never
    ``"$0.0000"``; ``None`` → ``"–"``."""
    if usd is None or isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd):
        return "–"
    if usd == 0:
        return "$0"
    if abs(usd) >= 0.01:
        return f"${usd:,.2f}"
    if abs(usd) < 1e-7:
        return "< $0.0000001"
    digits = max(2, 1 - math.floor(math.log10(abs(usd))) + 1)
    return f"${usd:.{digits}f}".rstrip("0")


def plural(count: int | None, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "stream")`` → ``"1 stream"``; ``plural(3, "stream")`` → ``"3 streams"``."""
    n = 0 if count is None else count
    word = singular if n == 1 else (plural_form or singular + "s")
    return f"{number(n)} {word}"


def status_word(status: str | None) -> str:
    """OpenTelemetry's span status in plain words: ``unset`` and ``ok`` → ``"ok"``, ``error`` → ``"error"``."""
    return "error" if (status or "").lower() == "error" else "ok"


def register(app: Flask) -> None:
    """Install the filters on ``app``."""
    app.add_template_filter(duration, "duration")
    app.add_template_filter(timestamp, "timestamp")
    app.add_template_filter(number, "number")
    app.add_template_filter(percent, "percent")
    app.add_template_filter(money, "money")
    app.add_template_filter(plural, "plural")
    app.add_template_filter(status_word, "status_word")
    from streamscope.dashboard.source import kind_name, status_name

    # a span record's kind and status as the query API names them
    app.add_template_filter(kind_name, "kind_name")
    app.add_template_filter(status_name, "status_name")
    from streamscope.dashboard.attribute_format import attribute_value

    app.add_template_filter(attribute_value, "attribute_value")
