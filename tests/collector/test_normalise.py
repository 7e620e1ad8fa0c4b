"""One fixture per dialect: a stream from any SDK gets model, provider, TTFT, duration, tokens and outcome."""

from __future__ import annotations

from typing import Any

import pytest
from factories import T0

from streamscope.collector.model import NS, Span, SpanEvent
from streamscope.collector.normalise import dialect, spans_to_batch

TID, SID, PARENT = "a" * 32, "b" * 16, "c" * 16


def _span(name: str, attrs: dict[str, Any], *, dur: float = 2.0, status: int = 0, events: tuple[SpanEvent, ...] = (),
          resource: dict[str, Any] | None = None, message: str = "") -> Span:  # fmt: skip
    return Span(TID, SID, PARENT, name, 3, T0, T0 + int(dur * NS), status, message, "svc", attrs, events,
                resource or {"service.name": "svc"}, "scope")  # fmt: skip


def _ev(name: str, at: float, attrs: dict[str, Any] | None = None) -> SpanEvent:
    return SpanEvent(name, T0 + int(at * NS), attrs or {})


CASES: list[tuple[str, Span, dict[str, Any]]] = [
    (
        "streamscope",
        _span(
            "chat gpt-4o-mini",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 40,
                "streamscope.stream.outcome": "abandoned",
                "streamscope.stream.time_to_first_chunk": 0.1,
                "streamscope.stream.time_to_first_byte": 0.05,
                "streamscope.stream.chunk_count": 3,
                "streamscope.stream.gap_p95": 0.2,
                "streamscope.stream.stall_count": 1,
                "streamscope.stream.output_tokens_per_second": 33.0,
                "streamscope.usage.source": "estimate",
                "streamscope.chunks.offset": [0.1, 0.3, 0.5],
                "streamscope.chunks.size": [0, 4, 4],
                "streamscope.chunks.kind": ["role", "content", "content"],
            },
        ),
        {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "ttft": None,
            "time_to_first_chunk": 0.1,
            "time_to_first_byte": 0.05,
            "outcome": "abandoned",
            "chunk_count": 3,
            "stall_count": 1,
            "output_tokens": 40,
            "input_tokens": 10,
            "usage_source": "estimate",
            "output_tokens_per_second": 33.0,
        },
    ),
    (
        "genai",
        _span(
            "chat claude-sonnet-4",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4",
                "gen_ai.response.time_to_first_chunk": 0.4,
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 50,
                "error.type": "TimeoutError",
            },
            status=2,
        ),
        {
            "model": "claude-sonnet-4",
            "provider": "anthropic",
            "ttft": 0.4,
            "time_to_first_chunk": 0.4,
            "outcome": "timeout",
            "output_tokens": 50,
            "input_tokens": 100,
            "error_type": "TimeoutError",
        },
    ),
    (
        "genai",  # old semconv names: gen_ai.system, prompt/completion tokens, no operation name
        _span(
            "openai.chat",
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.prompt_tokens": 7,
                "gen_ai.usage.completion_tokens": 9,
            },
        ),
        {
            "model": "gpt-4o",
            "provider": "openai",
            "input_tokens": 7,
            "output_tokens": 9,
            "outcome": "completed",
        },
    ),
    (
        "openinference",
        _span(
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.token_count.prompt": 11,
                "llm.token_count.completion": 22,
                "llm.token_count.total": 33,
            },
            events=(_ev("First Token Stream Event", 0.35),),
        ),
        {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "ttft": 0.35,
            "time_to_first_chunk": 0.35,
            "input_tokens": 11,
            "output_tokens": 22,
            "outcome": "completed",
        },
    ),
    (
        "openllmetry",
        _span(
            "openai.chat",
            {
                "llm.request.type": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-3.5-turbo",
                "llm.is_streaming": True,
                "gen_ai.usage.prompt_tokens": 5,
                "gen_ai.usage.completion_tokens": 4,
            },
            events=tuple(_ev("gen_ai.content.completion.chunk", t) for t in (0.2, 0.25, 0.35, 2.6)),
        ),
        {
            "model": "gpt-3.5-turbo",
            "provider": "openai",
            "ttft": 0.2,
            "time_to_first_chunk": 0.2,
            "chunk_count": 4,
            "stall_count": 1,
            "input_tokens": 5,
            "output_tokens": 4,
        },
    ),
    (
        "openlit",
        _span(
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.server.time_to_first_token": 0.25,
                "gen_ai.server.time_per_output_token": 0.02,
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.usage.output_tokens": 8,
            },
            resource={"service.name": "svc", "telemetry.sdk.name": "openlit"},
        ),
        {
            "model": "gpt-4o",
            "provider": "openai",
            "ttft": 0.25,
            "time_to_first_chunk": 0.25,
            "output_tokens": 8,
        },
    ),
    (
        "langfuse",
        _span(
            "generation",
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "gpt-4.1",
                "langfuse.observation.completion_start_time": '"2027-01-15T08:00:00.500000+00:00"',
                "langfuse.observation.usage_details": '{"input": 20, "output": 30}',
                "langfuse.observation.level": "ERROR",
            },
        ),
        {"model": "gpt-4.1", "ttft": 0.5, "input_tokens": 20, "output_tokens": 30, "outcome": "error"},
    ),
    (
        "vercel",
        _span(
            "ai.streamText.doStream",
            {
                "ai.operationId": "ai.streamText.doStream",
                "ai.model.id": "gpt-4o-mini",
                "ai.model.provider": "openai.chat",
                "ai.response.msToFirstChunk": 420.0,
                "ai.usage.promptTokens": 9,
                "ai.usage.completionTokens": 12,
                "ai.response.avgCompletionTokensPerSecond": 55.5,
            },
        ),
        {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "ttft": 0.42,
            "time_to_first_chunk": 0.42,
            "input_tokens": 9,
            "output_tokens": 12,
            "output_tokens_per_second": 55.5,
        },
    ),
]


