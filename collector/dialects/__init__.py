"""Every instrumentation's LLM spans, one module per dialect, behind one table.

:data:`DIALECTS` lists them in priority order: a span is the first dialect whose ``detect`` says so (a span can
carry two SDKs' attributes; the order settles it). Before the table is walked, a span without any dialect's marker
keys (an HTTP span, a database call, a chunk-like child) and a GenAI span of a non-inference operation (tools,
agents, embeddings, ...) are turned away.

=============  ========================================================================================
streamscope    ``gen_ai.operation.name`` is an inference op and ``streamscope.stream.*`` rollups are present
openinference  ``openinference.span.kind == "LLM"`` (``llm.*``; TTFT from the "First Token Stream Event")
langfuse       ``langfuse.observation.type == "generation"`` (TTFT from ``completion_start_time``)
vercel         Vercel AI SDK ``ai.*.doStream`` / ``ai.*.doGenerate`` (``ai.response.msToFirstChunk``)
openllmetry    ``llm.request.type`` set (before 0.62)
openlit        GenAI op with ``gen_ai.server.time_to_first_token`` (or ``telemetry.sdk.name == openlit``)
openllmetry    (0.62+) GenAI names with ``gen_ai.is_streaming`` / ``gen_ai.openai.api_base`` or per-chunk
               ``gen_ai.content.completion.chunk`` events
genai          OTel GenAI semconv, old (``gen_ai.system``, ``*_tokens``) and new names
=============  ========================================================================================

Every dialect is read with one shared vocabulary (:mod:`.common`); a dialect's ``extract`` gives the fields whose
source differs: our own rollups (:mod:`.streamscope`) or timing derived from chunks and "first token" stamps
(:mod:`.derived`).
"""

from __future__ import annotations

from streamscope.collector.dialects import (
    genai,
    langfuse,
    openinference,
    openlit,
    openllmetry,
    streamscope,
    vercel,
)
from streamscope.collector.dialects.base import Dialect
from streamscope.collector.model import Span

DIALECTS: tuple[Dialect, ...] = (
    streamscope.DIALECT,
    openinference.DIALECT,
    langfuse.DIALECT,
    vercel.DIALECT,
    openllmetry.LEGACY,
    openlit.DIALECT,
    openllmetry.CURRENT,
    genai.DIALECT,
)

#: Every dialect needs one of these keys, or a span name starting with one of NAME_PREFIXES: a span with none of
#: them is no model call, found in one set test.
DIALECT_KEYS: frozenset[str] = frozenset(k for d in DIALECTS for k in d.markers)
NAME_PREFIXES = tuple(p for d in DIALECTS for p in d.span_prefixes)


def detect(span: Span) -> Dialect | None:
    """The dialect of an LLM stream span, or None when the span is not a model call."""
    a = span.attributes
    if a.keys().isdisjoint(DIALECT_KEYS) and not span.name.startswith(NAME_PREFIXES):
        return None
    op = a.get("gen_ai.operation.name")
    if not isinstance(op, str):  # a list or map there (hostile or broken input) is no operation name
        op = None
    if op in genai.NON_INFERENCE_OPS:
        return None
    for d in DIALECTS:
        if d.detect(span, op):
            return d
    return None


def dialect(span: Span) -> str | None:
    """The name of the dialect of an LLM stream span, or None when the span is not a model call."""
    found = detect(span)
    return found.name if found is not None else None
