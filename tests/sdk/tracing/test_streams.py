"""The stream recorder: one LLM span with rollups, chunk spans with real timestamps, outcome and status."""

from __future__ import annotations

import json
import logging
import time

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from streamscope.testing import capture_spans
from streamscope.tracing.streams import CONTENT, EMPTY, ROLE, TOOL_CALL, USAGE, start_stream


def _stream(outcome: str = "completed", error: BaseException | None = None, **kw: object) -> None:
    rec = start_stream(
        model="gpt-x",
        provider="openai",
        request_params={"temperature": 0.5, "max_tokens": 9},
        input_messages=[{"role": "user", "content": "hi"}],
        **kw,
    )  # type: ignore[arg-type]
    rec.first_byte()
    rec.chunk(ROLE)
    rec.chunk(CONTENT, "Hel")
    rec.chunk(CONTENT, "lo")
    rec.end(outcome, error)


def test_completed_stream_span_and_chunks() -> None:
    with capture_spans() as spans:
        _stream()
    llm = spans.one("chat gpt-x")
    a = llm.attributes or {}
    assert llm.kind == SpanKind.CLIENT
    assert llm.status.status_code == StatusCode.UNSET
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-x"
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.request.max_tokens"] == 9
    assert a["streamscope.stream.outcome"] == "completed"
    assert a["streamscope.stream.chunk_count"] == 3
    assert a["streamscope.stream.time_to_first_token"] >= a["streamscope.stream.time_to_first_chunk"]  # type: ignore[operator]
    assert a["streamscope.stream.time_to_first_byte"] <= a["streamscope.stream.time_to_first_chunk"]  # type: ignore[operator]
    assert a["gen_ai.response.time_to_first_chunk"] == a["streamscope.stream.time_to_first_chunk"]
    assert "streamscope.stream.time_to_first_tool_call" not in a
    assert a["streamscope.usage.source"] == "estimate"
    assert json.loads(str(a["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "Hello"
    assert json.loads(str(a["gen_ai.input.messages"]))[0]["parts"][0]["content"] == "hi"
    chunks = spans.chunks_of(llm)
    assert [c.attributes["streamscope.chunk.kind"] for c in chunks] == ["role", "content", "content"]  # type: ignore[index]
    assert [c.attributes["streamscope.chunk.content"] for c in chunks] == ["", "Hel", "lo"]  # type: ignore[index]
    assert [c.attributes["streamscope.chunk.size"] for c in chunks] == [0, 3, 2]  # type: ignore[index]
    assert "streamscope.chunk.gap" not in (chunks[0].attributes or {})
    for c in chunks:
        assert c.start_time == c.end_time
        assert llm.start_time <= c.start_time <= llm.end_time  # type: ignore[operator]
        assert c.context.trace_id == llm.context.trace_id  # type: ignore[union-attr]
    assert chunks[0].start_time < chunks[1].start_time < chunks[2].start_time  # type: ignore[operator]


@pytest.mark.parametrize("outcome", ["abandoned", "cancelled"])
def test_abandoned_and_cancelled_are_not_errors_and_keep_partial_output(outcome: str) -> None:
    with capture_spans() as spans:
        _stream(outcome)
    a = spans.one("chat gpt-x").attributes or {}
    assert spans.one("chat gpt-x").status.status_code == StatusCode.UNSET
    assert a["streamscope.stream.outcome"] == outcome
    assert a["streamscope.stream.partial_output"] == "Hello"
    assert "error.type" not in a


@pytest.mark.parametrize(
    ("outcome", "error", "etype"),
    [
        ("error", ConnectionResetError("peer went away"), "ConnectionResetError"),
        ("timeout", TimeoutError("no chunk for 2s"), "TimeoutError"),
    ],
)
def test_error_and_timeout_are_errors_with_exception(outcome: str, error: BaseException, etype: str) -> None:
    with capture_spans() as spans:
        _stream(outcome, error)
    llm = spans.one("chat gpt-x")
    assert llm.status.status_code == StatusCode.ERROR
    assert (llm.attributes or {})["error.type"] == etype
    assert [e.name for e in llm.events] == ["exception"]
    assert (llm.attributes or {})["streamscope.stream.partial_output"] == "Hello"


def test_ends_exactly_once() -> None:
    with capture_spans() as spans:
        rec = start_stream(model="m")
        rec.chunk(CONTENT, "x")
        rec.end("abandoned")
        rec.end("error", RuntimeError("late"))
        assert rec.ended
    assert len(spans.named("chat m")) == 1
    assert (spans.one("chat m").attributes or {})["streamscope.stream.outcome"] == "abandoned"


def test_provider_usage_and_response_facts() -> None:
    with capture_spans() as spans:
        rec = start_stream(model="m", provider="openai")
        rec.chunk(CONTENT, "abc")
        rec.chunk(USAGE)
        rec.set_response(response_id="chatcmpl-1", response_model="m-2024", finish_reasons=["stop"])
        rec.end("completed", usage={"input_tokens": 4, "output_tokens": 1})
    a = spans.one("chat m").attributes or {}
    assert a["gen_ai.usage.input_tokens"] == 4
    assert a["gen_ai.usage.output_tokens"] == 1
    assert a["streamscope.usage.source"] == "provider"
    assert a["gen_ai.response.id"] == "chatcmpl-1"
    assert a["gen_ai.response.model"] == "m-2024"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


def test_raw_chunks_are_classified_at_the_end() -> None:
    def classify(obj: dict[str, str], rec: object) -> tuple[int, str]:
        if "tool" in obj:
            return TOOL_CALL, obj["tool"]
        return (CONTENT, obj["text"]) if obj.get("text") else (EMPTY, "")

    with capture_spans() as spans:
        rec = start_stream(model="m", classify=classify)
        rec.raw({"text": ""})
        rec.raw({"tool": '{"a":'})
        rec.raw({"text": "ok"})
        rec.end()
    llm = spans.one("chat m")
    assert [c.attributes["streamscope.chunk.kind"] for c in spans.chunks_of(llm)] == [  # type: ignore[index]
        "empty",
        "tool_call",
        "content",
    ]
    assert "streamscope.stream.time_to_first_tool_call" in (llm.attributes or {})


def test_compact_form_without_chunk_spans() -> None:
    with capture_spans(chunk_spans=False) as spans:
        _stream()
    assert spans.named("streamscope.chunk") == []
    a = spans.one("chat gpt-x").attributes or {}
    assert a["streamscope.chunks.kind"] == ("role", "content", "content")
    assert a["streamscope.chunks.size"] == (0, 3, 2)
    assert len(a["streamscope.chunks.offset"]) == 3  # type: ignore[arg-type]
    assert a["streamscope.stream.chunk_count"] == 3


def test_no_content_capture_keeps_text_out() -> None:
    with capture_spans(capture_content=False) as spans:
        _stream("abandoned")
    for s in spans:
        for key in s.attributes or {}:
            assert key not in (
                "streamscope.chunk.content",
                "gen_ai.input.messages",
                "gen_ai.output.messages",
                "streamscope.stream.partial_output",
            )


def test_stall_threshold_is_configurable() -> None:
    with capture_spans(stall_threshold=0.001) as spans:
        rec = start_stream(model="m")
        rec.chunk(CONTENT, "a")
        time.sleep(0.003)
        rec.chunk(CONTENT, "b")
        rec.end()
    a = spans.one("chat m").attributes or {}
    assert a["streamscope.stream.stall_count"] == 1
    assert a["streamscope.stream.stall_threshold"] == 0.001


def test_failures_inside_end_never_reach_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    def broken(obj: object, rec: object) -> tuple[int, str]:
        raise RuntimeError("classifier bug")

    with capture_spans() as spans, caplog.at_level(logging.WARNING, logger="streamscope"):
        rec = start_stream(model="m", classify=broken)
        rec.raw(object())
        rec.end()  # must not raise
    assert len(spans.named("chat m")) == 1  # the span still ends
    assert "classifier bug" in caplog.text


def test_without_streamscope_setup_uses_the_global_provider() -> None:
    # No init() and no capture: the OTel API's no-op provider; the recorder is a harmless no-op.
    rec = start_stream(model="m")
    rec.chunk(CONTENT, "x")
    rec.end()
    assert rec.ended


def test_a_tokenizer_counts_the_output_when_the_provider_does_not() -> None:
    seen: list[str] = []

    def count(text: str) -> int:
        seen.append(text)
        return len(text.split())

    with capture_spans(count_tokens=count, capture_content=False) as spans:
        rec = start_stream(model="m", provider="openai")
        rec.chunk(ROLE)
        rec.chunk(CONTENT, "two words")
        rec.chunk(TOOL_CALL, 'f{"a": 1}')
        rec.chunk(EMPTY)
        rec.end("abandoned")  # partial output is counted too
    a = spans.one("chat m").attributes or {}
    assert seen == ['two wordsf{"a": 1}']  # content and tool-call text, as the estimate counts them
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["streamscope.usage.source"] == "tokenizer"
    assert "gen_ai.usage.input_tokens" not in a


def test_provider_usage_wins_over_the_tokenizer() -> None:
    calls: list[str] = []
    with capture_spans(count_tokens=lambda text: calls.append(text) or 99) as spans:  # type: ignore[func-returns-value]
        rec = start_stream(model="m", provider="openai")
        rec.chunk(CONTENT, "abc")
        rec.end("completed", usage={"input_tokens": 4, "output_tokens": 1})
    a = spans.one("chat m").attributes or {}
    assert (a["gen_ai.usage.output_tokens"], a["streamscope.usage.source"]) == (1, "provider")
    assert calls == []


@pytest.mark.parametrize(
    "counter", [lambda text: 1 // 0, lambda text: "12", lambda text: -1, lambda text: True]
)
def test_a_failing_tokenizer_falls_back_to_the_estimate(
    counter: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="streamscope"), capture_spans(count_tokens=counter) as spans:  # type: ignore[arg-type]
        rec = start_stream(model="m", provider="openai")
        rec.chunk(CONTENT, "x" * 40)
        rec.end("completed")
    a = spans.one("chat m").attributes or {}
    assert (a["gen_ai.usage.output_tokens"], a["streamscope.usage.source"]) == (10, "estimate")
    assert a["streamscope.stream.outcome"] == "completed"
