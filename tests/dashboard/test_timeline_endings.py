"""Where a stream ended on its timeline, and why a tool-only stream has no TTFT."""

from __future__ import annotations

from typing import Any

from streamscope.collector.model import NS, Chunk, Span, SpanEvent, Stream
from streamscope.dashboard.layout import timeline


def _span(**kw: Any) -> Span:
    base: dict[str, Any] = {"trace_id": "f" * 32, "span_id": "a" * 16, "parent_span_id": None, "name": "chat",
                            "kind": 3, "start_ns": 100 * NS, "end_ns": 102 * NS}  # fmt: skip
    return Span(**{**base, **kw})


def _chunks(kinds: list[str]) -> list[Chunk]:
    return [Chunk("a" * 16, i, 0.1 * (i + 1), None if i == 0 else 0.1, k, 1) for i, k in enumerate(kinds)]


def _stream(outcome: str, ttft: float | None = None, tool: float | None = None) -> Stream:
    return Stream(trace_id="f" * 32, span_id="a" * 16, start_ns=100 * NS, end_ns=102 * NS, outcome=outcome,
                  ttft=ttft, time_to_first_tool_call=tool)  # fmt: skip


def test_a_failed_stream_ends_where_its_exception_was_raised() -> None:
    span = _span(status_code=2, events=(SpanEvent("exception", 101 * NS),))
    tl = timeline(span, _chunks(["role", "content"]), _stream("error", 0.2))
    assert tl.ending == ("error", 50.0, 1.0)


def test_timeouts_cancellations_and_abandons_end_at_the_span_end_and_completed_streams_have_no_ending() -> (
    None
):
    for outcome in ("timeout", "cancelled", "abandoned"):
        tl = timeline(_span(), _chunks(["content"]), _stream(outcome, 0.1))
        assert tl.ending == (outcome, 100.0, 2.0)
    assert timeline(_span(), _chunks(["content"]), _stream("completed", 0.1)).ending is None


def test_a_tool_only_stream_says_why_ttft_is_missing() -> None:
    tl = timeline(
        _span(),
        _chunks(["role", "tool_call", "tool_call"]),
        _stream("completed", None, 0.2),
    )
    assert "only tool calls" in tl.ttft_note
    assert timeline(_span(), _chunks(["role", "content"]), _stream("completed", 0.2)).ttft_note == ""
    assert "no content token" in timeline(_span(), _chunks(["role"]), _stream("abandoned")).ttft_note


def test_a_shared_axis_puts_two_streams_on_one_scale() -> None:
    assert timeline(_span(), _chunks(["content"]), None, axis=8.0).duration == 8.0


def test_without_a_stream_row_the_spans_own_attributes_and_status_count() -> None:
    attrs = {"streamscope.stream.time_to_first_token": 0.5, "streamscope.stream.outcome": "timeout"}
    tl = timeline(_span(attributes=attrs), _chunks(["content"]))
    assert [(label, x) for label, x, _ in tl.markers] == [("TTFT", 25.0)] and tl.ending == (
        "timeout",
        100.0,
        2.0,
    )
    assert timeline(_span(status_code=2), _chunks(["content"])).outcome == "error"
