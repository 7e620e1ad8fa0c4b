"""Stream recorder: the one place where an LLM stream becomes a span, rollups and chunk spans.

Every adapter (engine callbacks, LangChain, raw ``openai`` streams) drives the same recorder::

    from streamscope.tracing.streams import start_stream, CONTENT, ROLE, TOOL_CALL

    rec = start_stream(model="gpt-4o-mini", provider="openai", request_params={"temperature": 0.2},
                       input_messages=[{"role": "user", "content": "hi"}])
    rec.first_byte()                      # optional: HTTP response headers arrived (time to first byte)
    for chunk in upstream:
        rec.chunk(CONTENT, chunk_text)    # hot path: one clock read and two list appends, nothing else
        # or rec.raw(chunk_object) and pass classify= to start_stream: the export thread classifies it later
    rec.set_response(response_id="chatcmpl-1", response_model="gpt-4o-mini-2024", finish_reasons=["stop"])
    rec.end("completed", usage={"input_tokens": 5, "output_tokens": 7})   # exactly once; later calls no-op

``end(outcome, error=None, usage=None)`` takes the outcome of the shared engine contract: ``completed``,
``abandoned``, ``cancelled``, ``error`` or ``timeout``. ``error`` and ``timeout`` set span status ERROR,
record the exception and ``error.type``; the others never mark the span as an error. Whatever the outcome,
the rollups, the usage known so far and (with content capture) the partial output are kept.

A recorder is three parts put together:

- a :class:`~streamscope.tracing.chunklog.ChunkLog`: the two columns the consumer's thread appends to per chunk
  (:meth:`StreamRecorder.chunk_columns`), classified later off that thread;
- a :class:`~streamscope.tracing.lifecycle.SpanLifecycle` strategy: with our pipeline the LLM span may start on
  the export thread, the chunks are exported while the stream runs (every ``live_interval``, default 1 s; the
  first chunk span of each slice carries the in-flight signal ``streamscope.live.*`` so a collector can show the
  stream before its span arrives) and the end's work is deferred to the export thread; with an application's own
  provider everything happens on the caller's thread;
- :func:`~streamscope.tracing.summary.stream_attributes`, the pure function from what the stream learned (rollups
  computed in one pass over all chunks, usage, response facts, output) to the span's attributes.

At ``end`` the LLM span gets its attributes and ends, and the chunks not exported yet leave as one
:class:`ChunkBatch`. Every chunk span is exported exactly once, with the same ids and attributes whichever way it
leaves. Nothing here raises into the caller: failures are logged once and counted.

With a redactor (``Settings.redact``, from ``init(redact=...)``) and content capture, the prompt messages, output,
partial output, chunk texts (joined, redacted as one text and split back: :func:`.redaction.redact_fragments`) and a
failed stream's exception are redacted when the stream finishes, off the consumer's thread; such a stream is not
watched for live export, so its chunk spans all leave at the end. Without one, nothing here changes.

Threads: classification and the hand-out of chunks to the exporter happen under the recorder's work lock, on the
export thread (or, when ending could not be deferred, on the thread that ends the stream). ``classify`` reports
what it learns to a separate :class:`StreamFacts`, applied after the adapter's own reports when the stream
finishes, so the span's attributes do not depend on when chunks were classified.

Chunk kinds are small ints: ``ROLE`` (role-only delta, no text), ``CONTENT`` (non-empty visible text),
``REASONING``, ``TOOL_CALL`` (a tool-call name or argument fragment), ``USAGE`` (token counts only),
``EMPTY`` (keep-alives, finish-reason-only deltas). ``classify`` functions map a raw chunk to
``(kind, text)`` and may call ``set_usage`` / ``set_response`` on the :class:`StreamFacts` they are given.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, repeat
from operator import eq
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A
from streamscope.tracing import rollups, state
from streamscope.tracing.chunklog import RAW, ChunkLog
from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.context import current_attributes
from streamscope.tracing.errors import mark_error
from streamscope.tracing.facts import Classifier, StreamFacts, input_messages, jsonable, set_valid_attributes
from streamscope.tracing.guard import report
from streamscope.tracing.lifecycle import LazySpan, PipelineLifecycle, SpanLifecycle, TracerLifecycle
from streamscope.tracing.redaction import redact_fragments
from streamscope.tracing.request import llm_span_name, start_attributes
from streamscope.tracing.rollups import CONTENT, EMPTY, KIND_NAMES, REASONING, ROLE, TOOL_CALL, USAGE
from streamscope.tracing.summary import chunk_arrays, error_type, output_tokens, stream_attributes

__all__ = [
    "CONTENT",
    "EMPTY",
    "KIND_NAMES",
    "OUTCOMES",
    "RAW",
    "REASONING",
    "ROLE",
    "TOOL_CALL",
    "USAGE",
    "Classifier",
    "StreamFacts",
    "StreamRecorder",
    "start_stream",
]

OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
_perf = time.perf_counter_ns


class StreamRecorder:
    """Records one stream (see the module docstring). Create it with :func:`start_stream`."""

    __slots__ = (
        "_end_ticket",
        "_ended",
        "_facts",
        "_first_byte_ns",
        "_input",
        "_late_attributes",
        "_lifecycle",
        "_live_attributes",
        "_live_closed",
        "_span",
        "_work",
        "active",
        "arrived",
        "context_attributes",
        "log",
        "payloads",
        "start_perf_ns",
        "start_wall_ns",
    )

    def __init__(
        self,
        span: LazySpan,
        active: state.Active,
        lifecycle: SpanLifecycle,
        *,
        start_perf_ns: int,
        start_wall_ns: int,
        classify: Classifier | None = None,
    ) -> None:
        self._span = span
        self._lifecycle = lifecycle
        self.active = active
        self.start_perf_ns = start_perf_ns
        self.start_wall_ns = start_wall_ns
        self.log = ChunkLog(classify)
        # the log's columns, under their own names for the hot path (one attribute read fewer per chunk)
        self.arrived = self.log.arrived
        self.payloads = self.log.payloads
        # end() takes a ticket: next() on a count is one C call, atomic under the GIL, so exactly one caller gets 0
        self._end_ticket = itertools.count()
        self._ended = False
        self._work = threading.Lock()  # one thread at a time classifies and hands chunks to the exporter
        self._live_closed = False  # no more live slices: the stream finished, or classifying failed
        self._first_byte_ns: int | None = None
        self._facts = StreamFacts()  # reported by the adapter
        self._late_attributes: dict[str, AttributeValue] = {}
        self._live_attributes: dict[str, AttributeValue] = {}
        self._input: list[tuple[str, Any]] | None = (
            None  # prompt messages to encode (redacted) when finishing
        )
        self.context_attributes = current_attributes()  # for chunk spans, built later on another thread

    # -- the span --------------------------------------------------------------------------------------

    @property
    def span(self) -> Span:
        """The stream's LLM span, started now if it was not yet (see :func:`start_stream`)."""
        return self._span.get()

    def _started_later(self) -> None:
        """The deferred start, on the export thread: start the span and watch the stream for live export."""
        self._span.get()
        with self._work:
            if not self._live_closed:
                self._watch()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """An attribute for the LLM span, set when the stream finishes (after the rollups, before it ends)."""
        self._late_attributes[key] = value

    # -- hot path --------------------------------------------------------------------------------------

    def chunk(self, kind: int, text: str = "") -> None:
        """One chunk arrived now. ``kind`` is one of the kind constants; ``text`` its text (may be empty)."""
        self.arrived.append(_perf())
        self.payloads.append(text if kind == CONTENT and type(text) is str else (kind, text))

    def raw(self, obj: Any) -> None:
        """One chunk arrived now; the ``classify`` given to ``start_stream`` classifies it later, off this thread."""
        self.arrived.append(_perf())
        self.payloads.append((RAW, obj))

    def chunk_columns(self) -> tuple[list[int], list[Any]] | None:
        """For adapters' per-chunk loops: the two lists that :meth:`chunk` and :meth:`raw` append to, so a loop can
        record a chunk itself without a method call: append ``time.perf_counter_ns()`` to the first, then the
        payload to the second, with nothing that can raise in between; the payload is the text (a ``str``) of a
        content chunk, else ``(kind, text)`` or ``(RAW, obj)``. None when the stream is not recorded (then record
        nothing)."""
        return self.arrived, self.payloads

    @property
    def recorded(self) -> int:
        """How many chunks were recorded so far."""
        return len(self.payloads)

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

    def set_usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, source: str = "provider"
    ) -> None:
        """Token usage (latest report wins per field). ``source``: provider | tokenizer | estimate."""
        self._facts.set_usage(input_tokens, output_tokens, source)

    def set_response(
        self,
        *,
        response_id: str | None = None,
        response_model: str | None = None,
        finish_reasons: Iterable[str] | None = None,
    ) -> None:
        self._facts.set_response(
            response_id=response_id, response_model=response_model, finish_reasons=finish_reasons
        )

    # -- in flight (export thread) -------------------------------------------------------------------------

    def _watch(self) -> None:
        """Ask the lifecycle to export this stream's chunks while it runs (chunk spans on, live export on).

        Not when chunk text is captured and redacted: a secret split across two live slices could not be caught,
        so such a stream's chunk spans leave when it ends, redacted as one text."""
        settings = self.active.settings
        if (
            settings.chunk_spans
            and (settings.redact is None or not settings.capture_content)
            and self.span.is_recording()
        ):
            self._lifecycle.watch(self)

    def _batch(
        self,
        first: int,
        n: int,
        sizes: Sequence[int],
        first_attributes: Mapping[str, AttributeValue] | None = None,
        texts: Sequence[str] | None = None,
    ) -> ChunkBatch:
        """Chunk spans ``first..n-1`` of this stream; ``sizes`` are theirs, ``texts`` their (redacted) contents,
        by default the recorded ones when content capture is on."""
        log = self.log
        ctx = self.span.get_span_context()
        if texts is None and self.active.settings.capture_content:
            red = self.active.settings.redact
            texts = log.texts[first:n] if red is None else redact_fragments(red, log.texts[first:n])[0]
        return ChunkBatch(
            trace_id=ctx.trace_id,
            parent_span_id=ctx.span_id,
            resource=self._lifecycle.resource,
            scope=state.SCOPE,
            start_wall_ns=self.start_wall_ns,
            start_perf_ns=self.start_perf_ns,
            times_ns=log.times[first:n],
            kinds=log.kinds[first:n],
            sizes=sizes,
            texts=texts,
            extra_attributes=dict(self.context_attributes),
            first_index=first,
            prev_ns=log.times[first - 1] if first else None,
            first_attributes=first_attributes or {},
        )

    def live_batch(self) -> ChunkBatch | None:
        """The chunks recorded since the last call, classified, with the in-flight signal on the first one.

        Called periodically by the export thread (never by the consumer's). Every chunk is handed out once:
        here while the stream runs, or by the final batch when it ends. None when there is nothing new.
        """
        with self._work:
            log = self.log
            if self._live_closed:
                return None
            first = log.exported
            n = len(log.payloads)
            if n <= first:
                return None
            try:
                log.classify_upto(n)
            except Exception as exc:
                # Leave the rest to the end of the stream, where the failure is handled as it always was.
                self._live_closed = True
                report("StreamRecorder.live_batch", exc)
                return None
            batch = self._batch(first, n, list(map(len, log.texts[first:n])), self._live_attributes)
            log.exported = n
            return batch

    # -- end ---------------------------------------------------------------------------------------------

    def end(
        self,
        outcome: str = "completed",
        error: BaseException | None = None,
        usage: Mapping[str, Any] | None = None,
    ) -> None:
        """End the stream exactly once (later calls are ignored). Never raises."""
        end_perf = _perf()
        if next(self._end_ticket):
            return
        self._ended = True
        # Rollups, attributes, the span's end and the chunk batch are built on the export thread when there
        # is one, so the consumer's thread pays only for the per-chunk appends.
        try:
            if self._lifecycle.defer(
                lambda: self._complete(outcome, error, usage, end_perf), len(self.payloads) + 1
            ):
                return
        except Exception as exc:
            report("StreamRecorder.end(defer)", exc)
        self._complete(outcome, error, usage, end_perf)

    def _complete(
        self, outcome: str, error: BaseException | None, usage: Mapping[str, Any] | None, end_perf: int
    ) -> None:
        try:
            # Normally on the export thread; on the consumer's thread when deferring failed, where the lock
            # keeps a concurrent live export from classifying or handing out the same chunks.
            with self._work:
                self._live_closed = True
                if not self.span.is_recording():
                    return  # its start failed, or the tracer does not record: nothing to finish
                try:
                    if usage:
                        self.set_usage(
                            usage.get("input_tokens"),
                            usage.get("output_tokens"),
                            str(usage.get("source", "provider")),
                        )
                    self._finish(outcome if outcome in OUTCOMES else "completed", error, end_perf)
                except Exception as exc:
                    report("StreamRecorder.end", exc)
        finally:
            try:
                self._lifecycle.unwatch(self)
                if self.span.is_recording():
                    self.span.end(end_time=self.start_wall_ns + (end_perf - self.start_perf_ns))
            except Exception as exc:
                report("StreamRecorder.end(span)", exc)

    def _finish(self, outcome: str, error: BaseException | None, end_perf: int) -> None:
        """Gather the facts, let :func:`stream_attributes` say what they mean, and set that on the span."""
        span = self.span
        settings = self.active.settings
        log = self.log
        red = settings.redact if settings.capture_content else None
        if self._input is not None:
            span.set_attribute(A.GEN_AI_INPUT_MESSAGES, input_messages(self._input, red))
        log.classify_all()
        times, kinds, texts = log.times, log.kinds, log.texts
        sizes = list(map(len, texts))
        facts = self._facts
        facts.update(log.learned)
        if "output_tokens" not in facts.usage:
            facts.usage["output_tokens"], facts.usage_source = output_tokens(
                kinds, texts, sizes, settings.count_tokens
            )
        r = rollups.compute(
            self.start_perf_ns,
            times,
            kinds,
            first_byte_ns=self._first_byte_ns,
            stall_threshold=settings.stall_threshold,
            output_tokens=facts.usage["output_tokens"],
        )
        pieces, output = (
            self._output(texts, kinds, settings.chunk_spans) if settings.capture_content else (None, None)
        )
        dropped = self._emit_chunk_spans(sizes, pieces) if times and settings.chunk_spans else None
        err_type, error = error_type(outcome, error)
        if err_type is not None:
            mark_error(span, error, fallback=err_type, capture_content=settings.capture_content, redact=red)
        span.set_attributes(
            stream_attributes(
                outcome,
                r,
                facts,
                output=output,
                late=self._late_attributes,
                chunk_spans_dropped=dropped,
                error=err_type,
            )
        )
        if times and not settings.chunk_spans:
            set_valid_attributes(span, chunk_arrays(self.start_perf_ns, times, sizes, kinds))

    def _output(
        self, texts: Sequence[str], kinds: Sequence[int], chunk_spans: bool
    ) -> tuple[list[str] | None, str]:
        """The captured output (redacted as one text with a redactor) and, when chunk spans are redacted too, the
        redacted text of every chunk (a secret split across chunks is caught)."""
        red = self.active.settings.redact
        only_content = kinds.count(CONTENT) == len(kinds)  # the usual stream: no pass to pick the content out
        text = "".join(texts) if only_content else "".join(compress(texts, map(eq, kinds, repeat(CONTENT))))
        if red is None:
            return None, text
        if texts and chunk_spans:
            pieces, whole, redacted = redact_fragments(red, texts)
            return pieces, redacted if text == whole else red(text)
        return None, red(text)

    def _emit_chunk_spans(self, sizes: Sequence[int], pieces: Sequence[str] | None = None) -> int:
        """Hand the chunks not exported while the stream ran to the exporter; the number dropped. ``pieces`` are
        the redacted texts of all the stream's chunks (None: not redacted)."""
        log = self.log
        first, n = log.exported, len(log.times)
        if first >= n:
            return 0
        batch = self._batch(first, n, sizes[first:n], texts=None if pieces is None else pieces[first:n])
        log.exported = n
        return self._lifecycle.export(batch, self.span)


