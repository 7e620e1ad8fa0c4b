"""``TracingCallbackHandler``: engine (and LangChain) callbacks to spans.

One span per run, nested after the run tree (``parent_run_id``; a root run nests under the current
OpenTelemetry context, e.g. a ``@streamscope.trace`` function). LLM runs go through the stream recorder
(:mod:`streamscope.tracing.streams`): GenAI inference span, rollups, chunk spans. Tools become
``execute_tool {name}``, agents ``invoke_agent {name}``, every other step an INTERNAL span named after the run
with ``streamscope.run.type``. Every run ends exactly once, with the outcome from the engine's ``reason=``
keyword (or, for LangChain, derived from the exception: ``GeneratorExit`` = abandoned, ``CancelledError`` =
cancelled, ``TimeoutError`` = timeout).

The handler never attaches an OpenTelemetry context (callbacks of one run can fire on different threads and
tasks); parents are looked up by run id. ``on_llm_new_token`` only records ``(token, chunk)`` and the time in
the stream's recorder; chunks are classified later on the export thread. Our engine calls the run's
:meth:`TracingCallbackHandler.token_sink` instead, which appends the same, except that a chunk the engine
hands over as its text alone is recorded as its text. Every method is guarded: tracing failures are logged once and never reach the application.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A
from streamscope.tracing import ownership, state
from streamscope.tracing.decorator import outcome_of
from streamscope.tracing.errors import mark_error
from streamscope.tracing.guard import guarded, report
from streamscope.tracing.reading import ChunkClassifier, message_dict, text_of
from streamscope.tracing.streams import (
    CONTENT,
    EMPTY,
    OUTCOMES,
    RAW,
    TOOL_CALL,
    StreamRecorder,
    start_stream,
)

if TYPE_CHECKING:
    from streamscope.engine.callbacks import TokenSink

_perf = time.perf_counter_ns


def _ignore(*args: Any) -> None:
    return None


class _Sink:
    """A run's :class:`~streamscope.engine.callbacks.TokenSink`: its two functions, bound once per run."""

    __slots__ = ("chunk", "text")

    def __init__(self, chunk: Callable[[Any, Any], None], text: Callable[[str], None]) -> None:
        self.chunk = chunk
        self.text = text


def _text_recorder(arrived: list[int], payloads: list[Any]) -> Callable[[str], None]:
    """The token sink's ``text``: the engine's call for a chunk that is only its text (see the engine's
    ``TokenSink``), recorded as its text: the time (``perf_counter_ns``), then the text. (A C version saved
    about a third of tracing's consumer-path cost on the engine workload, less than the 2x a C accelerator must
    give: docs/performance.md.)"""
    stamp, record = arrived.append, payloads.append

    def text(token: str) -> None:
        stamp(_perf())
        record(token)

    return text


class _Step:
    """A non-LLM run: its span, the context its children use as parent, and the handler that records it."""

    __slots__ = ("ctx", "owner", "span")

    def __init__(self, span: Span, ctx: otel_context.Context, owner: object) -> None:
        self.span = span
        self.ctx = ctx
        self.owner = owner


class _Llm:
    __slots__ = ("classifier", "owner", "rec")

    def __init__(self, rec: StreamRecorder, classifier: ChunkClassifier, owner: object) -> None:
        self.rec = rec
        self.classifier = classifier
        self.owner = owner

    @property
    def ctx(self) -> otel_context.Context:
        """The context a child run of this LLM run starts in (rare: it starts the LLM span if it was not yet)."""
        return otel_trace.set_span_in_context(self.rec.span)


_RUNS: dict[UUID, _Step] = {}
_LLM_RUNS: dict[UUID, _Llm] = {}


def _outcome(reason: Any, error: BaseException | None) -> str:
    if isinstance(reason, str) and reason in OUTCOMES:
        return reason
    return outcome_of(error)


