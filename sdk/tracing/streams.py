"""Stream recorder: the one place where an LLM stream becomes a span, rollups and chunk spans.

Every adapter (engine callbacks, LangChain, raw ``openai`` streams) drives the same recorder::

    from streamscope.tracing.streams import start_stream, CONTENT, ROLE, TOOL_CALL

    rec = start_stream(model="gpt-4o-mini", provider="openai", request_params={"temperature": 0.2},
                       input_messages=[{"role": "user", "content": "hi"}])
    rec.first_byte()                      # optional: HTTP response headers arrived (time to first byte)
    for chunk in upstream:
        rec.chunk(CONTENT, chunk_text)    # hot path: one clock read and one list append, nothing else
        # or rec.raw(chunk_object) and pass classify= to start_stream: the chunk is classified at the end
    rec.set_response(response_id="chatcmpl-1", response_model="gpt-4o-mini-2024", finish_reasons=["stop"])
    rec.end("completed", usage={"input_tokens": 5, "output_tokens": 7})   # exactly once; later calls no-op

``end(outcome, error=None, usage=None)`` takes the outcome of the shared engine contract: ``completed``,
``abandoned``, ``cancelled``, ``error`` or ``timeout``. ``error`` and ``timeout`` set span status ERROR,
record the exception and ``error.type``; the others never mark the span as an error. Whatever the outcome,
the rollups, the usage known so far and (with content capture) the partial output are kept.

Per chunk the consumer's thread only appends ``(perf_counter_ns(), kind, payload)`` to a list; no span,
lock or dict is touched. At ``end`` the rollups are computed in one pass, the LLM span gets its attributes
and ends, and the chunk spans are handed to the export pipeline as one :class:`ChunkBatch` that the
background thread encodes. Nothing here raises into the caller: failures are logged once and counted.

Chunk kinds are small ints: ``ROLE`` (role-only delta, no text), ``CONTENT`` (non-empty visible text),
``REASONING``, ``TOOL_CALL`` (a tool-call name or argument fragment), ``USAGE`` (token counts only),
``EMPTY`` (keep-alives, finish-reason-only deltas). ``classify`` functions map a raw chunk to
``(kind, text)`` and may call :meth:`StreamRecorder.set_usage` / :meth:`set_response` on the recorder.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A
from streamscope.tracing import rollups, state
from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.context import current_attributes
from streamscope.tracing.guard import report
from streamscope.tracing.rollups import CONTENT, EMPTY, KIND_NAMES, REASONING, ROLE, TOOL_CALL, USAGE

__all__ = [
    "CONTENT", "EMPTY", "KIND_NAMES", "OUTCOMES", "REASONING", "ROLE", "TOOL_CALL", "USAGE",
    "Classifier", "StreamRecorder", "start_stream",
]

OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
USAGE_SOURCES = ("provider", "tokenizer", "estimate")
_RAW = -1
_perf = time.perf_counter_ns

Classifier = Callable[[Any, "StreamRecorder"], tuple[int, str]]


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


class StreamRecorder:
    """Records one stream (see the module docstring). Create it with :func:`start_stream`."""

    __slots__ = (
        "_classify",
        "_ended",
        "_finish_reasons",
        "_first_byte_ns",
        "_lock",
        "_response_id",
        "_response_model",
        "_usage",
        "_usage_source",
        "active",
        "context_attributes",
        "records",
        "span",
        "start_perf_ns",
        "start_wall_ns",
    )

    def __init__(self, span: Span, active: state.Active, *, start_perf_ns: int, start_wall_ns: int,
                 classify: Classifier | None = None) -> None:
        self.span = span
        self.active = active
        self.start_perf_ns = start_perf_ns
        self.start_wall_ns = start_wall_ns
        self.records: list[tuple[int, int, Any]] = []
        self._classify = classify
        self._ended = False
        self._lock = threading.Lock()
        self._first_byte_ns: int | None = None
        self._usage: dict[str, int] = {}
        self._usage_source: str | None = None
        self._response_id: str | None = None
        self._response_model: str | None = None
        self._finish_reasons: list[str] = []
        self.context_attributes = current_attributes()  # for chunk spans, built later on another thread

    # -- hot path --------------------------------------------------------------------------------------

    def chunk(self, kind: int, text: str = "") -> None:
        """One chunk arrived now. ``kind`` is one of the kind constants; ``text`` its text (may be empty)."""
        self.records.append((_perf(), kind, text))

    def raw(self, obj: Any) -> None:
        """One chunk arrived now; classify it at the end with the ``classify`` given to ``start_stream``."""
        self.records.append((_perf(), _RAW, obj))

    # -- facts ------------------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended

    def first_byte(self, wall_time_ns: int | None = None) -> None:
        """Response headers arrived (now, or at ``wall_time_ns`` = a ``time.time_ns()`` reading)."""
        if self._first_byte_ns is None:
            if wall_time_ns is None:
                self._first_byte_ns = _perf()
            else:
                self._first_byte_ns = self.start_perf_ns + (int(wall_time_ns) - self.start_wall_ns)

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                  source: str = "provider") -> None:
        """Token usage (latest report wins per field). ``source``: provider | tokenizer | estimate."""
        if input_tokens is not None:
            self._usage["input_tokens"] = int(input_tokens)
        if output_tokens is not None:
            self._usage["output_tokens"] = int(output_tokens)
        self._usage_source = source if source in USAGE_SOURCES else "provider"

    def set_response(self, *, response_id: str | None = None, response_model: str | None = None,
                     finish_reasons: Iterable[str] | None = None) -> None:
        if response_id:
            self._response_id = str(response_id)
        if response_model:
            self._response_model = str(response_model)
        for reason in finish_reasons or ():
            if reason:
                self._finish_reasons.append(str(reason))

    # -- end ---------------------------------------------------------------------------------------------

    def end(self, outcome: str = "completed", error: BaseException | None = None,
            usage: Mapping[str, Any] | None = None) -> None:
        """End the stream exactly once (later calls are ignored). Never raises."""
        end_perf = _perf()
        with self._lock:
            if self._ended:
                return
            self._ended = True
        # Rollups, attributes, the span's end and the chunk batch are built on the export thread when there
        # is one, so the consumer's thread pays only for the per-chunk appends.
        pipeline = self.active.pipeline
        try:
            if pipeline is not None and pipeline.defer(
                    lambda: self._complete(outcome, error, usage, end_perf), len(self.records) + 1):
                return
        except Exception as exc:
            report("StreamRecorder.end(defer)", exc)
        self._complete(outcome, error, usage, end_perf)

    def _complete(self, outcome: str, error: BaseException | None, usage: Mapping[str, Any] | None,
                  end_perf: int) -> None:
        try:
            if usage:
                self.set_usage(usage.get("input_tokens"), usage.get("output_tokens"),
                               str(usage.get("source", "provider")))
            self._finish(outcome if outcome in OUTCOMES else "completed", error, end_perf)
        except Exception as exc:
            report("StreamRecorder.end", exc)
        finally:
            try:
                if self.span.is_recording():
                    self.span.end(end_time=self.start_wall_ns + (end_perf - self.start_perf_ns))
            except Exception as exc:
                report("StreamRecorder.end(span)", exc)

    def _columns(self) -> tuple[list[int], list[int], list[str]]:
        times = [r[0] for r in self.records]
        kinds: list[int] = []
        texts: list[str] = []
        classify = self._classify
        for _t, kind, payload in self.records:
            if kind == _RAW:
                if classify is None:
                    kind, text = (CONTENT, payload) if isinstance(payload, str) and payload else (EMPTY, "")
                else:
                    kind, text = classify(payload, self)
            else:
                text = payload
            kinds.append(kind)
            texts.append(text if isinstance(text, str) else str(text))
        return times, kinds, texts

    def _finish(self, outcome: str, error: BaseException | None, end_perf: int) -> None:
        span = self.span
        settings = self.active.settings
        times, kinds, texts = self._columns()
        sizes = [len(t) for t in texts]

        if "output_tokens" not in self._usage:
            # nobody counted: estimate from the characters received, and say so
            chars = sum(s for s, k in zip(sizes, kinds, strict=True) if k in (CONTENT, REASONING, TOOL_CALL))
            self._usage["output_tokens"] = rollups.estimate_tokens(chars)
            self._usage_source = "estimate"
        out_tokens = self._usage.get("output_tokens")
        r = rollups.compute(self.start_perf_ns, times, kinds, first_byte_ns=self._first_byte_ns,
                            stall_threshold=settings.stall_threshold, output_tokens=out_tokens)

        attrs: dict[str, AttributeValue] = {
            A.OUTCOME: outcome,
            A.CHUNK_COUNT: r.chunk_count,
            A.STALL_COUNT: r.stall_count,
            A.STALL_THRESHOLD: r.stall_threshold,
        }
        optional = {
            A.TTFB: r.time_to_first_byte, A.TTF_CHUNK: r.time_to_first_chunk, A.TTFT: r.time_to_first_token,
            A.TTF_TOOL_CALL: r.time_to_first_tool_call, A.TTF_REASONING: r.time_to_first_reasoning_token,
            A.GAP_P50: r.gap_p50, A.GAP_P95: r.gap_p95, A.GAP_MAX: r.gap_max,
            A.TOKENS_PER_SECOND: r.output_tokens_per_second,
            A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: r.time_to_first_chunk,
            A.GEN_AI_USAGE_INPUT_TOKENS: self._usage.get("input_tokens"),
            A.GEN_AI_USAGE_OUTPUT_TOKENS: out_tokens,
            A.USAGE_SOURCE: self._usage_source if self._usage else None,
            A.GEN_AI_RESPONSE_ID: self._response_id,
            A.GEN_AI_RESPONSE_MODEL: self._response_model,
        }
        attrs.update({k: v for k, v in optional.items() if v is not None})
        if self._finish_reasons:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(self._finish_reasons)

        if settings.capture_content:
            text = "".join(t for t, k in zip(texts, kinds, strict=True) if k == CONTENT)
            if outcome == "completed":
                message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
                if self._finish_reasons:
                    message["finish_reason"] = self._finish_reasons[-1]
                attrs[A.GEN_AI_OUTPUT_MESSAGES] = json.dumps([message], ensure_ascii=False)
            else:
                attrs[A.PARTIAL_OUTPUT] = text

        dropped = 0
        if times and settings.chunk_spans:
            dropped = self._emit_chunk_spans(times, kinds, sizes, texts if settings.capture_content else None)
            attrs[A.CHUNK_SPANS_DROPPED] = dropped
        elif times:
            attrs[A.CHUNKS_OFFSET] = tuple((t - self.start_perf_ns) * 1e-9 for t in times)
            attrs[A.CHUNKS_SIZE] = tuple(sizes)
            attrs[A.CHUNKS_KIND] = tuple(KIND_NAMES[k] for k in kinds)

        if outcome in ("error", "timeout"):
            if error is None or (outcome == "timeout" and isinstance(error, asyncio.CancelledError)):
                # a flow timeout interrupts upstream with a CancelledError: report what happened, a timeout
                err_type = "TimeoutError" if outcome == "timeout" else "_OTHER"
                error = None if outcome == "timeout" else error
            else:
                err_type = type(error).__name__
            attrs[A.ERROR_TYPE] = err_type
            if error is not None:
                span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error) if error is not None and str(error) else err_type))
        span.set_attributes(attrs)

    def _emit_chunk_spans(self, times: Sequence[int], kinds: Sequence[int], sizes: Sequence[int],
                          texts: Sequence[str] | None) -> int:
        ctx = self.span.get_span_context()
        pipeline = self.active.pipeline
        extra = dict(self.context_attributes)
        if pipeline is not None and self.active.resource is not None:
            batch = ChunkBatch(
                trace_id=ctx.trace_id, parent_span_id=ctx.span_id, resource=self.active.resource,
                scope=state.SCOPE, start_wall_ns=self.start_wall_ns, start_perf_ns=self.start_perf_ns,
                times_ns=times, kinds=kinds, sizes=sizes, texts=texts, extra_attributes=extra,
            )
            return 0 if pipeline.submit_chunks(batch) else len(batch)
        # Not our pipeline (a user-configured provider): build ordinary spans through its tracer.
        parent = trace.set_span_in_context(self.span)
        batch = ChunkBatch(
            trace_id=ctx.trace_id, parent_span_id=ctx.span_id, resource=None, scope=state.SCOPE,
            start_wall_ns=self.start_wall_ns, start_perf_ns=self.start_perf_ns,
            times_ns=times, kinds=kinds, sizes=sizes, texts=texts, extra_attributes=extra,
        )
        tracer = self.active.tracer
        for wall, attrs in batch.rows():
            tracer.start_span(A.CHUNK_SPAN_NAME, context=parent, start_time=wall, attributes=attrs).end(end_time=wall)
        return 0


class _NoopRecorder(StreamRecorder):
    """Returned when the stream is not sampled or tracing could not start: every method does nothing."""

    def chunk(self, kind: int, text: str = "") -> None:
        return None

    def raw(self, obj: Any) -> None:
        return None

    def end(self, outcome: str = "completed", error: BaseException | None = None,
            usage: Mapping[str, Any] | None = None) -> None:
        self._ended = True


def _noop() -> StreamRecorder:
    return _NoopRecorder(trace.INVALID_SPAN, state.current(), start_perf_ns=_perf(), start_wall_ns=time.time_ns())


def llm_span_name(operation: str, model: str | None) -> str:
    return f"{operation} {model}" if model else operation


def start_attributes(
    *, operation: str, model: str | None, provider: str | None, stream: bool,
    request_params: Mapping[str, Any] | None, server_address: str | None, server_port: int | None,
    run_id: Any = None,
) -> dict[str, AttributeValue]:
    """The GenAI attributes known when an LLM call starts (set at span start, as the spec asks)."""
    attrs: dict[str, AttributeValue] = {A.GEN_AI_OPERATION_NAME: operation,
                                        A.GEN_AI_PROVIDER_NAME: provider or "_OTHER"}
    if model:
        attrs[A.GEN_AI_REQUEST_MODEL] = model
    if stream:
        attrs[A.GEN_AI_REQUEST_STREAM] = True
    for key, value in (request_params or {}).items():
        name = A.REQUEST_PARAMS.get(key)
        if name is None or value is None:
            continue
        if key == "stop":
            attrs[name] = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = value
    if server_address:
        attrs[A.SERVER_ADDRESS] = server_address
        if server_port:
            attrs[A.SERVER_PORT] = int(server_port)
    if run_id is not None:
        attrs[A.RUN_ID] = str(run_id)
    return attrs


def start_stream(
    *,
    model: str | None = None,
    provider: str | None = None,
    operation: str = "chat",
    stream: bool = True,
    request_params: Mapping[str, Any] | None = None,
    input_messages: Sequence[Mapping[str, Any]] | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    run_id: Any = None,
    parent: otel_context.Context | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    classify: Classifier | None = None,
    name: str | None = None,
) -> StreamRecorder:
    """Start the LLM span (``{operation} {model}``, kind CLIENT) and return its recorder. Never raises.

    ``parent`` is an OTel context (default: the current one). ``input_messages`` are ``{"role", "content"}``
    dicts, recorded as ``gen_ai.input.messages`` when content capture is on.
    """
    try:
        active = state.current()
        start_wall = time.time_ns()
        start_perf = _perf()
        attrs = start_attributes(operation=operation, model=model, provider=provider, stream=stream,
                                 request_params=request_params, server_address=server_address,
                                 server_port=server_port, run_id=run_id)
        if attributes:
            attrs.update(attributes)
        if input_messages is not None and active.settings.capture_content:
            attrs[A.GEN_AI_INPUT_MESSAGES] = json.dumps(
                [{"role": str(m.get("role", "user")),
                  "parts": [{"type": "text", "content": _jsonable(m.get("content"))}]} for m in input_messages],
                ensure_ascii=False)
        span = active.tracer.start_span(name or llm_span_name(operation, model), context=parent,
                                        kind=SpanKind.CLIENT, attributes=attrs, start_time=start_wall)
        if not span.is_recording():
            return _noop()
        return StreamRecorder(span, active, start_perf_ns=start_perf, start_wall_ns=start_wall, classify=classify)
    except Exception as exc:
        report("start_stream", exc)
        return _noop()
