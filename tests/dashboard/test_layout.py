"""Waterfall and chunk-timeline geometry (pure functions)."""

from __future__ import annotations

from typing import Any

from streamscope.collector.model import NS, Chunk, Span, Stream
from streamscope.dashboard import layout


def _span(sid: str, parent: str | None, start: float, end: float, name: str = "", **attrs: object) -> Span:
    return Span(trace_id="f" * 32, span_id=sid, parent_span_id=parent, name=name or sid, kind=1,
                start_ns=round(start * NS), end_ns=round(end * NS), attributes=dict(attrs))  # fmt: skip


def _chunk(
    index: int, offset: float, gap: Any, kind: Any = "content", size: int = 1, content: Any = None
) -> Chunk:
    return Chunk("s", index, offset, gap, kind, size, None, content)


def _stream(**kw: Any) -> Stream:
    return Stream(trace_id="f" * 32, span_id="s", start_ns=100 * NS, end_ns=104 * NS, **kw)


def test_waterfall_nests_children_in_start_order() -> None:
    """Children follow their parent depth-first, siblings by start time, bars scaled to the trace."""
    spans = [
        _span("b", "a", 5.0, 10.0),
        _span("a", None, 0.0, 10.0),
        _span("c", "a", 1.0, 2.0),
        _span("d", "c", 1.5, 2.0, **{"gen_ai.operation.name": "chat"}),
    ]
    rows, start, total = layout.waterfall(spans)
    assert [(r.span.span_id, r.depth) for r in rows] == [("a", 0), ("c", 1), ("d", 2), ("b", 1)]
    assert start == 0.0 and total == 10.0
    assert rows[3].left == 50.0 and rows[3].width == 50.0
    assert [r.is_stream for r in rows] == [False, False, True, False]


def test_waterfall_survives_orphans_cycles_and_instant_spans() -> None:
    """Missing parents become roots, parent cycles do not loop, zero-length spans stay visible."""
    spans = [
        _span("x", "missing", 0.0, 1.0),
        _span("p", "q", 0.2, 0.2),
        _span("q", "p", 0.3, 0.4),
        _span("self", "self", 0.5, 0.6),
    ]
    rows, _, _ = layout.waterfall(spans)
    assert sorted(r.span.span_id for r in rows) == ["p", "q", "self", "x"]
    assert all(r.width >= 0.2 for r in rows)


def test_waterfall_leaves_out_chunk_spans_and_marks_collector_streams() -> None:
    """Chunk spans are drawn on the timeline, not as steps; the collector's stream ids mark stream rows."""
    spans = [_span("a", None, 0.0, 1.0), _span("ch", "a", 0.5, 0.5, name="streamscope.chunk")]
    rows, _, _ = layout.waterfall(spans, frozenset({"a"}))
    assert [r.span.span_id for r in rows] == ["a"] and rows[0].is_stream


def test_timeline_places_chunks_stalls_and_markers() -> None:
    """Chunks sit at offset/duration, gaps over the threshold become stalls, TTFT flavours become markers."""
    span = _span("s", None, 100.0, 104.0, **{"streamscope.stream.stall_threshold": 1.0})
    chunks = [
        _chunk(0, 0.5, None, "role", 0),
        _chunk(1, 1.0, 0.5, "content", 2, "Hi"),
        _chunk(2, 3.0, 2.0, "content", 1, "!"),
    ]
    stream = _stream(ttft=1.0, time_to_first_chunk=0.5, outcome="completed")
    tl = layout.timeline(span, list(reversed(chunks)), stream)
    assert [m.index for m in tl.marks] == [0, 1, 2]
    assert [m.x for m in tl.marks] == [12.5, 25.0, 75.0]
    assert [m.stall for m in tl.marks] == [False, False, True]
    assert tl.stalls == [(25.0, 50.0)]
    assert [(label, x) for label, x, _ in tl.markers] == [("first chunk", 12.5), ("TTFT", 25.0)]
    assert tl.text == "Hi!" and tl.outcome == "completed" and tl.threshold == 1.0


def test_timeline_absent_ttft_draws_no_marker_and_bad_numbers_are_ignored() -> None:
    """A TTFT that never happened is absent (not 0); NaN or non-numeric values do not break the layout."""
    span = _span("s", None, 0.0, 0.0, **{"streamscope.stream.time_to_first_token": "soon"})
    tl = layout.timeline(span, [_chunk(0, float("inf"), float("nan"), 5, 1, 7)])
    assert tl.markers == [] and len(tl.marks) == 1 and tl.marks[0].content is None
    assert tl.marks[0].gap is None and tl.marks[0].kind == "5"
    assert layout.timeline(span, [], _stream(ttft=None)).markers == []  # the stream row's None wins
    assert layout.timeline(_span("e", None, 0.0, 0.0), []).marks == []


def test_huge_streams_are_sampled_but_keep_every_stall() -> None:
    """Beyond MAX_MARKS chunks the timeline draws an even sample that keeps every stalled chunk and the last."""
    n = layout.MAX_MARKS * 3
    chunks = [
        _chunk(i, i * 0.01 + (5.0 if i > 7000 else 0.0), 5.01 if i == 7001 else 0.01, "content", 1, "x")
        for i in range(n)
    ]
    tl = layout.timeline(_span("s", None, 0.0, 200.0), chunks)
    drawn = tl.drawn
    assert tl.chunk_count == n and len(drawn) <= layout.MAX_MARKS + 2
    assert any(m.index == 7001 and m.stall for m in drawn) and drawn[-1].index == n - 1
    assert len(tl.table) == layout.MAX_TABLE_ROWS
