"""Query parameters: the validation shared by ``/api/*`` (one-sentence :class:`QueryError` on bad input).

Pure functions over the request's arguments (a mapping of strings); no Flask, no store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from streamscope.collector.model import OUTCOMES, STATUS_NAMES, Cursor, Filters, seconds_to_ns

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
LIVE_LIMIT = 100  # the default number of streams in flight ``/api/live`` lists
GROUP_BY = ("model", "provider", "service", "outcome", "operation", "none")
_HEX = re.compile(r"^[0-9a-f]+$")
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() also takes "²", which int() rejects


class QueryError(ValueError):
    """A bad query parameter; ``str(err)`` is a one-sentence reason."""


FILTER_KEYS = {
    "service", "model", "provider", "outcome", "status", "min_duration", "max_duration", "min_ttft", "session_id",
    "user_id", "since", "until", "q", "trace_id",
}  # fmt: skip


def number(args: Mapping[str, str], key: str) -> float | None:
    raw = args.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise QueryError(f"parameter {key!r} must be a number of seconds.") from None
    if not math.isfinite(value) or value < 0 or value > 1e11:
        raise QueryError(f"parameter {key!r} must be a finite, non-negative number of seconds.")
    return value


def _text(args: Mapping[str, str], key: str, max_len: int = 256) -> str | None:
    raw = args.get(key)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise QueryError(f"parameter {key!r} is longer than {max_len} characters.")
    return raw


def parse_filters(args: Mapping[str, str]) -> Filters:
    outcome = _text(args, "outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise QueryError(f"parameter 'outcome' must be one of {', '.join(OUTCOMES)}.")
    status = _text(args, "status")
    if status is not None and status not in STATUS_NAMES:
        raise QueryError(f"parameter 'status' must be one of {', '.join(STATUS_NAMES)}.")
    trace_id = _text(args, "trace_id")
    if trace_id is not None and not (len(trace_id) == 32 and _HEX.match(trace_id)):
        raise QueryError("parameter 'trace_id' must be 32 lowercase hex characters.")
    since = number(args, "since")
    until = number(args, "until")
    return Filters(
        service=_text(args, "service"),
        model=_text(args, "model"),
        provider=_text(args, "provider"),
        outcome=outcome,
        status=status,
        min_duration=number(args, "min_duration"),
        max_duration=number(args, "max_duration"),
        min_ttft=number(args, "min_ttft"),
        session_id=_text(args, "session_id"),
        user_id=_text(args, "user_id"),
        since_ns=seconds_to_ns(since) if since is not None else None,
        until_ns=seconds_to_ns(until) if until is not None else None,
        search=_text(args, "q"),
        trace_id=trace_id,
    )


def parse_limit(args: Mapping[str, str]) -> int:
    raw = args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise QueryError(f"parameter 'limit' must be an integer from 1 to {MAX_LIMIT}.")
    return int(raw)


def parse_cursor(raw: str | None) -> Cursor | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 128:
        raise QueryError("parameter 'cursor' is not one this server issued.")
    try:
        return Cursor.decode(raw)
    except ValueError:
        raise QueryError("parameter 'cursor' is not one this server issued.") from None


def check_keys(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    for key in args:
        if key not in allowed_set:
            raise QueryError(f"unknown parameter {key[:64]!r}.")


def parse_list_args(args: Mapping[str, str]) -> tuple[Filters, int, Cursor | None]:
    """Validate the parameters of ``/api/traces`` and ``/api/streams``."""
    check_keys(args, FILTER_KEYS | {"limit", "cursor"})
    return parse_filters(args), parse_limit(args), parse_cursor(args.get("cursor"))


def check_id(value: str, n: int, what: str) -> str:
    if len(value) != n or not _HEX.match(value):
        raise QueryError(f"{what} must be {n} lowercase hex characters.")
    return value


def parse_stats_args(args: Mapping[str, str]) -> tuple[str, int, Filters]:
    check_keys(args, FILTER_KEYS | {"group_by", "bucket"})
    group_by = args.get("group_by") or "model"
    if group_by not in GROUP_BY:
        raise QueryError(f"parameter 'group_by' must be one of {', '.join(GROUP_BY)}.")
    raw = args.get("bucket") or "60"
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= 86400:
        raise QueryError("parameter 'bucket' must be an integer number of seconds from 1 to 86400.")
    return group_by, int(raw), parse_filters(args)


def parse_live_args(args: Mapping[str, str]) -> tuple[int | None, int]:
    """Validate the parameters of ``/api/live``: ``since`` (epoch seconds) and ``limit``."""
    check_keys(args, ("since", "limit"))
    since = number(args, "since")
    raw = args.get("limit")
    limit = LIVE_LIMIT if raw is None or raw == "" else parse_limit(args)
    return (seconds_to_ns(since) if since is not None else None), limit
