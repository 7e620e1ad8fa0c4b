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

Per chunk the consumer's thread only appends ``perf_counter_ns()`` to :attr:`StreamRecorder.arrived` and then
the chunk's payload to :attr:`StreamRecorder.payloads`: the text itself for a content chunk, a ``(kind, text)`` or
``(RAW, obj)`` pair for anything else (:meth:`StreamRecorder.chunk_columns`). No span, lock or dict is touched,
and a text chunk allocates no object that the garbage collector tracks (a tuple per chunk sets off a collection
every few hundred chunks, on the consumer's thread). While the stream runs, the export thread of our pipeline
periodically (``live_interval``, default 1 s) classifies the chunks recorded so far and exports them as chunk
spans (:meth:`live_batch`); the first chunk span of each such slice carries the in-flight signal
(``streamscope.live.*``: operation, request model, provider) so a collector can show the stream before its span
arrives. At ``end`` the rollups are computed in one pass over all chunks, the LLM span gets its attributes and
ends, and the chunks not exported yet are handed to the export pipeline as one :class:`ChunkBatch` that the
background thread encodes. Every chunk span is exported exactly once, with the same ids and attributes whichever
way it leaves. Nothing here raises into the caller: failures are logged once and counted.

With a redactor (``Settings.redact``, from ``init(redact=...)``) and content capture, the prompt messages, output,
partial output, chunk texts (joined, redacted as one text and split back: :func:`.redaction.redact_fragments`) and a
failed stream's exception are redacted in ``_finish``, off the consumer's thread; such a stream is not watched for
live export, so its chunk spans all leave at the end. Without one, nothing here changes.

Threads: the consumer appends records (a record is complete once its payload is appended, its time having been
appended just before, so ``len(payloads)`` records can always be read); classification and the hand-out of chunks
to the exporter happen under the recorder's work lock, on the export thread (or, when ending could not be
deferred, on the thread that ends the stream). ``classify`` reports what it learns to a separate
:class:`StreamFacts`, applied after the adapter's own reports when the stream finishes, so the span's attributes
do not depend on when chunks were classified.

Chunk kinds are small ints: ``ROLE`` (role-only delta, no text), ``CONTENT`` (non-empty visible text),
``REASONING``, ``TOOL_CALL`` (a tool-call name or argument fragment), ``USAGE`` (token counts only),
``EMPTY`` (keep-alives, finish-reason-only deltas). ``classify`` functions map a raw chunk to
``(kind, text)`` and may call ``set_usage`` / ``set_response`` on the :class:`StreamFacts` they are given.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress, repeat
from operator import eq, is_, mul, sub
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A
from streamscope.tracing import rollups, state
from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.context import current_attributes
from streamscope.tracing.errors import mark_error
from streamscope.tracing.facts import (
    Classifier,
    StreamFacts,
    count_tokens,
    input_messages,
    jsonable,
    set_valid_attributes,
)
from streamscope.tracing.guard import report
from streamscope.tracing.redaction import redact_fragments
from streamscope.tracing.request import llm_span_name, start_attributes
from streamscope.tracing.rollups import CONTENT, EMPTY, KIND_NAMES, REASONING, ROLE, TOOL_CALL, USAGE

__all__ = [
    "CONTENT", "EMPTY", "KIND_NAMES", "OUTCOMES", "RAW", "REASONING", "ROLE", "TOOL_CALL", "USAGE",
    "Classifier", "StreamFacts", "StreamRecorder", "start_stream",
]

OUTCOMES = ("completed", "abandoned", "cancelled", "error", "timeout")
RAW = _RAW = -1  # the kind of a record whose payload ``classify`` turns into (kind, text) later
_perf = time.perf_counter_ns


