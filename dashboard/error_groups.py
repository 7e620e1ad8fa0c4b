"""The errors view's grouping: failed steps by exception type and message, with counts over time.

Pure functions over failed steps (``DataSource.error_rows``: trace and span id, name, start, error type, message,
HTTP status; newest first). A failure usually
travels up its trace (the model call, the chain around it, the root all end in error with the same exception), so
a group counts *traces*: the same type and message in one trace counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from streamscope.dashboard.failures import from_row, group_key
from streamscope.dashboard.source import ErrorRow

LATEST_TRACES = 5


@dataclass
class ErrorGroup:
    """One kind of failure.

    Attributes:
        error_type: Exception type or ``error.type``.
        message: First line of the message.
        traces: Traces it happened in.
        steps: Failed steps (spans) counted, across those traces.
        first: Start of its earliest failed step (epoch seconds).
        last: Start of its latest failed step.
        http_statuses: HTTP status codes seen with it.
        buckets: Traces per time bucket over the view's range, oldest first.
        latest: ``(trace_id, start, step name)`` of its latest traces.
    """

    error_type: str
    message: str
    traces: int = 0
    steps: int = 0
    first: float = 0.0
    last: float = 0.0
    http_statuses: set[int] = field(default_factory=set)
    buckets: list[int] = field(default_factory=list)
    latest: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return max(self.buckets, default=0)


def group(spans: Sequence[ErrorRow], since: float, until: float, n_buckets: int = 24) -> list[ErrorGroup]:
    """Group failed steps; most traces first, then most recent.

    Args:
        spans: Failed steps (``error_rows``), newest first.
        since: Start of the range the counts over time cover (epoch seconds).
        until: Its end.
        n_buckets: Number of time buckets.
    """
    width = max(until - since, 1e-9) / n_buckets
    groups: dict[tuple[str, str], ErrorGroup] = {}
    seen: set[tuple[str, str, str]] = set()
    for span in spans:
        f = from_row(span)
        key = group_key(f)
        g = groups.get(key)
        start = span.start
        if g is None:
            g = groups[key] = ErrorGroup(
                error_type=key[0], message=key[1], first=start, last=start, buckets=[0] * n_buckets
            )
        g.steps += 1
        g.first, g.last = min(g.first, start), max(g.last, start)
        if f.http_status is not None:
            g.http_statuses.add(f.http_status)
        trace_id = span.trace_id
        if (trace_id, *key) in seen:
            continue
        seen.add((trace_id, *key))
        g.traces += 1
        slot = int((start - since) / width)
        if 0 <= slot < n_buckets:
            g.buckets[slot] += 1
        if len(g.latest) < LATEST_TRACES:
            g.latest.append((trace_id, start, span.name))
    return sorted(groups.values(), key=lambda g: (-g.traces, -g.last, g.error_type, g.message))
