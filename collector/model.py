"""The collector's data model: frozen dataclasses decoded once at the edge.

* :class:`Span` is one OTLP span, decoded (ids as lowercase hex, times in ns, attributes as plain Python values).
* :class:`Stream` is one LLM stream (one per model call) with its rollups, whatever dialect it came from.
* :class:`Chunk` is one compact chunk row of a stream.
* :class:`TraceSummary` is the per-trace rollup behind ``/api/traces``.
* :class:`LiveStream` is a stream in flight: chunk spans with the in-flight signal arrived, its own span not yet.

Attribute mappings are plain dicts for speed; treat them as read-only.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

NS = 1_000_000_000
#: The latest time a store holds: the last whole day before 2**63 - 1 ns (2262-04-11), so every aggregate tier
#: and chart bucket boundary at or below it is still a 64-bit integer.
MAX_TIME_NS = (2**63 - 1) // (86_400 * NS) * 86_400 * NS

KIND_NAMES = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_NAMES = ("unset", "ok", "error")
OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
CHUNK_KINDS = ("role", "content", "reasoning", "tool_call", "usage", "empty")


def seconds_to_ns(seconds: float) -> int:
    """Epoch seconds (finite, validated by the caller) to ns, clamped to ``[0, MAX_TIME_NS]``: a time past what a
    store can hold matches nothing instead of overflowing a 64-bit column."""
    return max(0, min(MAX_TIME_NS, int(seconds * NS)))


def kind_name(kind: int) -> str:
    return KIND_NAMES[kind] if 0 <= kind < len(KIND_NAMES) else "unspecified"


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else "unset"


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int = 0
    status_message: str = ""
    service: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope: str = ""
    session_id: str | None = None
    user_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a span in ``GET /api/traces/<trace_id>``."""
        return {
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": kind_name(self.kind),
            "start": self.start_ns / NS,
            "end": self.end_ns / NS,
            "status": status_name(self.status_code),
            "status_message": self.status_message,
            "service": self.service,
            "attributes": dict(self.attributes),
            "events": [
                {"name": e.name, "time": e.time_ns / NS, "attributes": dict(e.attributes)}
                for e in self.events
            ],
            "session_id": self.session_id,
            "user_id": self.user_id,
        }


@dataclass(frozen=True, slots=True)
class Stream:
    """One LLM stream (one model call) with its rollups. Times are seconds except ``*_ns``.

    A ``None`` timing means "that never happened or the source did not say", never 0.
    """

    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    service: str = ""
    model: str = ""
    provider: str = ""
    operation: str = "chat"
    outcome: str = "completed"
    ttft: float | None = None
    time_to_first_chunk: float | None = None
    time_to_first_byte: float | None = None
    time_to_first_tool_call: float | None = None
    time_to_first_reasoning_token: float | None = None
    chunk_count: int | None = None
    gap_p50: float | None = None
    gap_p95: float | None = None
    gap_max: float | None = None
    stall_count: int | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens_per_second: float | None = None
    usage_source: str | None = None
    error_type: str | None = None
    cost_usd: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    name: str = ""
    dialect: str = "genai"
    #: where ``ttft`` comes from: ``measured`` (the first content chunk's arrival), ``first_chunk`` (the source
    #: stamps its "first token" on its first chunk and says nothing of content), None when there is no TTFT
    ttft_source: str | None = None

    @property
    def start(self) -> float:
        return self.start_ns / NS

    @property
    def duration(self) -> float:
        return max(0, self.end_ns - self.start_ns) / NS

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one item of ``GET /api/streams``."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "name": self.name,
            "service": self.service,
            "model": self.model,
            "provider": self.provider,
            "operation": self.operation,
            "start": self.start,
            "duration": self.duration,
            "outcome": self.outcome,
            "ttft": self.ttft,
            "time_to_first_chunk": self.time_to_first_chunk,
            "time_to_first_byte": self.time_to_first_byte,
            "time_to_first_tool_call": self.time_to_first_tool_call,
            "time_to_first_reasoning_token": self.time_to_first_reasoning_token,
            "chunk_count": self.chunk_count,
            "gap_p50": self.gap_p50,
            "gap_p95": self.gap_p95,
            "gap_max": self.gap_max,
            "stall_count": self.stall_count,
            "output_tokens": self.output_tokens,
            "input_tokens": self.input_tokens,
            "output_tokens_per_second": self.output_tokens_per_second,
            "usage_source": self.usage_source,
            "error_type": self.error_type,
            "cost_usd": self.cost_usd,
            "cost_is_estimate": True,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "dialect": self.dialect,
            "ttft_source": self.ttft_source,
        }