class StreamRecorder:
    """Records one stream (see the module docstring). Create it with :func:`start_stream`."""

    __slots__ = (
        "_classify",
        "_ended",
        "_exported",
        "_facts",
        "_finished",
        "_first_byte_ns",
        "_input",
        "_kinds",
        "_late_attributes",
        "_learned",
        "_live_attributes",
        "_live_off",
        "_lock",
        "_span",
        "_start",
        "_start_lock",
        "_texts",
        "_times",
        "_watched",
        "_work",
        "active",
        "arrived",
        "context_attributes",
        "payloads",
        "start_perf_ns",
        "start_wall_ns",
    )

    def __init__(self, span: Span | None, active: state.Active, *, start_perf_ns: int, start_wall_ns: int,
                 classify: Classifier | None = None,
                 live_attributes: Mapping[str, AttributeValue] | None = None,
                 start: Callable[[StreamRecorder], Span] | None = None) -> None:
        # The LLM span, or None until ``start`` (given instead) has started it: on the export thread, or on the
        # first thread that needs it (:attr:`span`).
        self._span = span
        self._start = start
        self._start_lock = threading.Lock()
        self._late_attributes: dict[str, AttributeValue] = {}
        self.active = active
        self.start_perf_ns = start_perf_ns
        self.start_wall_ns = start_wall_ns
        # The records, as two columns: when each chunk arrived (perf_counter_ns), and its payload: the text of a
        # content chunk (anything but a tuple), else a (kind, text) or (RAW, obj) pair.
        self.arrived: list[int] = []
        self.payloads: list[Any] = []
        self._classify = classify
        self._ended = False
        self._lock = threading.Lock()  # guards _ended (taken once, by end())
        self._work = threading.Lock()  # one thread at a time classifies and hands chunks to the exporter
        self._first_byte_ns: int | None = None
        self._facts = StreamFacts()  # reported by the adapter
        self._learned = StreamFacts()  # learned by classify from the chunks
        # Classified columns of the first len(_times) records, and how many of them went to the exporter already.
        self._times: list[int] = []
        self._kinds: list[int] = []
        self._texts: list[str] = []
        self._exported = 0
        self._finished = False
        self._live_off = False
        self._live_attributes = dict(live_attributes or {})
        self._watched = False
        self._input: list[tuple[str, Any]] | None = None  # prompt messages to encode (redacted) when finishing
        self.context_attributes = current_attributes()  # for chunk spans, built later on another thread

    # -- the span --------------------------------------------------------------------------------------

    @property
    def span(self) -> Span:
        """The stream's LLM span, started now if it was not yet (see :func:`start_stream`)."""
        span = self._span
        return span if span is not None else self._start_now()

    def _start_now(self) -> Span:
        with self._start_lock:
            span = self._span
            if span is None:
                start, self._start = self._start, None
                try:
                    span = start(self) if start is not None else trace.INVALID_SPAN
                except Exception as exc:
                    report("start_stream(span)", exc)
                    span = trace.INVALID_SPAN
                self._span = span
            return span

    def _started_later(self) -> None:
        """The deferred start, on the export thread: start the span and watch the stream for live export."""
        self._start_now()
        with self._work:
            if not self._finished:
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
        self.payloads.append((_RAW, obj))

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

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                  source: str = "provider") -> None:
        """Token usage (latest report wins per field). ``source``: provider | tokenizer | estimate."""
        self._facts.set_usage(input_tokens, output_tokens, source)

    def set_response(self, *, response_id: str | None = None, response_model: str | None = None,
                     finish_reasons: Iterable[str] | None = None) -> None:
        self._facts.set_response(response_id=response_id, response_model=response_model,
                                 finish_reasons=finish_reasons)

    # -- in flight (export thread) -------------------------------------------------------------------------

    def _watch(self) -> None:
        """Ask our pipeline to export this stream's chunks while it runs (chunk spans on, live export on).

        Not when chunk text is captured and redacted: a secret split across two live slices could not be caught,
        so such a stream's chunk spans leave when it ends, redacted as one text."""
        pipeline = self.active.pipeline
        settings = self.active.settings
        if (pipeline is not None and self.active.resource is not None and settings.chunk_spans
                and (settings.redact is None or not settings.capture_content) and self.span.is_recording()):
            self._watched = pipeline.watch(self)

    def _classify_upto(self, n: int) -> None:
        """Classify records ``len(_times)`` to ``n`` into the columns. Callers hold ``_work``.

        The consumer keeps appending meanwhile; slicing a list is atomic, and only records that were complete
        (payload appended) when this started are read. If ``classify`` raises, the records before it stay
        classified.
        """
        done = len(self._times)
        if done >= n:
            return
        times = self.arrived[done:n]
        texts = self.payloads[done:n]
        kinds = [CONTENT] * len(texts)
        types = list(map(type, texts))
        if tuple in types:
            classify = self._classify
            learned = self._learned
            for i in compress(range(len(types)), map(is_, types, repeat(tuple))):
                kind, payload = texts[i]
                if kind == _RAW:
                    try:
                        if classify is None:
                            kind, payload = ((CONTENT, payload) if isinstance(payload, str) and payload
                                             else (EMPTY, ""))
                        else:
                            kind, payload = classify(payload, learned)
                    except Exception:
                        self._append_classified(times[:i], kinds[:i], texts[:i])
                        raise
                kinds[i] = kind
                texts[i] = payload
        self._append_classified(times, kinds, texts)

    def _append_classified(self, times: Sequence[int], kinds: Sequence[int], texts: Sequence[Any]) -> None:
        self._times.extend(times)
        self._kinds.extend(kinds)
        if set(map(type, texts)) <= {str}:
            self._texts.extend(texts)
        else:
            self._texts.extend(t if isinstance(t, str) else str(t) for t in texts)

    def _batch(self, first: int, n: int, sizes: Sequence[int],
               first_attributes: Mapping[str, AttributeValue] | None = None,
               texts: Sequence[str] | None = None) -> ChunkBatch:
        """Chunk spans ``first..n-1`` of this stream for our pipeline; ``sizes`` are theirs, ``texts`` their
        (redacted) contents, by default the recorded ones when content capture is on."""
        ctx = self.span.get_span_context()
        if texts is None and self.active.settings.capture_content:
            red = self.active.settings.redact
            texts = self._texts[first:n] if red is None else redact_fragments(red, self._texts[first:n])[0]
        return ChunkBatch(
            trace_id=ctx.trace_id, parent_span_id=ctx.span_id, resource=self.active.resource,
            scope=state.SCOPE, start_wall_ns=self.start_wall_ns, start_perf_ns=self.start_perf_ns,
            times_ns=self._times[first:n], kinds=self._kinds[first:n], sizes=sizes, texts=texts,
            extra_attributes=dict(self.context_attributes), first_index=first,
            prev_ns=self._times[first - 1] if first else None, first_attributes=first_attributes or {},
        )

    def live_batch(self) -> ChunkBatch | None:
        """The chunks recorded since the last call, classified, with the in-flight signal on the first one.

        Called periodically by the export thread (never by the consumer's). Every chunk is handed out once:
        here while the stream runs, or by the final batch when it ends. None when there is nothing new.
        """
        with self._work:
            if self._finished or self._live_off:
                return None
            first = self._exported
            n = len(self.payloads)
            if n <= first:
                return None
            try:
                self._classify_upto(n)
            except Exception as exc:
                # Leave the rest to the end of the stream, where the failure is handled as it always was.
                self._live_off = True
                report("StreamRecorder.live_batch", exc)
                return None
            batch = self._batch(first, n, list(map(len, self._texts[first:n])), self._live_attributes)
            self._exported = n
            return batch

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
                    lambda: self._complete(outcome, error, usage, end_perf), len(self.payloads) + 1):
                return
        except Exception as exc:
            report("StreamRecorder.end(defer)", exc)
        self._complete(outcome, error, usage, end_perf)

    def _complete(self, outcome: str, error: BaseException | None, usage: Mapping[str, Any] | None,
                  end_perf: int) -> None:
        try:
            # Normally on the export thread; on the consumer's thread when deferring failed, where the lock
            # keeps a concurrent live export from classifying or handing out the same chunks.
            with self._work:
                self._finished = True
                if not self.span.is_recording():
                    return  # its start failed, or the tracer does not record: nothing to finish
                try:
                    if usage:
                        self.set_usage(usage.get("input_tokens"), usage.get("output_tokens"),
                                       str(usage.get("source", "provider")))
                    self._finish(outcome if outcome in OUTCOMES else "completed", error, end_perf)
                except Exception as exc:
                    report("StreamRecorder.end", exc)
        finally:
            try:
                if self._watched and self.active.pipeline is not None:
                    self.active.pipeline.unwatch(self)
                if self.span.is_recording():
                    self.span.end(end_time=self.start_wall_ns + (end_perf - self.start_perf_ns))
            except Exception as exc:
                report("StreamRecorder.end(span)", exc)

    def _finish(self, outcome: str, error: BaseException | None, end_perf: int) -> None:
        span = self.span
        settings = self.active.settings
        red = settings.redact if settings.capture_content else None
        if self._input is not None:
            span.set_attribute(A.GEN_AI_INPUT_MESSAGES, input_messages(self._input, red))
        self._classify_upto(len(self.payloads))
        times, kinds, texts = self._times, self._kinds, self._texts
        sizes = list(map(len, texts))
        facts = self._facts
        facts.update(self._learned)
        usage = facts.usage

        if "output_tokens" not in usage:
            # nobody counted: the user's tokenizer if there is one, else an estimate from the characters received
            produced = list(map((CONTENT, REASONING, TOOL_CALL).__contains__, kinds))
            counted = count_tokens(settings.count_tokens, texts, produced)
            if counted is not None:
                usage["output_tokens"] = counted
                facts.usage_source = "tokenizer"
            else:
                usage["output_tokens"] = rollups.estimate_tokens(sum(compress(sizes, produced)))
                facts.usage_source = "estimate"
        out_tokens = usage.get("output_tokens")
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
            A.GEN_AI_USAGE_INPUT_TOKENS: usage.get("input_tokens"),
            A.GEN_AI_USAGE_OUTPUT_TOKENS: out_tokens,
            A.USAGE_SOURCE: facts.usage_source if usage else None,
            A.GEN_AI_RESPONSE_ID: facts.response_id,
            A.GEN_AI_RESPONSE_MODEL: facts.response_model,
        }
        attrs.update({k: v for k, v in optional.items() if v is not None})
        attrs.update(self._late_attributes)
        if facts.finish_reasons:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(facts.finish_reasons)

        pieces: list[str] | None = None
        if settings.capture_content:
            text = "".join(compress(texts, map(eq, kinds, repeat(CONTENT))))
            if red is not None:
                # the chunks' texts redacted as one (a secret split across chunks is caught), and the output
                if times and settings.chunk_spans:
                    pieces, whole, redacted = redact_fragments(red, texts)
                    text = redacted if text == whole else red(text)
                else:
                    text = red(text)
            if outcome == "completed":
                message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
                if facts.finish_reasons:
                    message["finish_reason"] = facts.finish_reasons[-1]
                attrs[A.GEN_AI_OUTPUT_MESSAGES] = json.dumps([message], ensure_ascii=False)
            else:
                attrs[A.PARTIAL_OUTPUT] = text

        dropped = 0
        arrays: dict[str, AttributeValue] | None = None
        if times and settings.chunk_spans:
            dropped = self._emit_chunk_spans(sizes, pieces)
            attrs[A.CHUNK_SPANS_DROPPED] = dropped
        elif times:
            start = self.start_perf_ns
            arrays = {
                A.CHUNKS_OFFSET: tuple(map(mul, map(sub, times, repeat(start)), repeat(1e-9))),
                A.CHUNKS_SIZE: tuple(sizes),
                A.CHUNKS_KIND: tuple(map(KIND_NAMES.__getitem__, kinds)),
            }

        if outcome in ("error", "timeout"):
            if error is None or (outcome == "timeout" and isinstance(error, asyncio.CancelledError)):
                # a flow timeout interrupts upstream with a CancelledError: report what happened, a timeout
                err_type = "TimeoutError" if outcome == "timeout" else "_OTHER"
                error = None if outcome == "timeout" else error
            else:
                err_type = type(error).__name__
            attrs[A.ERROR_TYPE] = err_type
            mark_error(span, error, fallback=err_type, capture_content=settings.capture_content, redact=red)
        span.set_attributes(attrs)
        if arrays:
            set_valid_attributes(span, arrays)

    def _emit_chunk_spans(self, sizes: Sequence[int], pieces: Sequence[str] | None = None) -> int:
        """Hand the chunks not exported while the stream ran to the exporter; the number dropped. ``pieces`` are
        the redacted texts of all the stream's chunks (None: not redacted)."""
        pipeline = self.active.pipeline
        n = len(self._times)
        if pipeline is not None and self.active.resource is not None:
            first = self._exported
            if first >= n:
                return 0
            batch = self._batch(first, n, sizes[first:n], texts=None if pieces is None else pieces[first:n])
            self._exported = n
            return 0 if pipeline.submit_chunks(batch) else len(batch)
        # Not our pipeline (a user-configured provider): build ordinary spans through its tracer.
        ctx = self.span.get_span_context()
        parent = trace.set_span_in_context(self.span)
        texts = (pieces if pieces is not None else self._texts) if self.active.settings.capture_content else None
        batch = ChunkBatch(
            trace_id=ctx.trace_id, parent_span_id=ctx.span_id, resource=None, scope=state.SCOPE,
            start_wall_ns=self.start_wall_ns, start_perf_ns=self.start_perf_ns,
            times_ns=self._times, kinds=self._kinds, sizes=sizes, texts=texts,
            extra_attributes=dict(self.context_attributes),
        )
        tracer = self.active.tracer
        for wall, attrs in batch.rows():
            tracer.start_span(A.CHUNK_SPAN_NAME, context=parent, start_time=wall, attributes=attrs).end(end_time=wall)
        self._exported = n
        return 0


