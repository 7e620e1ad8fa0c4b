"""Attribute and span names of the wire contract (``docs/attributes.md``), kept as plain string constants.

Standard OpenTelemetry GenAI names (semantic conventions v1.41) where a standard exists, everything else
under ``streamscope.*``. We keep our own constants rather than importing the deprecated ``_incubating``
ones from ``opentelemetry-semantic-conventions``.
"""

from __future__ import annotations

# GenAI semantic conventions
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

# Request parameters that map to ``gen_ai.request.*`` (name in invocation params -> attribute)
REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
}

# streamscope stream rollups
OUTCOME = "streamscope.stream.outcome"
TTFB = "streamscope.stream.time_to_first_byte"
TTF_CHUNK = "streamscope.stream.time_to_first_chunk"
TTFT = "streamscope.stream.time_to_first_token"
TTF_TOOL_CALL = "streamscope.stream.time_to_first_tool_call"
TTF_REASONING = "streamscope.stream.time_to_first_reasoning_token"
CHUNK_COUNT = "streamscope.stream.chunk_count"
GAP_P50 = "streamscope.stream.gap_p50"
GAP_P95 = "streamscope.stream.gap_p95"
GAP_MAX = "streamscope.stream.gap_max"
STALL_COUNT = "streamscope.stream.stall_count"
STALL_THRESHOLD = "streamscope.stream.stall_threshold"
TOKENS_PER_SECOND = "streamscope.stream.output_tokens_per_second"
PARTIAL_OUTPUT = "streamscope.stream.partial_output"
CHUNK_SPANS_DROPPED = "streamscope.stream.chunk_spans_dropped"
USAGE_SOURCE = "streamscope.usage.source"

# compact form (chunk_spans=False)
CHUNKS_OFFSET = "streamscope.chunks.offset"
CHUNKS_SIZE = "streamscope.chunks.size"
CHUNKS_KIND = "streamscope.chunks.kind"

# chunk spans
CHUNK_SPAN_NAME = "streamscope.chunk"
CHUNK_INDEX = "streamscope.chunk.index"
CHUNK_OFFSET = "streamscope.chunk.offset"
CHUNK_GAP = "streamscope.chunk.gap"
CHUNK_KIND = "streamscope.chunk.kind"
CHUNK_SIZE = "streamscope.chunk.size"
CHUNK_TOKENS = "streamscope.chunk.tokens"
CHUNK_CONTENT = "streamscope.chunk.content"

# in-flight signal: on the first chunk span of every batch exported while its stream is still running
LIVE_OPERATION = "streamscope.live.operation"
LIVE_REQUEST_MODEL = "streamscope.live.request_model"
LIVE_PROVIDER = "streamscope.live.provider"

# runs and context
RUN_ID = "streamscope.run.id"
RUN_TYPE = "streamscope.run.type"
SESSION_ID = "session.id"
USER_ID = "user.id"
TAGS = "streamscope.tags"
METADATA_PREFIX = "streamscope.metadata."

SCOPE_NAME = "streamscope"