class Chunk(NamedTuple):
    """One chunk of a stream: ``offset`` is seconds since the stream span's start, ``gap`` since the previous chunk.

    A tuple, so a row goes to the store as it is (and the C decoder builds it without a constructor call).
    """

    span_id: str  # the stream span this chunk belongs to
    index: int  # type: ignore[assignment]  # a field named like tuple.index: rows are read by name
    offset: float
    gap: float | None
    kind: str = "content"
    size: int = 0
    tokens: int | None = None
    content: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one item of ``GET /api/streams/<span_id>/chunks``."""
        return {
            "index": self.index,
            "offset": self.offset,
            "gap": self.gap,
            "kind": self.kind,
            "size": self.size,
            "tokens": self.tokens,
            "content": self.content,
        }


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    root_name: str
    service: str
    start_ns: int
    end_ns: int
    status: str  # "unset" | "ok" | "error"
    span_count: int
    stream_count: int
    session_id: str | None = None
    user_id: str | None = None
    #: The earliest span has a parent that is not stored (yet): the trace's real root has not arrived, as while
    #: a trace is still running (spans are exported as they end, the root last), or it never will.
    waiting_for_root: bool = False

    @property
    def start(self) -> float:
        """Epoch seconds."""
        return self.start_ns / NS

    @property
    def duration(self) -> float:
        return max(0, self.end_ns - self.start_ns) / NS

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one item of ``GET /api/traces``."""
        return {
            "trace_id": self.trace_id,
            "root_name": self.root_name,
            "service": self.service,
            "start": self.start_ns / NS,
            "duration": max(0, self.end_ns - self.start_ns) / NS,
            "status": self.status,
            "span_count": self.span_count,
            "stream_count": self.stream_count,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "waiting_for_root": bool(self.waiting_for_root),
        }


class ErrorRow(NamedTuple):
    """One failed span (status error), reduced to what an errors view groups by (``SpanStore.error_rows``).

    ``error_type`` is the latest ``exception`` event's ``exception.type``, else the ``error.type`` attribute;
    ``message`` that event's ``exception.message``, else the status description; ``http_status`` the
    ``http.response.status_code`` attribute (None when absent or not an integer).
    """

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    error_type: str | None
    message: str
    http_status: int | None

    @property
    def start(self) -> float:
        """Epoch seconds."""
        return self.start_ns / NS

    @classmethod
    def of_span(cls, s: Span) -> ErrorRow:
        """The row of a failed span (every store reads the same fields the same way)."""
        exc = next((e.attributes for e in reversed(s.events) if e.name == "exception"), {})
        etype = exc.get("exception.type")
        if etype is None:
            etype = s.attributes.get("error.type")
        message = exc.get("exception.message")
        http = s.attributes.get("http.response.status_code")
        return cls(s.trace_id, s.span_id, s.name, s.start_ns, None if etype is None else str(etype),
                   str(s.status_message if message is None else message),
                   http if isinstance(http, int) and not isinstance(http, bool) else None)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One ``session.id`` rolled up over its traces (behind the dashboard's sessions page)."""

    session_id: str
    user_id: str | None
    start_ns: int  # the first trace's start
    end_ns: int  # the latest end of any of its traces
    trace_count: int
    error_count: int  # traces whose status is error
    stream_count: int
    last_start_ns: int  # the latest trace's start (sessions are listed newest activity first)

    @property
    def start(self) -> float:
        """Epoch seconds (as the ``*_ns`` fields)."""
        return self.start_ns / NS

    @property
    def end(self) -> float:
        return self.end_ns / NS

    @property
    def last_start(self) -> float:
        return self.last_start_ns / NS

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "start": self.start_ns / NS,
            "end": self.end_ns / NS,
            "last_start": self.last_start_ns / NS,
            "trace_count": self.trace_count,
            "error_count": self.error_count,
            "stream_count": self.stream_count,
        }