@pytest.mark.parametrize(
    ("kind", "span", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_dialect_normalises(kind: str, span: Span, expected: dict[str, Any]) -> None:
    assert dialect(span) == kind
    batch = spans_to_batch([span])
    (st,) = batch.streams
    assert (
        st.dialect == kind and st.duration == pytest.approx(2.0) and st.trace_id == TID and st.span_id == SID
    )
    got = st.to_dict()
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_langfuse_timestamp_fixture_matches_t0() -> None:
    # the Langfuse fixture's completion_start_time is T0 + 0.5 s
    from datetime import datetime, timezone

    assert datetime.fromtimestamp(T0 / NS, timezone.utc).isoformat() == "2027-01-15T08:00:00+00:00"


def test_compact_arrays_become_chunk_rows() -> None:
    batch = spans_to_batch([CASES[0][1]])
    assert [(c.index, c.offset, c.kind, c.size) for c in batch.chunks] == [
        (0, 0.1, "role", 0), (1, 0.3, "content", 4), (2, 0.5, "content", 4)]  # fmt: skip
    assert batch.chunks[1].gap == pytest.approx(0.2)


def test_openllmetry_events_become_chunk_rows_with_gaps() -> None:
    batch = spans_to_batch([CASES[4][1]])
    assert [round(c.gap or 0, 3) for c in batch.chunks] == [0, 0.05, 0.1, 2.25]
    assert batch.streams[0].gap_max == pytest.approx(2.25)


@pytest.mark.parametrize(
    "attrs",
    [
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.provider.name": "openai",
        },
        {"streamscope.run.type": "chain", "streamscope.stream.outcome": "completed"},
        {"http.method": "GET"},
    ],
)
def test_non_llm_spans_are_not_streams(attrs: dict[str, Any]) -> None:
    assert dialect(_span("x", attrs)) is None


def test_hostile_rollup_values_are_ignored() -> None:
    span = _span("chat m", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                            "streamscope.stream.outcome": "exploded", "streamscope.stream.time_to_first_token": -3,
                            "streamscope.stream.chunk_count": "many", "streamscope.stream.gap_p95": float("nan"),
                            "gen_ai.usage.output_tokens": True, "streamscope.chunks.offset": "nope"})  # fmt: skip
    (st,) = spans_to_batch([span]).streams
    assert (st.outcome, st.ttft, st.chunk_count, st.gap_p95, st.output_tokens) == (
        "completed",
        None,
        None,
        None,
        None,
    )


