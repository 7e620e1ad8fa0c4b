"""Where a stream ended on its timeline, and why a tool-only stream has no TTFT."""

from __future__ import annotations

from typing import Any

from streamscope.dashboard.layout import timeline


def _span(**kw: Any) -> dict[str, Any]:
    return {
        "span_id": "a" * 16,
        "name": "chat",
        "start": 100.0,
        "end": 102.0,
        "status": "unset",
        "attributes": {},
        "events": [],
        **kw,
    }


def _chunks(kinds: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "offset": 0.1 * (i + 1),
            "gap": None if i == 0 else 0.1,
            "kind": k,
            "size": 1,
            "content": None,
        }
        for i, k in enumerate(kinds)
    ]


def test_a_failed_stream_ends_where_its_exception_was_raised() -> None:
    span = _span(status="error", events=[{"name": "exception", "time": 101.0, "attributes": {}}])
    tl = timeline(span, _chunks(["role", "content"]), {"outcome": "error", "ttft": 0.2})
    assert tl.ending == ("error", 50.0, 1.0)


def test_timeouts_cancellations_and_abandons_end_at_the_span_end_and_completed_streams_have_no_ending() -> (
    None
):
    for outcome in ("timeout", "cancelled", "abandoned"):
        tl = timeline(_span(), _chunks(["content"]), {"outcome": outcome, "ttft": 0.1})
        assert tl.ending == (outcome, 100.0, 2.0)
    assert timeline(_span(), _chunks(["content"]), {"outcome": "completed", "ttft": 0.1}).ending is None


def test_a_tool_only_stream_says_why_ttft_is_missing() -> None:
    tl = timeline(
        _span(),
        _chunks(["role", "tool_call", "tool_call"]),
        {"outcome": "completed", "ttft": None, "time_to_first_tool_call": 0.2},
    )
    assert "only tool calls" in tl.ttft_note
    assert (
        timeline(_span(), _chunks(["role", "content"]), {"outcome": "completed", "ttft": 0.2}).ttft_note == ""
    )
    assert (
        "no content token"
        in timeline(_span(), _chunks(["role"]), {"outcome": "abandoned", "ttft": None}).ttft_note
    )


def test_a_shared_axis_puts_two_streams_on_one_scale() -> None:
    assert timeline(_span(), _chunks(["content"]), {}, axis=8.0).duration == 8.0