class _NoopRecorder(StreamRecorder):
    """Returned when the stream is not sampled or tracing could not start: every method does nothing, except
    that it remembers whether a chunk came (:attr:`recorded` is 0 or 1: an LLM run's offer to its own client
    request ends with its first chunk, sampled or not; see :mod:`streamscope.tracing.ownership`)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        active = state.current()
        super().__init__(
            LazySpan(trace.INVALID_SPAN),
            active,
            TracerLifecycle(active.tracer),
            start_perf_ns=_perf(),
            start_wall_ns=time.time_ns(),
        )
        self.seen = 0

    def chunk(self, kind: int, text: str = "") -> None:
        self.seen = 1

    def raw(self, obj: Any) -> None:
        self.seen = 1

    @property
    def recorded(self) -> int:
        return self.seen

    def chunk_columns(self) -> tuple[list[int], list[Any]] | None:
        return None

    def end(
        self,
        outcome: str = "completed",
        error: BaseException | None = None,
        usage: Mapping[str, Any] | None = None,
    ) -> None:
        self._ended = True


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
    dicts, recorded as ``gen_ai.input.messages`` when content capture is on (encoded, and redacted, when the stream
    finishes, on the export thread).

    With our pipeline and a sampling decision known in advance (everything sampled, and the parent, if any,
    sampled), the span is started on the export thread, with the stream's start time, its attributes and the
    ``streamscope.context`` values of this moment: the caller only captures what the span needs. Whatever needs
    the span before (:attr:`StreamRecorder.span`) starts it on its own thread. Otherwise (sampling by ratio, a
    synchronous pipeline, a provider that is not ours) the span starts here, as it always did.
    """
    try:
        active = state.current()
        start_wall = time.time_ns()
        start_perf = _perf()
        pending: list[tuple[str, Any]] | None = None
        if input_messages is not None and active.settings.capture_content:
            # encoded (and redacted) when the stream finishes, on the export thread: a long prompt's JSON is not
            # the caller's cost
            pending = [(str(m.get("role", "user")), jsonable(m.get("content"))) for m in input_messages]
        span_name = name or llm_span_name(operation, model)
        params = dict(request_params) if request_params else None
        extra = dict(attributes) if attributes else None
        pipeline = active.pipeline
        lifecycle: SpanLifecycle
        if pipeline is not None and active.resource is not None:
            lifecycle = PipelineLifecycle(pipeline, active.resource)
        else:
            lifecycle = TracerLifecycle(active.tracer)
        if parent is None:
            parent = otel_context.get_current()

        def begin() -> Span:
            attrs = start_attributes(
                operation=operation,
                model=model,
                provider=provider,
                stream=stream,
                request_params=params,
                server_address=server_address,
                server_port=server_port,
                run_id=run_id,
            )
            if extra:
                attrs.update(extra)
            live = {
                A.LIVE_OPERATION: attrs[A.GEN_AI_OPERATION_NAME],
                A.LIVE_PROVIDER: attrs[A.GEN_AI_PROVIDER_NAME],
            }
            if A.GEN_AI_REQUEST_MODEL in attrs:
                live[A.LIVE_REQUEST_MODEL] = attrs[A.GEN_AI_REQUEST_MODEL]
            rec._live_attributes = live
            if deferred:
                # started away from the consumer's context: the context values of the stream's start, not of
                # whichever context this runs in (the context processor then finds none to add)
                attrs.update(rec.context_attributes)
                return contextvars.Context().run(
                    active.tracer.start_span,
                    span_name,
                    context=parent,
                    kind=SpanKind.CLIENT,
                    attributes=attrs,
                    start_time=start_wall,
                )
            return active.tracer.start_span(
                span_name, context=parent, kind=SpanKind.CLIENT, attributes=attrs, start_time=start_wall
            )

        deferred = (
            active.defer_start and pipeline is not None and not pipeline.synchronous and _sampled(parent)
        )
        rec = StreamRecorder(
            LazySpan(start=begin),
            active,
            lifecycle,
            start_perf_ns=start_perf,
            start_wall_ns=start_wall,
            classify=classify,
        )
        rec._input = pending
        if deferred and lifecycle.defer(rec._started_later, 0, soon=True):
            return rec
        deferred = False
        if not rec.span.is_recording():
            return _NoopRecorder()
        rec._watch()
        return rec
    except Exception as exc:
        report("start_stream", exc)
        return _NoopRecorder()


def _sampled(parent: otel_context.Context) -> bool:
    """Whether a span under ``parent`` is sampled by our sampler when everything is sampled (parent-based: a
    root span is, a child follows its parent)."""
    ctx = trace.get_current_span(parent).get_span_context()
    return not ctx.is_valid or bool(ctx.trace_flags.sampled)