def test_cost_is_estimated_from_price_table() -> None:
    (st,) = spans_to_batch([CASES[0][1]]).streams
    assert st.cost_usd == pytest.approx((10 * 0.15 + 40 * 0.60) / 1e6)
    (st,) = spans_to_batch([CASES[0][1]], prices={"gpt-4o": {"input": 1.0, "output": 1.0}}).streams
    assert st.cost_usd == pytest.approx(50 / 1e6)  # longest-prefix match: gpt-4o-mini → gpt-4o


def test_current_openllmetry_is_recognised_without_llm_request_type() -> None:
    """OpenLLMetry 0.62 writes GenAI semconv names only; its own markers still name the dialect."""
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert dialect(_span("openai.chat", base)) == "genai"
    assert dialect(_span("openai.chat", {**base, "gen_ai.is_streaming": True})) == "openllmetry"
    assert dialect(_span("openai.chat", {**base, "gen_ai.openai.api_base": "http://x/v1/"})) == "openllmetry"


def _openllmetry(events: tuple[SpanEvent, ...]) -> Span:
    return _span(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "llm.is_streaming": True,
        },
        events=events,
    )


def test_ttft_is_the_first_content_chunk_when_chunk_events_carry_their_text() -> None:
    """OpenLLMetry's first chunk is the role-only delta (empty text): TTFT is the first chunk with text."""
    chunk = "gen_ai.content.completion.chunk"
    events = (
        _ev(chunk, 0.1, {"gen_ai.completion.chunk": ""}),
        _ev(chunk, 0.4, {"gen_ai.completion.chunk": "Hi"}),
        _ev(chunk, 0.5, {"gen_ai.completion.chunk": " there"}),
    )
    batch = spans_to_batch([_openllmetry(events)])
    (st,) = batch.streams
    assert (st.time_to_first_chunk, st.ttft, st.ttft_source) == (0.1, 0.4, "measured")
    assert [c.kind for c in batch.chunks] == ["empty", "content", "content"]
    assert st.to_dict()["ttft_source"] == "measured"


def test_ttft_says_it_is_the_first_chunk_when_the_source_cannot_tell() -> None:
    """Chunk events without text (content capture off), a Vercel msToFirstChunk, an OpenLIT first-token stamp:
    TTFT is the source's first chunk, and its provenance says so."""
    (st,) = spans_to_batch(
        [_openllmetry(tuple(_ev("gen_ai.content.completion.chunk", t) for t in (0.2, 0.3)))]
    ).streams
    assert (st.ttft, st.time_to_first_chunk, st.ttft_source) == (0.2, 0.2, "first_chunk")
    openlit = _span(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.server.time_to_first_token": 0.3,
        },
    )
    (st,) = spans_to_batch([openlit]).streams
    assert (st.ttft, st.ttft_source) == (0.3, "first_chunk")


def test_our_own_ttft_is_measured_and_absent_ttft_has_no_source() -> None:
    ours = _span(
        "chat m",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "streamscope.stream.outcome": "completed",
            "streamscope.stream.time_to_first_chunk": 0.1,
            "streamscope.stream.time_to_first_token": 0.3,
        },
    )
    (st,) = spans_to_batch([ours]).streams
    assert (st.ttft, st.ttft_source) == (0.3, "measured")
    tools_only = _span(
        "chat m",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "streamscope.stream.outcome": "completed",
            "streamscope.stream.time_to_first_chunk": 0.1,
        },
    )
    (st,) = spans_to_batch([tools_only]).streams
    assert (st.ttft, st.ttft_source) == (None, None)


def test_tokens_per_second_follows_the_sdks_definition() -> None:
    """Our span without the rollup (a single content chunk: no time to divide by) stays without; another SDK's
    chunk events give first content to last chunk, not to the span's end."""
    ours = _span(
        "chat m",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.usage.output_tokens": 9,
            "streamscope.stream.outcome": "completed",
            "streamscope.stream.time_to_first_token": 0.3,
        },
    )
    (st,) = spans_to_batch([ours]).streams
    assert st.output_tokens_per_second is None
    chunk = "gen_ai.content.completion.chunk"
    events = tuple(_ev(chunk, t, {"gen_ai.completion.chunk": "x"}) for t in (0.5, 1.0, 1.5))
    foreign = _span(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "m",
            "gen_ai.usage.completion_tokens": 10,
        },
        events=events,
        dur=4.0,
    )
    (st,) = spans_to_batch([foreign]).streams
    assert st.output_tokens_per_second == pytest.approx(10 / 1.0)
