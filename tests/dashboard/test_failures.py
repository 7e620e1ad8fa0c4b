"""Why a step failed, and the errors view's grouping."""

from __future__ import annotations

from typing import Any

from streamscope.collector.model import NS, ErrorRow, Span, SpanEvent, Stream
from streamscope.dashboard.error_groups import group
from streamscope.dashboard.failures import failure


def _span(**kw: Any) -> Span:
    base: dict[str, Any] = {
        "trace_id": "f" * 32,
        "span_id": "a" * 16,
        "parent_span_id": None,
        "name": "chat",
        "kind": 3,
        "start_ns": 100 * NS,
        "end_ns": 101 * NS,
    }
    return Span(**{**base, **kw})


def _stream(outcome: str, error_type: str | None = None) -> Stream:
    return Stream(trace_id="f" * 32, span_id="a" * 16, start_ns=100 * NS, end_ns=101 * NS, outcome=outcome,
                  error_type=error_type)  # fmt: skip


def test_a_span_that_did_not_fail_has_no_failure() -> None:
    assert failure(_span()) is None
    assert failure(_span(status_code=1)) is None


def test_exception_event_http_status_and_retry_after() -> None:
    span = _span(
        status_code=2,
        status_message="Error code: 429 - slow down",
        attributes={"http.response.header.retry-after": ("12",)},
        events=(
            SpanEvent(
                "exception",
                100 * NS + NS // 4,
                {
                    "exception.type": "openai.RateLimitError",
                    "exception.message": "Error code: 429 - slow down",
                    "exception.stacktrace": "Traceback ...",
                },
            ),
        ),
    )
    f = failure(span)
    assert f is not None
    assert (f.error_type, f.http_status, f.retry_after, f.stacktrace) == (
        "openai.RateLimitError",
        429,
        "12",
        "Traceback ...",
    )
    assert f.at == 0.25 and f.headline == "openai.RateLimitError: Error code: 429 - slow down"


def test_an_exception_event_alone_is_a_failure_timed_from_the_span_start() -> None:
    f = failure(_span(events=(SpanEvent("log", 100 * NS), SpanEvent("exception", 100 * NS + NS // 2, {}))))
    assert f is not None and f.at == 0.5 and f.error_type == ""
    assert failure(_span(events=(SpanEvent("log", 100 * NS),))) is None


def test_status_only_and_attribute_status_code() -> None:
    f = failure(
        _span(
            status_code=2,
            status_message="ValueError",
            attributes={"error.type": "ValueError", "http.response.status_code": 503},
        )
    )
    assert f is not None and f.error_type == "ValueError" and f.http_status == 503 and f.at is None
    assert f.headline == "ValueError"


def test_timeout_outcome_without_status_counts_as_failure() -> None:
    f = failure(_span(), _stream("timeout"))
    assert f is not None and f.error_type == "timeout"
    assert failure(_span(), _stream("completed")) is None
    f = failure(_span(), _stream("error", "openai.APIConnectionError"))
    assert f is not None and f.error_type == "openai.APIConnectionError"


def test_groups_count_traces_once_and_bucket_them_over_time() -> None:
    def failed(trace: str, start: float, message: str, etype: str = "E") -> ErrorRow:
        return ErrorRow(trace, "a" * 16, "chat", round(start * NS), etype, message, None)

    spans = [
        failed("t3", 190.0, "boom\nline two"),
        failed("t2", 150.0, "boom"),
        failed("t2", 150.0, "boom"),
        failed("t1", 110.0, "boom"),
        failed("t1", 110.0, "other", "F"),
    ]
    boom, other = group(spans, 100.0, 200.0, n_buckets=10)
    assert (boom.error_type, boom.message, boom.traces, boom.steps) == ("E", "boom", 3, 4)
    assert boom.buckets == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1] and boom.peak == 1
    assert [t for t, _, _ in boom.latest] == ["t3", "t2", "t1"]
    assert (boom.first, boom.last) == (110.0, 190.0)
    assert (other.error_type, other.traces) == ("F", 1)


def test_numbers_in_messages_do_not_split_groups_but_http_statuses_do() -> None:
    def failed(trace: str, message: str) -> ErrorRow:
        return ErrorRow(trace, "a" * 16, "x", NS, "E", message, None)

    groups = group(
        [
            failed("a", "cut off after 17 chunks"),
            failed("b", "cut off after 40 chunks"),
            failed("c", "Error code: 429 - slow down"),
            failed("d", "Error code: 500 - broken"),
        ],
        0,
        200,
    )
    assert sorted((g.message, g.traces) for g in groups) == [
        ("[HTTP 429] Error code: N - slow down", 1),
        ("[HTTP 500] Error code: N - broken", 1),
        ("cut off after N chunks", 2),
    ]
