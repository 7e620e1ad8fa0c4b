"""What a finished stream's LLM span says: pure functions from what the stream learned to span attributes.

:func:`stream_attributes` takes the outcome, the rollups (:func:`streamscope.tracing.rollups.compute`), the usage
and response facts (:class:`~streamscope.tracing.facts.StreamFacts`) and the (redacted) output text, and returns
the attributes; :func:`chunk_arrays` gives the per-chunk arrays a span carries when chunk spans are off;
:func:`error_type` says what ``error.type`` a failed stream gets; :func:`output_tokens` counts the output when the
provider did not. None of them touches a span, a lock or the settings: the recorder
(:mod:`streamscope.tracing.streams`) gathers the facts and sets what these return.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from itertools import compress, repeat
from operator import mul, sub
from typing import Any

from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A
from streamscope.tracing import rollups
from streamscope.tracing.facts import StreamFacts, count_tokens
from streamscope.tracing.rollups import CONTENT, KIND_NAMES, REASONING, TOOL_CALL

__all__ = ["chunk_arrays", "error_type", "output_tokens", "stream_attributes"]

_PRODUCED = (CONTENT, REASONING, TOOL_CALL)


def stream_attributes(
    outcome: str,
    r: rollups.Rollups,
    facts: StreamFacts,
    *,
    output: str | None = None,
    late: Mapping[str, AttributeValue] | None = None,
    chunk_spans_dropped: int | None = None,
    error: str | None = None,
) -> dict[str, AttributeValue]:
    """The LLM span's attributes when the stream ends.

    ``output``: the output text when content is captured (already redacted), else None; it becomes
    ``gen_ai.output.messages`` for a completed stream and ``streamscope.partial_output`` for any other.
    ``late``: attributes set on the recorder while the stream ran (they win over the rollups).
    ``chunk_spans_dropped``: how many chunk spans did not fit the export queue (None: chunk spans are off).
    ``error``: the ``error.type`` of a failed stream (:func:`error_type`).
    """
    usage = facts.usage
    attrs: dict[str, AttributeValue] = {
        A.OUTCOME: outcome,
        A.CHUNK_COUNT: r.chunk_count,
        A.STALL_COUNT: r.stall_count,
        A.STALL_THRESHOLD: r.stall_threshold,
    }
    optional = {
        A.TTFB: r.time_to_first_byte,
        A.TTF_CHUNK: r.time_to_first_chunk,
        A.TTFT: r.time_to_first_token,
        A.TTF_TOOL_CALL: r.time_to_first_tool_call,
        A.TTF_REASONING: r.time_to_first_reasoning_token,
        A.GAP_P50: r.gap_p50,
        A.GAP_P95: r.gap_p95,
        A.GAP_MAX: r.gap_max,
        A.TOKENS_PER_SECOND: r.output_tokens_per_second,
        A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: r.time_to_first_chunk,
        A.GEN_AI_USAGE_INPUT_TOKENS: usage.get("input_tokens"),
        A.GEN_AI_USAGE_OUTPUT_TOKENS: usage.get("output_tokens"),
        A.USAGE_SOURCE: facts.usage_source if usage else None,
        A.GEN_AI_RESPONSE_ID: facts.response_id,
        A.GEN_AI_RESPONSE_MODEL: facts.response_model,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if late:
        attrs.update(late)
    if facts.finish_reasons:
        attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(facts.finish_reasons)
    if output is not None:
        if outcome == "completed":
            message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": output}]}
            if facts.finish_reasons:
                message["finish_reason"] = facts.finish_reasons[-1]
            attrs[A.GEN_AI_OUTPUT_MESSAGES] = json.dumps([message], ensure_ascii=False)
        else:
            attrs[A.PARTIAL_OUTPUT] = output
    if chunk_spans_dropped is not None:
        attrs[A.CHUNK_SPANS_DROPPED] = chunk_spans_dropped
    if error is not None:
        attrs[A.ERROR_TYPE] = error
    return attrs


def chunk_arrays(
    start_ns: int, times: Sequence[int], sizes: Sequence[int], kinds: Sequence[int]
) -> dict[str, AttributeValue]:
    """The per-chunk arrays (offsets in seconds since ``start_ns``, sizes, kind names) of a span without chunk
    spans; tuples of one primitive type each."""
    return {
        A.CHUNKS_OFFSET: tuple(map(mul, map(sub, times, repeat(start_ns)), repeat(1e-9))),
        A.CHUNKS_SIZE: tuple(sizes),
        A.CHUNKS_KIND: tuple(map(KIND_NAMES.__getitem__, kinds)),
    }


def error_type(outcome: str, error: BaseException | None) -> tuple[str | None, BaseException | None]:
    """``error.type`` of a stream that ended with ``outcome`` (None unless error or timeout), and the exception to
    record on its span. A flow timeout interrupts upstream with a ``CancelledError``: that is reported as what
    happened, a ``TimeoutError``, with no exception recorded."""
    if outcome not in ("error", "timeout"):
        return None, error
    if error is None or (outcome == "timeout" and isinstance(error, asyncio.CancelledError)):
        if outcome == "timeout":
            return "TimeoutError", None
        return "_OTHER", error
    return type(error).__name__, error


def output_tokens(
    kinds: Sequence[int], texts: Sequence[Any], sizes: Sequence[int], counter: Callable[[str], int] | None
) -> tuple[int, str]:
    """The output's token count when nobody reported it, and its source: the user's tokenizer over the produced
    text (content, reasoning, tool calls) if there is one and it works, else an estimate from the characters."""
    if counter is None and kinds.count(CONTENT) == len(kinds):  # the usual stream: every chunk is content
        return rollups.estimate_tokens(sum(sizes)), "estimate"
    produced = list(map(_PRODUCED.__contains__, kinds))
    counted = count_tokens(counter, texts, produced)
    if counted is not None:
        return counted, "tokenizer"
    return rollups.estimate_tokens(sum(compress(sizes, produced))), "estimate"