class TracingCallbackHandler:
    """Turns engine / LangChain callbacks into streamscope spans. Installed by ``streamscope.init()``; can
    also be passed per call: ``chain.invoke(x, config={"callbacks": [TracingCallbackHandler()]})``."""

    raise_error = False
    run_inline = True
    ignore_llm = False
    ignore_chat_model = False
    ignore_chain = False
    ignore_agent = False
    ignore_retry = False
    ignore_retriever = False
    ignore_custom_event = False

    def __init__(self) -> None:
        # Shared by every instance: a run seen by two tracing handlers (``init()``'s global one and one passed per
        # call, or two per-call ones) is recorded once, by the first that starts it; parents resolve across both.
        self._steps: dict[UUID, _Step] = _RUNS
        self._llms: dict[UUID, _Llm] = _LLM_RUNS

    # -- helpers -------------------------------------------------------------------------------------------

    def _parent(self, parent_run_id: UUID | None) -> otel_context.Context | None:
        if parent_run_id is not None:
            found = self._steps.get(parent_run_id) or self._llms.get(parent_run_id)
            if found is not None:
                return found.ctx
        return None  # the current context

    def _start_step(
        self,
        name: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        attrs: dict[str, AttributeValue],
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> None:
        found = self._steps.get(run_id)
        if found is not None and found.owner is not self:
            return  # another tracing handler records this run
        attrs[A.RUN_ID] = str(run_id)
        parent = self._parent(parent_run_id)
        span = state.current().tracer.start_span(name, context=parent, kind=kind, attributes=attrs)
        self._steps[run_id] = _Step(span, otel_trace.set_span_in_context(span, parent), self)

    def _end_step(
        self,
        run_id: UUID,
        outcome: str,
        error: BaseException | None = None,
        attrs: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        step = self._steps.get(run_id)
        if step is None or step.owner is not self:
            return
        del self._steps[run_id]
        span = step.span
        try:
            if attrs:
                span.set_attributes(attrs)
            span.set_attribute(A.OUTCOME, outcome)
            if outcome in ("error", "timeout"):
                span.set_attribute(A.ERROR_TYPE, type(error).__name__ if error is not None else outcome)
                settings = state.current().settings
                mark_error(
                    span,
                    error,
                    fallback=outcome,
                    capture_content=settings.capture_content,
                    redact=settings.redact,
                )
        finally:
            span.end()

    @staticmethod
    def _content(value: Any) -> str | None:
        """``value`` as captured text (redacted when a redactor is set), or None when content capture is off."""
        settings = state.current().settings
        if not settings.capture_content:
            return None
        text = value if isinstance(value, str) else str(value)
        red = settings.redact
        return text if red is None else red(text)

    @staticmethod
    def _run_name(serialized: Mapping[str, Any] | None, name: str | None, default: str) -> str:
        if name:
            return str(name)
        if serialized:
            if serialized.get("name"):
                return str(serialized["name"])
            ident = serialized.get("id")
            if isinstance(ident, Sequence) and ident and not isinstance(ident, str):
                return str(ident[-1])
        return default

    # -- LLM runs ------------------------------------------------------------------------------------------

    def _start_llm(
        self,
        operation: str,
        serialized: Mapping[str, Any] | None,
        inputs: list[dict[str, Any]],
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any] | None,
        invocation_params: Mapping[str, Any] | None,
        name: str | None,
    ) -> None:
        found = self._llms.get(run_id)
        if found is not None and found.owner is not self and not found.rec.ended:
            return  # another tracing handler records this run
        params = dict(invocation_params or {})
        meta = metadata or {}
        model = params.get("model") or params.get("model_name") or meta.get("ls_model_name")
        classifier = ChunkClassifier()
        rec = start_stream(
            model=str(model) if model else None,
            provider=str(meta.get("ls_provider")) if meta.get("ls_provider") else None,
            operation=operation,
            stream=bool(params.get("stream")),
            request_params={
                **{
                    k[3:]: v
                    for k, v in meta.items()
                    if k.startswith("ls_") and k not in ("ls_provider", "ls_model_name", "ls_model_type")
                },
                **params,
            },
            input_messages=inputs,
            run_id=run_id,
            parent=self._parent(parent_run_id),
            classify=classifier,
        )
        self._llms[run_id] = _Llm(rec, classifier, self)
        ownership.offer(rec)  # the model's own openai call is this run, not a second stream

    @guarded
    def on_chat_model_start(
        self,
        serialized: Mapping[str, Any] | None,
        messages: Sequence[Sequence[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Any = None,
        metadata: Mapping[str, Any] | None = None,
        invocation_params: Mapping[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        inputs = [message_dict(m) for m in (messages[0] if messages else [])]
        self._start_llm(
            "chat",
            serialized,
            inputs,
            run_id,
            parent_run_id,
            metadata,
            invocation_params or kwargs.get("invocation_params"),
            name,
        )

    @guarded
    def on_llm_start(
        self,
        serialized: Mapping[str, Any] | None,
        prompts: Sequence[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Any = None,
        metadata: Mapping[str, Any] | None = None,
        invocation_params: Mapping[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        inputs = [{"role": "user", "content": str(p)} for p in prompts[:1]]
        self._start_llm(
            "text_completion", serialized, inputs, run_id, parent_run_id, metadata, invocation_params, name
        )

    def on_llm_new_token(self, token: str, *, chunk: Any = None, run_id: UUID, **kwargs: Any) -> None:
        """Hot path: one dict lookup, one clock read, two appends."""
        try:
            llm = self._llms.get(run_id)
            if llm is not None and llm.owner is self:
                llm.rec.raw((token, chunk))
        except Exception as exc:  # pragma: no cover - nothing above can reasonably fail
            report("on_llm_new_token", exc)

    def token_sink(self, run_id: UUID) -> TokenSink | None:
        """The engine's per-run fast path for tokens (instead of :meth:`on_llm_new_token`; see the engine's
        ``TokenSink``): a clock read and two appends. A chunk the engine hands over as its text is recorded as its
        text, so the chunk object is not kept alive until the stream ends (holding every chunk costs the consumer
        more in garbage-collector work); any other chunk is recorded as it came and classified later on the
        export thread."""
        llm = self._llms.get(run_id)
        if llm is None:
            return None
        if llm.owner is not self:
            return _Sink(_ignore, _ignore)
        rec = llm.rec
        columns = rec.chunk_columns()
        if columns is None:  # not sampled: only note that a chunk came
            return _Sink(lambda token, chunk: rec.chunk(EMPTY), lambda text: rec.chunk(EMPTY))
        arrived, payloads = columns
        stamp, record = arrived.append, payloads.append

        def chunk(token: Any, chunk: Any) -> None:
            stamp(_perf())
            record((RAW, (token, chunk)))

        return _Sink(chunk, _text_recorder(arrived, payloads))

    @guarded
    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name == "streamscope.first_byte":
            llm = self._llms.get(run_id)
            if llm is not None and llm.owner is self:
                wall = data.get("time_ns") if isinstance(data, Mapping) else None
                llm.rec.first_byte(int(wall) if wall is not None else None)

    def _llm_facts(self, llm: _Llm, response: Any) -> None:
        """Usage, response model/id and (for non-streamed calls) the output from an ``LLMResult``."""
        rec = llm.rec
        output = getattr(response, "llm_output", None) or {}
        usage = output.get("token_usage") or output.get("usage") or {}
        generations = getattr(response, "generations", None) or []
        first = generations[0][0] if generations and generations[0] else None
        message = getattr(first, "message", None)
        if llm.classifier.output_tokens is None:
            meta_usage = getattr(message, "usage_metadata", None)
            if meta_usage:
                rec.set_usage(meta_usage.get("input_tokens"), meta_usage.get("output_tokens"), "provider")
            elif isinstance(usage, Mapping) and usage:
                rec.set_usage(
                    usage.get("prompt_tokens", usage.get("input_tokens")),
                    usage.get("completion_tokens", usage.get("output_tokens")),
                    "provider",
                )
        if output.get("model_name"):
            rec.set_response(response_model=str(output["model_name"]))
        info = getattr(first, "generation_info", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        if meta.get("model_name"):
            rec.set_response(response_model=str(meta["model_name"]))
        if not rec.recorded and first is not None:
            # not streamed: the whole answer is one chunk that arrived now
            text = getattr(first, "text", None) or text_of(getattr(message, "content", ""))
            finish = info.get("finish_reason") or meta.get("finish_reason")
            if finish:
                rec.set_response(finish_reasons=[str(finish)])
            calls = getattr(message, "tool_calls", None)
            if text:
                rec.chunk(CONTENT, str(text))
            elif calls:
                rec.chunk(
                    TOOL_CALL, "".join(str(c.get("name", "")) + json.dumps(c.get("args", {})) for c in calls)
                )
            else:
                rec.chunk(EMPTY, "")
        elif rec.recorded:
            rec.set_attribute(A.GEN_AI_REQUEST_STREAM, True)

    @guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, reason: str | None = None, **kwargs: Any) -> None:
        llm = self._llms.get(run_id)
        if llm is None or llm.owner is not self:
            return
        del self._llms[run_id]
        try:
            self._llm_facts(llm, response)
        finally:
            llm.rec.end(_outcome(reason, None))

    @guarded
    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        reason: str | None = None,
        response: Any = None,
        **kwargs: Any,
    ) -> None:
        llm = self._llms.get(run_id)
        if llm is None or llm.owner is not self:
            return
        del self._llms[run_id]
        outcome = _outcome(reason, error)
        try:
            if response is not None and llm.rec.recorded:
                self._llm_facts(llm, response)
        finally:
            llm.rec.end(outcome, error if outcome in ("error", "timeout") else None)

    # -- chains, tools, agents, retrievers ---------------------------------------------------------------

    @guarded
    def on_chain_start(
        self,
        serialized: Mapping[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Any = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        run_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        run_name = self._run_name(serialized, name, "chain")
        meta = metadata or {}
        agent_name = meta.get("agent_name")
        if run_type == "agent" or agent_name or run_name == "AgentExecutor":
            agent = str(agent_name or run_name)
            self._start_step(
                f"invoke_agent {agent}",
                run_id,
                parent_run_id,
                {A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_AGENT_NAME: agent, A.RUN_TYPE: "agent"},
            )
            return
        self._start_step(run_name, run_id, parent_run_id, {A.RUN_TYPE: str(run_type or "chain")})

    @guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, reason: str | None = None, **kwargs: Any) -> None:
        self._end_step(run_id, _outcome(reason, None))

    @guarded
    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, reason: str | None = None, **kwargs: Any
    ) -> None:
        self._end_step(run_id, _outcome(reason, error), error)

    @guarded
    def on_tool_start(
        self,
        serialized: Mapping[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Any = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        inputs: Any = None,
        tool_call_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        tool = self._run_name(serialized, name, "tool")
        attrs: dict[str, AttributeValue] = {
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_TOOL_NAME: tool,
            A.RUN_TYPE: "tool",
        }
        if tool_call_id:
            attrs[A.GEN_AI_TOOL_CALL_ID] = str(tool_call_id)
        arguments = self._content(input_str)
        if arguments is not None:
            attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS] = arguments
        self._start_step(f"execute_tool {tool}", run_id, parent_run_id, attrs)

    @guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, reason: str | None = None, **kwargs: Any) -> None:
        attrs: dict[str, AttributeValue] = {}
        result = self._content(getattr(output, "content", output))
        if result is not None:
            attrs[A.GEN_AI_TOOL_CALL_RESULT] = result
        self._end_step(run_id, _outcome(reason, None), attrs=attrs)

    @guarded
    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, reason: str | None = None, **kwargs: Any
    ) -> None:
        self._end_step(run_id, _outcome(reason, error), error)

    @guarded
    def on_retriever_start(
        self,
        serialized: Mapping[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_step(
            self._run_name(serialized, name, "retriever"), run_id, parent_run_id, {A.RUN_TYPE: "retriever"}
        )

    @guarded
    def on_retriever_end(
        self, documents: Any, *, run_id: UUID, reason: str | None = None, **kwargs: Any
    ) -> None:
        self._end_step(run_id, _outcome(reason, None))

    @guarded
    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, reason: str | None = None, **kwargs: Any
    ) -> None:
        self._end_step(run_id, _outcome(reason, error), error)

    @guarded
    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        step = self._steps.get(run_id)
        if step is not None and step.owner is self:
            step.span.add_event("gen_ai.agent.action", {"gen_ai.tool.name": str(getattr(action, "tool", ""))})

    @guarded
    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        step = self._steps.get(run_id)
        if step is not None and step.owner is self:
            step.span.add_event("gen_ai.agent.finish")

    @guarded
    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        step = self._steps.get(run_id)
        if step is not None and step.owner is self:
            attempt = getattr(retry_state, "attempt_number", None)
            step.span.add_event("streamscope.retry", {"attempt": int(attempt)} if attempt is not None else {})

    def on_text(self, text: str, *, run_id: UUID, **kwargs: Any) -> None:
        return None
