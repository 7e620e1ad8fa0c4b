"""Geometry for the trace page: the step waterfall and the per-chunk timeline.

Pure functions over the collector's records (``Span``, ``Stream``, ``Chunk``). Positions are percentages of the
drawing width, so the page can draw them as SVG attributes (no inline styles, which the Content-Security-Policy
forbids).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamscope.dashboard.source import NS, Chunk, Span, Stream, status_name

CHUNK_SPAN_NAME = "streamscope.chunk"
STREAM_OPERATIONS = ("chat", "text_completion", "generate_content")
DEFAULT_STALL_THRESHOLD = 2.0
MAX_MARKS = 4000  # chunk marks drawn per stream; beyond this an even sample plus every stalled chunk
MAX_TABLE_ROWS = 1000  # chunk rows listed per stream on the page; the JSON endpoint has all of them


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _pct(value: float, total: float) -> float:
    if total <= 0:
        return 0.0
    return round(min(max(value / total * 100.0, 0.0), 100.0), 3)


@dataclass(frozen=True)
class WaterfallRow:
    """One span drawn as a bar.

    Attributes:
        span: The span record.
        depth: Nesting depth (0 for roots).
        left: Bar start, percent of the trace's duration.
        width: Bar width in percent (at least a sliver so instant spans stay visible).
        offset: Seconds from the trace's start to the span's start.
        duration: Span duration in seconds.
        is_stream: Whether the span is an LLM stream (gets a chunk timeline).
    """

    span: Span
    depth: int
    left: float
    width: float
    offset: float
    duration: float
    is_stream: bool


def is_stream(span: Span) -> bool:
    """Whether ``span`` is an LLM stream span (a model call)."""
    attrs = span.attributes
    return (
        attrs.get("gen_ai.operation.name") in STREAM_OPERATIONS or "streamscope.stream.chunk_count" in attrs
    )


def waterfall(
    spans: Sequence[Span],
    stream_ids: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[WaterfallRow], float, float]:
    """Lay spans out as nested bars on one time axis.

    Chunk spans are left out (they are drawn on their stream's chunk timeline). Spans whose parent is missing
    are shown as roots; parent cycles cannot loop.

    Args:
        spans: Spans of one trace.
        stream_ids: Span ids the collector recognised as LLM streams (any dialect); spans that look like
            streams by their attributes count too.

    Returns:
        ``(rows, trace_start, trace_duration)``; rows in depth-first order, children sorted by start time.
    """
    steps = [s for s in spans if s.name != CHUNK_SPAN_NAME]
    if not steps:
        return [], 0.0, 0.0
    # times in epoch seconds, as the query API gives them (the same floats: the page shows the same numbers)
    start = min(s.start_ns / NS for s in steps)
    end = max(_end(s) for s in steps)
    total = end - start
    by_id = {s.span_id: s for s in steps}
    children: dict[str, list[Span]] = {}
    roots = []
    for s in steps:
        parent = s.parent_span_id
        if parent and parent in by_id and parent != s.span_id:
            children.setdefault(parent, []).append(s)
        else:
            roots.append(s)
    rows: list[WaterfallRow] = []
    seen: set[str] = set()

    def row(span: Span, depth: int) -> WaterfallRow:
        s_start = span.start_ns / NS
        s_end = _end(span)
        return WaterfallRow(
            span=span,
            depth=depth,
            left=_pct(s_start - start, total),
            width=max(_pct(s_end - s_start, total), 0.2),
            offset=s_start - start,
            duration=s_end - s_start,
            is_stream=span.span_id in stream_ids or is_stream(span),
        )

    def visit(top: Span) -> None:
        # Depth-first with an explicit stack: a trace nested thousands of levels deep must not hit Python's
        # recursion limit.
        stack = [(top, 0)]
        while stack:
            span, depth = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            rows.append(row(span, depth))
            kids = sorted(children.get(span.span_id, []), key=lambda c: c.start_ns / NS)
            stack.extend((child, depth + 1) for child in reversed(kids))

    for root in sorted(roots, key=lambda r: r.start_ns / NS):
        visit(root)
    for s in steps:  # members of a parent cycle, unreachable from any root
        if s.span_id not in seen:
            visit(s)
    return rows, start, total


@dataclass(frozen=True)
class ChunkMark:
    """One chunk on the timeline.

    Attributes:
        index: Chunk index.
        x: Position, percent of the stream's duration.
        offset: Seconds since the stream started.
        gap: Seconds since the previous chunk (None for the first).
        kind: ``content``, ``role``, ``tool_call``, ...
        size: Characters.
        content: Captured text, or None.
        stall: Whether the gap before it exceeds the stall threshold.
    """

    index: int
    x: float
    offset: float
    gap: float | None
    kind: str
    size: int | None
    content: str | None
    stall: bool


@dataclass(frozen=True)
class Timeline:
    """A stream's chunk timeline.

    Attributes:
        span: The stream span.
        duration: Axis length in seconds (stream duration, or last chunk if later).
        marks: One per chunk.
        stalls: ``(x, width)`` percent spans of each stalled gap.
        markers: ``(label, x, seconds)`` for each TTFT flavour that happened.
        outcome: Stream outcome.
        threshold: Stall threshold used.
        text: The captured text in arrival order ('' when content was not captured).
        ending: ``(outcome, x, seconds)`` where a stream that did not complete ended (error, timeout,
            cancellation, abandonment): the exception's time when recorded, else the span's end.
        ttft_note: Why TTFT is missing although chunks arrived ('' when there is nothing to explain).
    """

    span: Span
    duration: float
    marks: list[ChunkMark]
    stalls: list[tuple[float, float]]
    markers: list[tuple[str, float, float]]
    outcome: str | None
    threshold: float
    text: str = ""
    ticks: list[tuple[float, float]] = field(default_factory=list)
    chunk_count: int = 0
    ending: tuple[str, float, float] | None = None
    ttft_note: str = ""

    @property
    def drawn(self) -> list[ChunkMark]:
        """The marks to draw: all of them, or an even sample that keeps every stalled chunk and the last one."""
        if len(self.marks) <= MAX_MARKS:
            return self.marks
        step = len(self.marks) / MAX_MARKS
        keep = {int(i * step) for i in range(MAX_MARKS)} | {len(self.marks) - 1}
        return [m for i, m in enumerate(self.marks) if i in keep or m.stall]

    @property
    def table(self) -> list[ChunkMark]:
        """The first chunks, for the page's chunk table."""
        return self.marks[:MAX_TABLE_ROWS]


_MARKERS = (
    ("first byte", "time_to_first_byte", "streamscope.stream.time_to_first_byte"),
    ("first chunk", "time_to_first_chunk", "streamscope.stream.time_to_first_chunk"),
    ("TTFT", "ttft", "streamscope.stream.time_to_first_token"),
    ("first tool call", "time_to_first_tool_call", "streamscope.stream.time_to_first_tool_call"),
)


ENDINGS = ("error", "timeout", "cancelled", "abandoned")


def _end(span: Span) -> float:
    """A span's end in epoch seconds, never before its start."""
    s_start = span.start_ns / NS
    return max((span.end_ns / NS) or s_start, s_start)


def _ending_at(span: Span, start: float, end: float) -> float:
    times = [e.time_ns / NS for e in span.events if e.name == "exception"]
    at = times[-1] if times else None
    return max((at if at is not None else end) - start, 0.0)


def _ttft_note(stream: Stream | None, attrs: Mapping[str, Any], kinds: set[str]) -> str:
    ttft = stream.ttft if stream is not None else attrs.get("streamscope.stream.time_to_first_token")
    if ttft is not None:
        return ""
    tool = (
        stream.time_to_first_tool_call
        if stream is not None
        else attrs.get("streamscope.stream.time_to_first_tool_call")
    )
    if tool is not None or ("tool_call" in kinds and "content" not in kinds):
        return "TTFT is – because this stream sent only tool calls, no content tokens (see first tool call)."
    if kinds and "content" not in kinds:
        return "TTFT is – because no content token arrived."
    return ""


def timeline(
    span: Span,
    chunks: Sequence[Chunk],
    stream: Stream | None = None,
    *,
    axis: float | None = None,
) -> Timeline:
    """Place a stream's chunks, stalls and TTFT markers on its time axis.

    Args:
        span: The stream span.
        chunks: Its chunks in any order.
        stream: The collector's normalised stream row; its timings win over the span's own
            ``streamscope.stream.*`` attributes, so streams from other dialects get markers too.
        axis: At least this many seconds of axis (to draw several streams on one scale).

    Returns:
        The timeline.
    """
    attrs = span.attributes
    threshold = _num(attrs.get("streamscope.stream.stall_threshold")) or DEFAULT_STALL_THRESHOLD
    start = span.start_ns / NS
    end = (span.end_ns / NS) or start
    ordered = sorted(chunks, key=lambda c: (_num(c.offset) or 0.0, c.index or 0))
    last = max((_num(c.offset) or 0.0 for c in ordered), default=0.0)
    markers_raw = []
    for label, key, attr in _MARKERS:
        known = _num(getattr(stream, key)) if stream is not None else None
        markers_raw.append((label, known if known is not None else _num(attrs.get(attr))))
    axis = max(end - start, last, *(v for _, v in markers_raw if v is not None), axis or 0.0, 1e-9)
    marks = []
    stalls = []
    pieces = []
    for chunk in ordered:
        offset = _num(chunk.offset) or 0.0
        gap = _num(chunk.gap)
        stall = gap is not None and gap > threshold
        if stall and gap is not None:
            stalls.append((_pct(offset - gap, axis), max(_pct(gap, axis), 0.2)))
        content = chunk.content if isinstance(chunk.content, str) else None
        if content:
            pieces.append(content)
        size = chunk.size
        marks.append(
            ChunkMark(
                index=int(chunk.index or 0),
                x=_pct(offset, axis),
                offset=offset,
                gap=gap,
                kind=str(chunk.kind or "content"),
                size=size if isinstance(size, int) else None,
                content=content,
                stall=stall,
            )
        )
    markers = [(label, _pct(v, axis), v) for label, v in markers_raw if v is not None]
    ticks = [(_pct(axis * i / 4, axis), axis * i / 4) for i in range(5)]
    outcome = (stream.outcome if stream is not None else None) or attrs.get("streamscope.stream.outcome")
    outcome = outcome if isinstance(outcome, str) else None
    if outcome is None and status_name(span.status_code) == "error":
        outcome = "error"
    ending = None
    if outcome in ENDINGS:
        at = min(_ending_at(span, start, end), axis)
        ending = (outcome, _pct(at, axis), at)
    return Timeline(
        span=span,
        duration=axis,
        marks=marks,
        stalls=stalls,
        markers=markers,
        outcome=outcome,
        threshold=threshold,
        text="".join(pieces),
        ticks=ticks,
        chunk_count=len(marks),
        ending=ending,
        ttft_note=_ttft_note(stream, attrs, {m.kind for m in marks}),
    )