@dataclass(frozen=True, slots=True)
class LiveStream:
    """A stream in flight, as far as its chunk spans tell (``docs/concepts.md``, "Streams in flight").

    ``start_ns`` is the stream's start (a chunk's arrival minus its offset), ``last_ns`` the arrival of the latest
    chunk seen, ``chunk_count`` the chunks so far (highest index + 1) and ``last_offset`` the latest chunk's
    offset in seconds. ``prev_count`` / ``prev_offset`` are the same two numbers at the previous update, so
    the current rate is the chunks of the latest update over the time they took.
    """

    trace_id: str
    span_id: str
    service: str
    model: str
    provider: str
    operation: str
    start_ns: int
    last_ns: int
    chunk_count: int
    last_offset: float
    prev_count: int = 0
    prev_offset: float = 0.0

    @property
    def current_rate(self) -> float | None:
        """Chunks per second over the latest update (over the whole stream for the first one)."""
        dt = self.last_offset - self.prev_offset
        return (self.chunk_count - self.prev_count) / dt if dt > 0 else None

    def merged(self, newer: LiveStream) -> LiveStream:
        """This entry updated by a later report of the same stream (the stream's identity stays)."""
        if newer.chunk_count <= self.chunk_count:
            return self  # a repeat or an older slice: nothing new
        return LiveStream(
            self.trace_id,
            self.span_id,
            self.service,
            self.model,
            self.provider,
            self.operation,
            self.start_ns,
            max(self.last_ns, newer.last_ns),
            newer.chunk_count,
            max(self.last_offset, newer.last_offset),
            self.chunk_count,
            self.last_offset,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one item of ``GET /api/live``."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "service": self.service,
            "model": self.model,
            "provider": self.provider,
            "operation": self.operation,
            "start": self.start_ns / NS,
            "chunk_count": self.chunk_count,
            "last_offset": self.last_offset,
            "last_chunk": self.last_ns / NS,
            "current_rate": self.current_rate,
        }


def by_stream(chunks: Iterable[Chunk]) -> dict[str, list[Chunk]]:
    """Chunk rows grouped by their stream (``span_id``), each group in the order given. Batches hold each stream's
    chunks in runs, so this takes one ``groupby`` run at a time instead of one dict lookup per chunk."""
    groups: dict[str, list[Chunk]] = {}
    for sid, run in itertools.groupby(chunks, key=_stream_of):
        group = groups.get(sid)
        if group is None:
            groups[sid] = list(run)
        else:
            group.extend(run)
    return groups


_stream_of = operator.itemgetter(0)  # Chunk.span_id


@dataclass(frozen=True, slots=True)
class IngestBatch:
    """What one export request becomes after normalisation: written by a store in one transaction."""

    spans: tuple[Span, ...] = ()
    streams: tuple[Stream, ...] = ()
    chunks: tuple[Chunk, ...] = ()
    live: tuple[LiveStream, ...] = ()

    def __len__(self) -> int:
        return len(self.spans) + len(self.streams) + len(self.chunks) + len(self.live)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset pagination position: items strictly older than (start_ns, key) come next."""

    start_ns: int
    key: str

    def encode(self) -> str:
        return f"{self.start_ns}_{self.key}"

    @staticmethod
    def decode(text: str) -> Cursor:
        start, sep, key = text.partition("_")
        if (not sep or not start.isascii() or not start.isdigit() or len(start) > 19 or not key or len(key) > 32
                or not all(c in "0123456789abcdef" for c in key) or int(start) > MAX_TIME_NS):  # fmt: skip
            raise ValueError("cursor is not one this server issued")
        return Cursor(int(start), key)


@dataclass(frozen=True, slots=True)
class Filters:
    """Filters shared by ``/api/traces`` and ``/api/streams``. Durations and TTFT in seconds, times in ns."""

    service: str | None = None
    model: str | None = None
    outcome: str | None = None
    status: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_ttft: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    search: str | None = None
    trace_id: str | None = None
    provider: str | None = None