class _NoopRecorder(StreamRecorder):
    """Returned when the stream is not sampled or tracing could not start: every method does nothing, except
    that it remembers whether a chunk came (:attr:`recorded` is 0 or 1: an LLM run's offer to its own client
    request ends with its first chunk, sampled or not; see :mod:`streamscope.tracing.ownership`)."""

    __slots__ = ("seen",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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

    def end(self, outcome: str = "completed", error: BaseException | None = None,
            usage: Mapping[str, Any] | None = None) -> None:
        self._ended = True


def _noop() -> StreamRecorder:
    return _NoopRecorder(trace.INVALID_SPAN, state.current(), start_perf_ns=_perf(), start_wall_ns=time.time_ns())


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
        if parent is None:
            parent = otel_context.get_current()

        def begin(rec: StreamRecorder) -> Span:
            attrs = start_attributes(operation=operation, model=model, provider=provider, stream=stream,
                                     request_params=params, server_address=server_address,
                                     server_port=server_port, run_id=run_id)
            if extra:
                attrs.update(extra)
            live = {A.LIVE_OPERATION: attrs[A.GEN_AI_OPERATION_NAME],
                    A.LIVE_PROVIDER: attrs[A.GEN_AI_PROVIDER_NAME]}
            if A.GEN_AI_REQUEST_MODEL in attrs:
                live[A.LIVE_REQUEST_MODEL] = attrs[A.GEN_AI_REQUEST_MODEL]
            rec._live_attributes = live
            if deferred:
                # started away from the consumer's context: the context values of the stream's start, not of
                # whichever context this runs in (the context processor then finds none to add)
                attrs.update(rec.context_attributes)
                return contextvars.Context().run(
                    active.tracer.start_span, span_name, context=parent, kind=SpanKind.CLIENT, attributes=attrs,
                    start_time=start_wall)
            return active.tracer.start_span(span_name, context=parent, kind=SpanKind.CLIENT, attributes=attrs,
                                            start_time=start_wall)

        deferred = (active.defer_start and pipeline is not None and not pipeline.synchronous
                    and _sampled(parent))
        rec = StreamRecorder(None, active, start_perf_ns=start_perf, start_wall_ns=start_wall, classify=classify,
                             start=begin)
        rec._input = pending
        if deferred and pipeline is not None and pipeline.defer(rec._started_later, 0, soon=True):
            return rec
        deferred = False
        if not rec._start_now().is_recording():
            return _noop()
        rec._watch()
        return rec
    except Exception as exc:
        report("start_stream", exc)
        return _noop()


def _sampled(parent: otel_context.Context) -> bool:
    """Whether a span under ``parent`` is sampled by our sampler when everything is sampled (parent-based: a
    root span is, a child follows its parent)."""
    ctx = trace.get_current_span(parent).get_span_context()
    return not ctx.is_valid or bool(ctx.trace_flags.sampled)
