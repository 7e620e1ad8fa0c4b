"""The attribute names every dialect is read with, and the stream facts read with them.

One vocabulary for all, not one per dialect: instrumentations mix names (OpenLLMetry and OpenLIT write GenAI
semantic-convention names beside their own; a span can carry two SDKs' attributes). Where a field has several names
the order is the precedence: GenAI semantic conventions, then OpenInference, Vercel AI SDK, Langfuse, OpenLLMetry."""

from __future__ import annotations

from streamscope.collector.dialects.base import Common
from streamscope.collector.dialects.chunks import compact_chunks, event_chunks, gap_rollups
from streamscope.collector.dialects.read import integer, json_map, num, text
from streamscope.collector.model import NS, OUTCOMES, Span

MODEL = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name", "ai.model.id",
         "langfuse.observation.model.name", "llm.request.model")  # fmt: skip
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider")
OPERATION = ("gen_ai.operation.name", "llm.request.type")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
                 "ai.usage.completionTokens", "ai.usage.outputTokens")  # fmt: skip
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                "ai.usage.promptTokens", "ai.usage.inputTokens")  # fmt: skip
#: Langfuse's usage, a JSON object (``{"input": 20, "output": 30}``): read when no attribute above says
USAGE_DETAILS = "langfuse.observation.usage_details"
USAGE_OUTPUT = ("output", "completion_tokens", "output_tokens")
USAGE_INPUT = ("input", "prompt_tokens", "input_tokens")
TIME_TO_FIRST_CHUNK = ("streamscope.stream.time_to_first_chunk", "gen_ai.response.time_to_first_chunk")
TOKENS_PER_SECOND = (
    "streamscope.stream.output_tokens_per_second",
    "ai.response.avgCompletionTokensPerSecond",
)
DEFAULT_STALL = 2.0


def read_common(span: Span) -> Common:
    a = span.attributes
    chunks = compact_chunks(span) or event_chunks(span)
    output_tokens = integer(a, *OUTPUT_TOKENS)
    input_tokens = integer(a, *INPUT_TOKENS)
    if output_tokens is None or input_tokens is None:
        usage = json_map(a.get(USAGE_DETAILS))
        output_tokens = integer(usage, *USAGE_OUTPUT) if output_tokens is None else output_tokens
        input_tokens = integer(usage, *USAGE_INPUT) if input_tokens is None else input_tokens
    gaps = None
    if chunks:
        gaps = gap_rollups(chunks, num(a, "streamscope.stream.stall_threshold") or DEFAULT_STALL)
    chunk_count = integer(a, "streamscope.stream.chunk_count")
    return Common(
        chunks,
        text(a, *MODEL) or "",  # model
        text(a, *PROVIDER) or "",  # provider
        text(a, *OPERATION) or "chat",  # operation
        num(a, *TIME_TO_FIRST_CHUNK),  # time_to_first_chunk
        num(a, *TOKENS_PER_SECOND),  # output_tokens_per_second
        output_tokens,
        input_tokens,
        max(0, span.end_ns - span.start_ns) / NS,  # duration
        chunk_count if chunk_count is not None or gaps is None else gaps.chunk_count,  # chunk_count
        gaps,
    )


def outcome(span: Span) -> tuple[str, str | None]:
    """The stream's outcome and error type: ours as sent, else derived from the span's status (an ERROR status, or
    Langfuse's ERROR level, is ``error``, or ``timeout`` when the error type or status message says timeout)."""
    a = span.attributes
    stated = a.get("streamscope.stream.outcome")
    error_type = text(a, "error.type")
    if stated in OUTCOMES:
        return str(stated), error_type
    if span.status_code != 2 and a.get("langfuse.observation.level") != "ERROR":
        return "completed", error_type
    if error_type is None:
        error_type = next(
            (text(e.attributes, "exception.type") for e in span.events if e.name == "exception"), None
        )
    timeout = "timeout" in (error_type or "").lower() or "timeout" in span.status_message.lower()
    return ("timeout" if timeout else "error"), error_type
