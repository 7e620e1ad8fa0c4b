"""The pure functions that say what a finished stream's span carries (sdk/tracing/summary.py), tested directly:
no span, no pipeline, no settings."""

from __future__ import annotations

import asyncio
import json

import pytest

from streamscope.tracing import rollups
from streamscope.tracing.facts import StreamFacts
from streamscope.tracing.rollups import CONTENT, REASONING, ROLE, TOOL_CALL, USAGE
from streamscope.tracing.summary import chunk_arrays, error_type, output_tokens, stream_attributes

MS = 1_000_000


def rolled(times_ms: list[int], kinds: list[int], output_tokens: int | None = None) -> rollups.Rollups:
    return rollups.compute(
        0, [t * MS for t in times_ms], kinds, stall_threshold=2.0, output_tokens=output_tokens
    )


def facts(**usage: int) -> StreamFacts:
    f = StreamFacts()
    if usage:
        f.set_usage(usage.get("input_tokens"), usage.get("output_tokens"), "provider")
    return f


def test_a_completed_stream_says_its_rollups_usage_response_and_output() -> None:
    f = facts(input_tokens=5, output_tokens=2)
    f.set_response(response_id="r-1", response_model="m-2024", finish_reasons=["stop"])
    attrs = stream_attributes("completed", rolled([100, 300], [CONTENT, CONTENT], 2), f, output="hi you")
    assert attrs == {
        "streamscope.stream.outcome": "completed",
        "streamscope.stream.chunk_count": 2,
        "streamscope.stream.stall_count": 0,
        "streamscope.stream.stall_threshold": 2.0,
        "streamscope.stream.time_to_first_chunk": 0.1,
        "streamscope.stream.time_to_first_token": 0.1,
        "streamscope.stream.gap_p50": 0.2,
        "streamscope.stream.gap_p95": 0.2,
        "streamscope.stream.gap_max": 0.2,
        "streamscope.stream.output_tokens_per_second": pytest.approx(10.0),
        "gen_ai.response.time_to_first_chunk": 0.1,
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 2,
        "streamscope.usage.source": "provider",
        "gen_ai.response.id": "r-1",
        "gen_ai.response.model": "m-2024",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "hi you"}], "finish_reason": "stop"}]
        ),
    }


def test_timings_that_never_happened_are_absent_not_zero() -> None:
    attrs = stream_attributes("completed", rolled([], []), facts())
    assert attrs == {
        "streamscope.stream.outcome": "completed",
        "streamscope.stream.chunk_count": 0,
        "streamscope.stream.stall_count": 0,
        "streamscope.stream.stall_threshold": 2.0,
    }


@pytest.mark.parametrize("outcome", ["abandoned", "cancelled", "error", "timeout"])
def test_any_other_outcome_keeps_the_output_as_partial_output(outcome: str) -> None:
    attrs = stream_attributes(outcome, rolled([1], [CONTENT]), facts(), output="hal")
    assert attrs["streamscope.stream.partial_output"] == "hal"
    assert "gen_ai.output.messages" not in attrs


def test_without_content_capture_no_text_is_said() -> None:
    attrs = stream_attributes("abandoned", rolled([1], [CONTENT]), facts(), output=None)
    assert not {"streamscope.stream.partial_output", "gen_ai.output.messages"} & attrs.keys()


def test_late_attributes_win_and_the_dropped_count_and_error_type_are_said_when_known() -> None:
    late = {"streamscope.stream.chunk_count": 99, "app.key": "v"}
    attrs = stream_attributes(
        "error", rolled([1], [CONTENT]), facts(), late=late, chunk_spans_dropped=0, error="ValueError"
    )
    assert attrs["streamscope.stream.chunk_count"] == 99
    assert attrs["app.key"] == "v"
    assert attrs["streamscope.stream.chunk_spans_dropped"] == 0
    assert attrs["error.type"] == "ValueError"
    plain = stream_attributes("error", rolled([1], [CONTENT]), facts())
    assert "streamscope.stream.chunk_spans_dropped" not in plain and "error.type" not in plain


def test_the_arrays_of_a_span_without_chunk_spans() -> None:
    arrays = chunk_arrays(1_000, [1_000 + 5 * MS, 1_000 + 12 * MS], [3, 0], [CONTENT, USAGE])
    assert arrays == {
        "streamscope.chunks.offset": (pytest.approx(0.005), pytest.approx(0.012)),
        "streamscope.chunks.size": (3, 0),
        "streamscope.chunks.kind": ("content", "usage"),
    }


def test_error_type_of_each_outcome() -> None:
    boom = ValueError("x")
    assert error_type("completed", None) == (None, None)
    assert error_type("abandoned", boom) == (None, boom)
    assert error_type("error", boom) == ("ValueError", boom)
    assert error_type("error", None) == ("_OTHER", None)
    assert error_type("timeout", None) == ("TimeoutError", None)
    assert error_type("timeout", asyncio.CancelledError()) == ("TimeoutError", None)
    late = TimeoutError("slow")
    assert error_type("timeout", late) == ("TimeoutError", late)


def test_output_tokens_count_what_was_produced_with_the_users_tokenizer_else_estimate() -> None:
    kinds = [ROLE, CONTENT, REASONING, TOOL_CALL, USAGE]
    texts = ["", "abcd", "efgh", "ij", "zzzzzzzz"]
    sizes = list(map(len, texts))
    seen: list[str] = []

    def count(text: str) -> int:
        seen.append(text)
        return 3

    assert output_tokens(kinds, texts, sizes, count) == (3, "tokenizer")
    assert seen == ["abcdefghij"]
    assert output_tokens(kinds, texts, sizes, None) == (3, "estimate")  # 10 characters, ~4 a token


def test_an_all_content_stream_estimates_like_a_mixed_one_and_still_uses_the_tokenizer() -> None:
    texts = ["abcd", "efgh", "ij"]
    sizes = list(map(len, texts))
    assert output_tokens([CONTENT] * 3, texts, sizes, None) == (3, "estimate")
    assert output_tokens([CONTENT, CONTENT, USAGE], texts, sizes, None) == (2, "estimate")  # 8 characters
    assert output_tokens([CONTENT] * 3, texts, sizes, lambda text: len(text) * 10) == (100, "tokenizer")


def test_a_failing_tokenizer_falls_back_to_the_estimate() -> None:
    def broken(text: str) -> int:
        raise RuntimeError("no vocab")

    assert output_tokens([CONTENT], ["abcdefgh"], [8], broken) == (2, "estimate")
