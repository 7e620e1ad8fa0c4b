"""Parse and validate everything a request can send: path ids and query parameters.

Pure functions (no Flask): each takes raw strings and returns clean values or raises
:class:`~streamscope.dashboard.errors.BadParameter` with a one-sentence reason. The rule is *reject, don't guess*:
unknown parameters, repeated parameters, oversized or malformed values all get a 400, so a shared link never
silently means something other than what it says.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streamscope.dashboard.errors import BadParameter

MAX_QUERY_STRING = 2048
MAX_TEXT = 200
MAX_CURSOR = 1024  # a sessions-list cursor holds the session id (base64)
MAX_LIMIT = 500

OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
STATUSES = ("ok", "error", "unset")
RANGES = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000, "all": None}

_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")
_CURSOR = re.compile(r"[A-Za-z0-9_\-=.:~]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def trace_id(raw: str) -> str:
    """Validate a trace id from a URL.

    Args:
        raw: The path segment.

    Returns:
        The id in lowercase hex.

    Raises:
        BadParameter: If it is not 32 hexadecimal characters.
    """
    if not _TRACE_ID.fullmatch(raw):
        raise BadParameter("A trace id must be 32 hexadecimal characters.")
    return raw.lower()


def span_id(raw: str) -> str:
    """Validate a span id from a URL (16 hex characters); returns it in lowercase."""
    if not _SPAN_ID.fullmatch(raw):
        raise BadParameter("A span id must be 16 hexadecimal characters.")
    return raw.lower()


def text(name: str, raw: str) -> str:
    """Validate a free-text value: at most 200 characters and no control characters."""
    if len(raw) > MAX_TEXT:
        raise BadParameter(f"The {name} parameter is longer than {MAX_TEXT} characters.")
    if _CONTROL.search(raw):
        raise BadParameter(f"The {name} parameter contains control characters.")
    return raw


def choice(name: str, raw: str, allowed: Iterable[str]) -> str:
    """Validate a value against a closed set."""
    options = tuple(allowed)
    if raw not in options:
        raise BadParameter(f"The {name} parameter must be one of: {', '.join(options)}.")
    return raw


def number(name: str, raw: str, *, low: float = 0.0, high: float = 1e12) -> float:
    """Validate a finite number within ``[low, high]``."""
    if len(raw) > 32:
        raise BadParameter(f"The {name} parameter is not a number.")
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(f"The {name} parameter is not a number.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadParameter(f"The {name} parameter must be between {low:g} and {high:g}.")
    return value


def integer(name: str, raw: str, *, low: int, high: int) -> int:
    """Validate an integer within ``[low, high]``."""
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise BadParameter(f"The {name} parameter must be a whole number between {low} and {high}.")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(f"The {name} parameter must be a whole number between {low} and {high}.")
    return value


def cursor(raw: str) -> str:
    """Validate an opaque pagination cursor (its meaning is checked by the query layer)."""
    if len(raw) > MAX_CURSOR or not _CURSOR.fullmatch(raw):
        raise BadParameter("The cursor parameter is not a cursor this dashboard handed out.")
    return raw


@dataclass(frozen=True)
class Filters:
    """Validated list filters; every field ``None``/empty means "no filter".

    Attributes:
        service: Exact service name.
        model: Exact model name.
        outcome: Stream outcome.
        status: Span status of the trace root (``ok``, ``error``, ``unset``).
        q: Text search (trace/span names, ids, content when captured).
        min_duration: Lower bound on duration in seconds.
        max_duration: Upper bound on duration in seconds.
        min_ttft: Lower bound on time to first token in seconds.
        session: ``session.id`` attribute.
        user: ``user.id`` attribute.
        range: Named time range (``15m`` … ``all``).
        since: Start of the time window (epoch seconds), derived from ``range`` or given.
        until: End of the time window (epoch seconds), when given.
        cursor: Pagination cursor from a previous page.
        limit: Page size.
        limit_given: Whether ``limit`` came from the URL (then links keep it).
        bucket: Chart bucket width in seconds (overview only).
    """

    service: str | None = None
    model: str | None = None
    outcome: str | None = None
    status: str | None = None
    q: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_ttft: float | None = None
    session: str | None = None
    user: str | None = None
    range: str | None = None
    since: float | None = None
    until: float | None = None
    cursor: str | None = None
    limit: int = 50
    limit_given: bool = False
    bucket: int | None = None

    def as_query(self, **changes: str | None) -> dict[str, str]:
        """The filter state as URL query parameters (for shareable links), with ``changes`` applied."""
        out: dict[str, str] = {}
        for key in (
            "service",
            "model",
            "outcome",
            "status",
            "q",
            "min_duration",
            "max_duration",
            "min_ttft",
            "session",
            "user",
            "range",
            "cursor",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = f"{value:g}" if isinstance(value, float) else str(value)
        if self.range is None and self.since is not None:
            out["since"] = f"{self.since:.6f}".rstrip("0").rstrip(".")
        if self.limit_given:
            out["limit"] = str(self.limit)
        if self.bucket is not None:
            out["bucket"] = str(self.bucket)
        if self.until is not None:
            out["until"] = f"{self.until:.6f}".rstrip("0").rstrip(".")
        for key, value in changes.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def active(self) -> list[tuple[str, str, str]]:
        """The filters in force besides the time range, as ``(parameter, label, value)`` for the filter bar."""
        out = []
        for key, label in ACTIVE_LABELS:
            value = getattr(self, key)
            if value is not None:
                out.append((key, label, f"{value:g} s" if isinstance(value, float) else str(value)))
        return out

    def without(self, key: str) -> dict[str, str]:
        """The link that drops one filter (and the cursor: the pages change) and keeps the rest."""
        return self.as_query(cursor=None, **{key: None})

    def scope(self, **changes: str | None) -> dict[str, str]:
        """The parameters every filtered page accepts (:data:`SCOPE`), with ``changes``: for a link to another
        page (a drill-down) that keeps the service, model, session, user and time range."""
        query = self.as_query(cursor=None, **changes)
        return {k: v for k, v in query.items() if k in SCOPE}


#: Filters shown in the filter bar, in order, with their label.
ACTIVE_LABELS = (
    ("q", "search"),
    ("service", "service"),
    ("model", "model"),
    ("outcome", "outcome"),
    ("status", "status"),
    ("min_duration", "duration ≥"),
    ("max_duration", "duration ≤"),
    ("min_ttft", "TTFT ≥"),
    ("session", "session"),
    ("user", "user"),
)
#: Parameters that every filtered page (overview, models, streams, traces, errors) accepts, kept by drill-downs.
SCOPE = frozenset({"service", "model", "session", "user", "range", "since", "until"})


def filters(
    args: Mapping[str, list[str]],
    *,
    allowed: Iterable[str],
    default_limit: int = 50,
    default_range: str | None = None,
    now: float | None = None,
) -> Filters:
    """Parse list/overview query parameters.

    Args:
        args: Every query parameter with all its values (``request.args.to_dict(flat=False)``).
        allowed: The parameter names this page accepts.
        default_limit: Page size when ``limit`` is absent.
        default_range: Named time range applied when neither ``range`` nor ``since`` is given.
        now: Current time (seconds since the epoch); defaults to ``time.time()``.

    Returns:
        The validated filters.

    Raises:
        BadParameter: On an unknown, repeated, malformed or out-of-range parameter.
    """
    values = _single_values(args, set(allowed))
    got = _field_values(values, default_limit)
    got.update(_time_range(values, default_range, time.time() if now is None else now))
    if got.get("since") is not None and got.get("until") is not None and got["since"] > got["until"]:  # type: ignore[operator]
        raise BadParameter("The time range ends before it starts.")
    if "min_duration" in got and "max_duration" in got and got["min_duration"] > got["max_duration"]:  # type: ignore[operator]
        raise BadParameter("min_duration is larger than max_duration.")
    return Filters(**got)  # type: ignore[arg-type]


def _single_values(args: Mapping[str, list[str]], allowed: set[str]) -> dict[str, str]:
    """Each parameter's one value (empty form fields mean "no filter" and are left out).

    Raises:
        BadParameter: On an unknown or repeated parameter.
    """
    values: dict[str, str] = {}
    for key, raw_values in args.items():
        if key not in allowed:
            shown = (
                key
                if len(key) <= 40 and not _CONTROL.search(key)
                else key[:40].encode("unicode_escape").decode()
            )
            raise BadParameter(f"Unknown query parameter {shown!r}.")
        if len(raw_values) != 1:
            raise BadParameter(f"The {key} parameter was given more than once.")
        if raw_values[0] != "":
            values[key] = raw_values[0]
    return values


def _field_values(values: Mapping[str, str], default_limit: int) -> dict[str, object]:
    """The validated filters other than the time range."""
    got: dict[str, object] = {}
    for key in ("service", "model", "q", "session", "user"):
        if key in values:
            got[key] = text(key, values[key])
    if "outcome" in values:
        got["outcome"] = choice("outcome", values["outcome"], OUTCOMES)
    if "status" in values:
        got["status"] = choice("status", values["status"], STATUSES)
    for key in ("min_duration", "max_duration", "min_ttft"):
        if key in values:
            got[key] = number(key, values[key], high=1e6)
    if "cursor" in values:
        got["cursor"] = cursor(values["cursor"])
    got["limit"] = (
        integer("limit", values["limit"], low=1, high=MAX_LIMIT) if "limit" in values else default_limit
    )
    got["limit_given"] = "limit" in values
    if "bucket" in values:
        got["bucket"] = integer("bucket", values["bucket"], low=1, high=86400)
    return got


def _time_range(values: Mapping[str, str], default_range: str | None, now: float) -> dict[str, object]:
    """``range`` (or ``default_range`` without ``range`` and ``since``) as ``since`` at ``now``, and ``since`` /
    ``until`` as given."""
    got: dict[str, object] = {}
    if "range" in values:
        if "since" in values:
            raise BadParameter("Give either range or since, not both.")
        got["range"] = choice("range", values["range"], RANGES)
    if "since" in values:
        got["since"] = number("since", values["since"], high=1e11)
    if "until" in values:
        got["until"] = number("until", values["until"], high=1e11)
    if "since" not in got and "range" not in got and default_range is not None:
        got["range"] = default_range
    if "range" in got:
        seconds = RANGES[str(got["range"])]
        got["since"] = None if seconds is None else now - seconds
    return got


def check_query_string(raw: bytes) -> None:
    """Reject oversized query strings before parsing them."""
    if len(raw) > MAX_QUERY_STRING:
        raise BadParameter(f"The query string is longer than {MAX_QUERY_STRING} bytes.")
