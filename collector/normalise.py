"""Normalise every dialect into one stream model.

Understood dialects (detected per span; first match wins):

=============  ========================================================================================
streamscope    ``gen_ai.operation.name`` is an inference op and ``streamscope.stream.*`` rollups are present
openinference  ``openinference.span.kind == "LLM"`` (``llm.*``; TTFT from the "First Token Stream Event")
langfuse       ``langfuse.observation.type == "generation"`` (TTFT from ``completion_start_time``)
vercel         Vercel AI SDK ``ai.*.doStream`` / ``ai.*.doGenerate`` (``ai.response.msToFirstChunk``)
openllmetry    ``llm.request.type`` set, or (0.62+) GenAI names with ``gen_ai.is_streaming`` /
               ``gen_ai.openai.api_base`` or per-chunk ``gen_ai.content.completion.chunk`` events
openlit        GenAI op with ``gen_ai.server.time_to_first_token`` (or ``telemetry.sdk.name == openlit``)
genai          OTel GenAI semconv, old (``gen_ai.system``, ``*_tokens``) and new names
=============  ========================================================================================

TTFT: ``ttft`` is the first *content* token (missing = never happened) wherever the chunks tell content apart: our
own spans, and chunk events that carry their text (OpenLLMetry with content capture); ``ttft_source`` is then
``measured``. Other sources stamp "first token" at their first chunk and cannot tell: ``ttft`` is their value
(equal to ``time_to_first_chunk``) and ``ttft_source`` says ``first_chunk``.
Chunk rows come from chunk spans (decoded earlier), our compact arrays, or OpenLLMetry chunk events.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

from streamscope.collector.decode import Decoded
from streamscope.collector.model import NS, OUTCOMES, Chunk, IngestBatch, Span, Stream
from streamscope.collector.pricing import DEFAULT_PRICES, Prices, estimate_cost
from streamscope.collector.query import percentile

INFERENCE_OPS = frozenset({"chat", "text_completion", "generate_content", "completion"})
NON_INFERENCE_OPS = frozenset(
    {"embeddings", "execute_tool", "invoke_agent", "create_agent", "retrieval", "invoke_workflow"}
)
CHUNK_EVENTS = frozenset({"gen_ai.content.completion.chunk", "llm.content.completion.chunk"})
FIRST_TOKEN_EVENTS = frozenset({"First Token Stream Event", "ai.stream.firstChunk", "new_token"})
DEFAULT_STALL = 2.0

log = logging.getLogger(__name__)
UNFORESEEN = (
    "a span has attribute values the collector cannot read"  # the reason when no rule foresaw the value
)


def _num(attrs: Mapping[str, Any], *keys: str, scale: float = 1.0) -> float | None:
    for k in keys:
        v = attrs.get(k)
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                continue
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0:
            return float(v) * scale
    return None


def _int(attrs: Mapping[str, Any], *keys: str) -> int | None:
    v = _num(attrs, *keys)
    return int(v) if v is not None and v < 2**62 else None


def _str(attrs: Mapping[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = attrs.get(k)
        if isinstance(v, str) and v:
            return v[:256]
    return None


#: Since 0.62 OpenLLMetry writes GenAI semconv names and no ``llm.request.type``; these non-semconv markers of
#: Traceloop's instrumentations still tell its spans apart from plain GenAI semconv.
OPENLLMETRY_MARKERS = ("gen_ai.is_streaming", "llm.is_streaming", "gen_ai.openai.api_base")
OPENLLMETRY_CHUNK_EVENT = "gen_ai.content.completion.chunk"


def _is_openllmetry(span: Span) -> bool:
    a = span.attributes
    return any(k in a for k in OPENLLMETRY_MARKERS) or any(
        e.name == OPENLLMETRY_CHUNK_EVENT for e in span.events
    )


#: Every rule below needs one of these keys, or a span name starting with "ai." (Vercel's operation ids): a span
#: with none of them (an HTTP span, a database call, a chunk-like child) is no model call, found in one set test.
DIALECT_KEYS = frozenset({"gen_ai.operation.name", "openinference.span.kind", "langfuse.observation.type",
                          "ai.operationId", "operation.name", "llm.request.type", "gen_ai.system",
                          "gen_ai.provider.name"})  # fmt: skip


def dialect(span: Span) -> str | None:
    """The dialect of an LLM stream span, or None when the span is not a model call."""
    a = span.attributes
    if a.keys().isdisjoint(DIALECT_KEYS) and not span.name.startswith("ai."):
        return None
    op = a.get("gen_ai.operation.name")
    if not isinstance(op, str):  # a list or map there (hostile or broken input) is no operation name
        op = None
    if op in NON_INFERENCE_OPS:
        return None
    if op in INFERENCE_OPS and any(k.startswith("streamscope.stream.") for k in a):
        return "streamscope"
    if a.get("openinference.span.kind") == "LLM":
        return "openinference"
    if a.get("langfuse.observation.type") == "generation":
        return "langfuse"
    op_id = a.get("ai.operationId") or a.get("operation.name") or span.name
    if (
        isinstance(op_id, str)
        and op_id.startswith("ai.")
        and op_id.split(" ")[0].endswith((".doStream", ".doGenerate"))
    ):
        return "vercel"
    if a.get("llm.request.type") in ("chat", "completion"):
        return "openllmetry"
    is_genai = op in INFERENCE_OPS or (
        op is None and ("gen_ai.system" in a or "gen_ai.provider.name" in a) and "gen_ai.request.model" in a
    )
    if is_genai:
        if "gen_ai.server.time_to_first_token" in a or span.resource.get("telemetry.sdk.name") == "openlit":
            return "openlit"
        if _is_openllmetry(span):
            return "openllmetry"
        return "genai"
    return None


class BadSpan(ValueError):
    """A span carries a value that cannot be read as what its key means; ``str(err)`` says which (the span is
    rejected through the OTLP partial success, the rest of the request is stored)."""


def _iso_ns(value: Any, key: str) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadSpan(f"a span has a non-finite {key} ({value})")
        v = int(value)
        return v if v > 10**17 else None  # ns since the epoch
    if not isinstance(value, str):
        return None
    text = value.strip().strip('"')
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1e6) * 1000


def _json_map(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            out = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


def compact_chunks(span: Span) -> list[Chunk]:
    """Chunk rows from the compact parallel arrays (``chunk_spans=False``)."""
    a = span.attributes
    offsets = a.get("streamscope.chunks.offset")
    if not isinstance(offsets, list):
        return []
    sizes = a.get("streamscope.chunks.size")
    kinds = a.get("streamscope.chunks.kind")
    sizes = sizes if isinstance(sizes, list) else []
    kinds = kinds if isinstance(kinds, list) else []
    out: list[Chunk] = []
    prev: float | None = None
    for i, off in enumerate(offsets):
        if not isinstance(off, (int, float)) or isinstance(off, bool) or not math.isfinite(off):
            continue
        size = sizes[i] if i < len(sizes) and isinstance(sizes[i], int) else 0
        kind = kinds[i][:32] if i < len(kinds) and isinstance(kinds[i], str) else "content"
        out.append(
            Chunk(span.span_id, i, float(off), None if prev is None else float(off) - prev, kind, size)
        )
        prev = float(off)
    return out


CHUNK_TEXT_KEYS = ("gen_ai.completion.chunk", "content")


def event_chunks(span: Span) -> list[Chunk]:
    """Chunk rows from per-chunk span events (OpenLLMetry). A chunk whose text attribute is there but empty is
    ``empty`` (a role-only or finish delta), one with text ``content``; without the attribute (content capture off)
    the kind is unknown and recorded as ``content``, which :func:`first_content` does not trust."""
    out: list[Chunk] = []
    prev: float | None = None
    for e in span.events:
        if e.name not in CHUNK_EVENTS:
            continue
        off = max(0, e.time_ns - span.start_ns) / NS
        content = _str(e.attributes, *CHUNK_TEXT_KEYS)
        known = any(isinstance(e.attributes.get(k), str) for k in CHUNK_TEXT_KEYS)
        kind = "content" if content or not known else "empty"
        out.append(
            Chunk(span.span_id, len(out), off, None if prev is None else off - prev, kind,
                  len(content) if content else 0)
        )  # fmt: skip
        prev = off
    return out


def first_content(span: Span, chunks: Sequence[Chunk]) -> float | None:
    """TTFT from chunk rows whose kinds are known: the offset of the first ``content`` chunk (None: no content, or
    the kinds are not known). Kinds are known for our compact arrays, and for chunk events carrying their text."""
    if compact_chunks(span):
        return next((c.offset for c in chunks if c.kind == "content"), None)
    events = [e for e in span.events if e.name in CHUNK_EVENTS]
    if not events or not all(
        any(isinstance(e.attributes.get(k), str) for k in CHUNK_TEXT_KEYS) for e in events
    ):
        return None
    return next((c.offset for c in chunks if c.kind == "content"), None)


def _gap_rollups(chunks: Sequence[Chunk], stall: float) -> dict[str, Any]:
    gaps = [c.gap for c in chunks if c.gap is not None]
    return {
        "chunk_count": len(chunks),
        "gap_p50": percentile(gaps, 50),
        "gap_p95": percentile(gaps, 95),
        "gap_max": max(gaps) if gaps else None,
        "stall_count": sum(1 for g in gaps if g > stall),
    }


def to_stream(span: Span, kind: str, prices: Prices = DEFAULT_PRICES) -> tuple[Stream, list[Chunk]]:
    a = span.attributes
    chunks = compact_chunks(span) or event_chunks(span)
    model = _str(a, "gen_ai.request.model", "gen_ai.response.model", "llm.model_name", "ai.model.id",
                 "langfuse.observation.model.name", "llm.request.model") or ""  # fmt: skip
    provider = _str(
        a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider"
    )
    provider = (provider or "").split(".")[0] if kind == "vercel" else (provider or "")
    operation = _str(a, "gen_ai.operation.name", "llm.request.type") or "chat"

    ttfc = _num(a, "streamscope.stream.time_to_first_chunk", "gen_ai.response.time_to_first_chunk")
    ttft = _num(a, "streamscope.stream.time_to_first_token")
    ttft_source = "measured" if ttft is not None else None
    if kind != "streamscope":
        foreign = _num(a, "gen_ai.server.time_to_first_token", "time_to_first_token")
        if foreign is None:
            foreign = _num(a, "ai.response.msToFirstChunk", "ai.stream.msToFirstChunk", scale=1e-3)
        if foreign is None:
            key = "langfuse.observation.completion_start_time"
            cst = _iso_ns(a.get(key), key)
            if cst is not None and cst >= span.start_ns:
                foreign = (cst - span.start_ns) / NS
        if foreign is None:
            for e in span.events:
                if e.name in FIRST_TOKEN_EVENTS or e.name in CHUNK_EVENTS:
                    foreign = max(0, e.time_ns - span.start_ns) / NS
                    break
        if foreign is None and chunks:
            foreign = chunks[0].offset
        ttfc = ttfc if ttfc is not None else foreign
        if chunks and ttfc is None:
            ttfc = chunks[0].offset
        measured = first_content(span, chunks) if chunks else None
        if measured is not None:  # the first chunk with content: TTFT as we define it
            ttft, ttft_source = measured, "measured"
        else:  # the source's own "first token", which is its first chunk: say so
            ttft = foreign if foreign is not None else ttfc
            ttft_source = "first_chunk" if ttft is not None else None

    stall = _num(a, "streamscope.stream.stall_threshold") or DEFAULT_STALL
    rolled = _gap_rollups(chunks, stall) if chunks else {}
    chunk_count = _int(a, "streamscope.stream.chunk_count")
    usage = _json_map(a.get("langfuse.observation.usage_details"))
    output_tokens = _int(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                         "llm.token_count.completion", "ai.usage.completionTokens", "ai.usage.outputTokens")  # fmt: skip
    if output_tokens is None:
        output_tokens = _int(usage, "output", "completion_tokens", "output_tokens")
    input_tokens = _int(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                        "ai.usage.promptTokens", "ai.usage.inputTokens")  # fmt: skip
    if input_tokens is None:
        input_tokens = _int(usage, "input", "prompt_tokens", "input_tokens")
    duration = max(0, span.end_ns - span.start_ns) / NS
    tps = _num(a, "streamscope.stream.output_tokens_per_second", "ai.response.avgCompletionTokensPerSecond")
    if tps is None and kind != "streamscope" and output_tokens and ttft is not None:
        # as our SDK defines it (first content token to last chunk), with the span's end when the chunks are not
        # known; our own spans without the rollup had no time between the two, and stay without
        end = chunks[-1].offset if chunks else duration
        if end - ttft > 0:
            tps = output_tokens / (end - ttft)

    outcome = a.get("streamscope.stream.outcome")
    error_type = _str(a, "error.type")
    if outcome not in OUTCOMES:
        failed = span.status_code == 2 or a.get("langfuse.observation.level") == "ERROR"
        if failed:
            if error_type is None:
                error_type = next(
                    (_str(e.attributes, "exception.type") for e in span.events if e.name == "exception"), None
                )
            timeout = "timeout" in (error_type or "").lower() or "timeout" in span.status_message.lower()
            outcome = "timeout" if timeout else "error"
        else:
            outcome = "completed"
    usage_source = _str(a, "streamscope.usage.source") or (
        "provider" if output_tokens is not None or input_tokens is not None else None
    )
    stream = Stream(
        trace_id=span.trace_id,
        span_id=span.span_id,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        service=span.service,
        model=model,
        provider=provider,
        operation=operation,
        outcome=str(outcome),
        ttft=ttft,
        time_to_first_chunk=ttfc,
        time_to_first_byte=_num(a, "streamscope.stream.time_to_first_byte"),
        time_to_first_tool_call=_num(a, "streamscope.stream.time_to_first_tool_call"),
        time_to_first_reasoning_token=_num(a, "streamscope.stream.time_to_first_reasoning_token"),
        chunk_count=chunk_count if chunk_count is not None else rolled.get("chunk_count"),
        gap_p50=_num(a, "streamscope.stream.gap_p50") if kind == "streamscope" else rolled.get("gap_p50"),
        gap_p95=_num(a, "streamscope.stream.gap_p95") if kind == "streamscope" else rolled.get("gap_p95"),
        gap_max=_num(a, "streamscope.stream.gap_max") if kind == "streamscope" else rolled.get("gap_max"),
        stall_count=_int(a, "streamscope.stream.stall_count")
        if kind == "streamscope"
        else rolled.get("stall_count"),
        output_tokens=output_tokens,
        input_tokens=input_tokens,
        output_tokens_per_second=tps,
        usage_source=usage_source,
        error_type=error_type,
        cost_usd=estimate_cost(prices, model, input_tokens, output_tokens),
        session_id=span.session_id,
        user_id=span.user_id,
        name=span.name[:256],
        dialect=kind,
        ttft_source=ttft_source,
    )
    return stream, chunks


def normalise(decoded: Decoded, prices: Prices = DEFAULT_PRICES) -> IngestBatch:
    return normalise_checked(decoded, prices)[0]


def normalise_checked(decoded: Decoded, prices: Prices = DEFAULT_PRICES) -> tuple[IngestBatch, int, str]:
    """The batch of the spans that normalise, how many did not (left out of the batch: one poisoned span never
    fails the spans beside it), and the first reason."""
    streams: list[Stream] = []
    chunks: list[Chunk] = list(decoded.chunks)
    bad: set[int] = set()
    reason = ""
    for i, span in enumerate(decoded.spans):
        try:
            kind = dialect(span)
            if kind is None:
                continue
            st, cs = to_stream(span, kind, prices)
        except BadSpan as e:
            bad.add(i)
            reason = reason or str(e)
            continue
        except (
            Exception
        ):  # a value no rule above foresaw: reject this span, keep the rest (and say so in the log)
            log.warning("a span could not be normalised; it is rejected", exc_info=True)
            bad.add(i)
            reason = reason or UNFORESEEN
            continue
        streams.append(st)
        chunks.extend(cs)
    spans = decoded.spans if not bad else tuple(s for i, s in enumerate(decoded.spans) if i not in bad)
    batch = IngestBatch(spans=spans, streams=tuple(streams), chunks=tuple(chunks), live=decoded.live)
    return batch, len(bad), reason


def spans_to_batch(spans: Iterable[Span], prices: Prices = DEFAULT_PRICES) -> IngestBatch:
    """Normalise already-decoded spans (tests, replays)."""
    items = tuple(spans)
    return normalise(Decoded(items, (), len(items), 0), prices)
