"""Stream-lifecycle conformance: one matrix over every subject (engine, raw openai, LangChain) and every way a
consumer can stop reading a stream.

For each case the same scripted stream is consumed twice, untraced and traced, and the suite checks:

- user-visible behaviour is unchanged (the same items, the same exception type);
- exactly one ended LLM span per stream, whose parent is the application span current where the stream began;
- the outcome (``completed`` | ``abandoned`` | ``cancelled`` | ``error``) and the status (ERROR only for
  ``error``, never OK on error);
- the chunk spans: one per chunk, children of the LLM span, indexed 0..n-1, their content exactly what the user
  received, the role-only first delta not counted as the first token; partial output kept when not completed;
- nothing logged at WARNING or above (no "Failed to detach context", no tracing failure).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

BASIC = "conf-basic"
OTHER = "conf-other"
DROP = "conf-drop"
SLOW = "conf-slow"


@dataclass
class Run:
    """What the application saw: per model, the text of each item it received; the exception it got."""

    texts: dict[str, list[str]] = field(default_factory=dict)
    error: type[BaseException] | None = None
    parents: dict[str, int] = field(default_factory=dict)

    def got(self, model: str, text: str) -> None:
        self.texts.setdefault(model, []).append(text)


@dataclass(frozen=True)
class Case:
    run: Callable[[Any, Any], Any]
    outcome: str
    models: tuple[str, ...] = (BASIC,)
    is_async: bool = False
    #: cancellation: how many items arrive before the cancel lands varies, so only a prefix is compared
    prefix_only: bool = False


def _span_id(span: Any) -> int:
    return int(span.get_span_context().span_id)


# -- sync consumers -----------------------------------------------------------------------------------------


def full(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        for item in subject.stream(BASIC):
            run.got(BASIC, subject.text(item))
    return run


def break_early(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        for item in subject.stream(BASIC):
            run.got(BASIC, subject.text(item))
            if len(run.texts[BASIC]) == 3:
                break
    return run


def with_exit(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        with subject.closing(subject.stream(BASIC)) as stream:
            for item in stream:
                run.got(BASIC, subject.text(item))
                if len(run.texts[BASIC]) == 3:
                    break
    return run


def close_early(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        stream = subject.stream(BASIC)
        run.got(BASIC, subject.text(next(stream)))
        run.got(BASIC, subject.text(next(stream)))
        subject.close(stream)
    return run


def garbage_collected(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        stream = subject.stream(BASIC)
        run.got(BASIC, subject.text(next(stream)))
        run.got(BASIC, subject.text(next(stream)))
        del stream
        gc.collect()
    return run


def producer_error(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[DROP] = _span_id(parent)
        try:
            for item in subject.stream(DROP):
                run.got(DROP, subject.text(item))
        except Exception as exc:
            run.error = type(exc)
    return run


class _AppError(Exception):
    pass


def consumer_error(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        try:
            for item in subject.stream(BASIC):
                run.got(BASIC, subject.text(item))
                if len(run.texts[BASIC]) == 3:
                    raise _AppError("the application gave up")
        except _AppError as exc:
            run.error = type(exc)
    return run


def threads(subject: Any, tracer: Any) -> Run:
    """Two worker threads, each streaming its own model, started with the application's context."""
    run = Run()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def consume(model: str) -> None:
        try:
            texts = [subject.text(item) for item in subject.stream(model)]
            with lock:
                run.texts[model] = texts
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    with tracer.start_as_current_span("app") as parent:
        run.parents = {BASIC: _span_id(parent), OTHER: _span_id(parent)}
        workers = [
            threading.Thread(target=contextvars.copy_context().run, args=(consume, model))
            for model in (BASIC, OTHER)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    if errors:
        raise errors[0]
    return run


# -- async consumers ----------------------------------------------------------------------------------------


async def afull(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        async for item in await subject.open_astream(BASIC):
            run.got(BASIC, subject.text(item))
    return run


async def abreak_early(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        async for item in await subject.open_astream(BASIC):
            run.got(BASIC, subject.text(item))
            if len(run.texts[BASIC]) == 3:
                break
    return run


async def async_with_exit(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        async with subject.aclosing(await subject.open_astream(BASIC)) as stream:
            async for item in stream:
                run.got(BASIC, subject.text(item))
                if len(run.texts[BASIC]) == 3:
                    break
    return run


async def aclose_early(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        stream = await subject.open_astream(BASIC)
        run.got(BASIC, subject.text(await anext(stream)))
        run.got(BASIC, subject.text(await anext(stream)))
        await subject.aclose(stream)
    return run


async def agarbage_collected(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        stream = await subject.open_astream(BASIC)
        run.got(BASIC, subject.text(await anext(stream)))
        run.got(BASIC, subject.text(await anext(stream)))
        del stream
        gc.collect()
    return run


async def aproducer_error(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[DROP] = _span_id(parent)
        try:
            async for item in await subject.open_astream(DROP):
                run.got(DROP, subject.text(item))
        except Exception as exc:
            run.error = type(exc)
    return run


async def aconsumer_error(subject: Any, tracer: Any) -> Run:
    run = Run()
    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        try:
            async for item in await subject.open_astream(BASIC):
                run.got(BASIC, subject.text(item))
                if len(run.texts[BASIC]) == 3:
                    raise _AppError("the application gave up")
        except _AppError as exc:
            run.error = type(exc)
    return run


async def cancelled(subject: Any, tracer: Any) -> Run:
    """The consuming task is cancelled while it waits for the next chunk of a slow stream."""
    run = Run()
    arrived = asyncio.Event()

    async def consume() -> None:
        async for item in await subject.open_astream(SLOW):
            run.got(SLOW, subject.text(item))
            if len(run.texts[SLOW]) == 3:
                arrived.set()

    with tracer.start_as_current_span("app") as parent:
        run.parents[SLOW] = _span_id(parent)
        task = asyncio.ensure_future(consume())
        await arrived.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as exc:
            run.error = type(exc)
    return run


async def nested_async_generators(subject: Any, tracer: Any) -> Run:
    """The stream is consumed through two layers of the application's own async generators; the outer consumer
    breaks, and the event loop closes the layers one after the other (in other tasks' contexts)."""
    run = Run()

    async def inner() -> Any:
        async for item in await subject.open_astream(BASIC):
            yield subject.text(item)

    async def outer() -> Any:
        async for text in inner():
            yield text

    with tracer.start_as_current_span("app") as parent:
        run.parents[BASIC] = _span_id(parent)
        async for text in outer():
            run.got(BASIC, text)
            if len(run.texts[BASIC]) == 3:
                break
    return run


async def two_concurrent_streams(subject: Any, tracer: Any) -> Run:
    """Two tasks stream at the same time, each under its own application span."""
    run = Run()

    async def consume(model: str) -> None:
        with tracer.start_as_current_span(f"app {model}") as parent:
            run.parents[model] = _span_id(parent)
            texts = []
            async for item in await subject.open_astream(model):
                texts.append(subject.text(item))
            run.texts[model] = texts

    await asyncio.gather(consume(BASIC), consume(OTHER))
    return run


CASES: dict[str, Case] = {
    "full_iteration": Case(full, "completed"),
    "break": Case(break_early, "abandoned"),
    "with_exit": Case(with_exit, "abandoned"),
    "close": Case(close_early, "abandoned"),
    "garbage_collection": Case(garbage_collected, "abandoned"),
    "producer_error": Case(producer_error, "error", models=(DROP,)),
    "consumer_error": Case(consumer_error, "abandoned"),
    "threads": Case(threads, "completed", models=(BASIC, OTHER)),
    "async_full_iteration": Case(afull, "completed", is_async=True),
    "async_break": Case(abreak_early, "abandoned", is_async=True),
    "async_with_exit": Case(async_with_exit, "abandoned", is_async=True),
    "aclose": Case(aclose_early, "abandoned", is_async=True),
    "async_garbage_collection": Case(agarbage_collected, "abandoned", is_async=True),
    "async_producer_error": Case(aproducer_error, "error", models=(DROP,), is_async=True),
    "async_consumer_error": Case(aconsumer_error, "abandoned", is_async=True),
    "cancellation": Case(cancelled, "cancelled", models=(SLOW,), is_async=True, prefix_only=True),
    "nested_async_generators": Case(nested_async_generators, "abandoned", is_async=True),
    "two_concurrent_streams": Case(two_concurrent_streams, "completed", models=(BASIC, OTHER), is_async=True),
}


def _execute(case: Case, subject: Any, tracer: Any, spans: Any) -> Run:
    if not case.is_async:
        return case.run(subject, tracer)  # type: ignore[no-any-return]

    async def main() -> Run:
        await subject.astart()
        try:
            run: Run = await case.run(subject, tracer)
            # Let the loop close abandoned async generators (it does so in tasks of its own). A traced run
            # waits (boundedly) for its spans; the untraced one just gives the loop a few turns.
            for turn in range(200 if subject.traced else 5):
                if subject.traced and len(spans.llm_spans()) >= len(case.models):
                    break
                await asyncio.sleep(0.001 if turn < 20 else 0.01)
            return run
        finally:
            await subject.astop()

    return asyncio.run(main())


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.mark.parametrize("case_name", list(CASES))
def test_stream_lifecycle(
    subject_name: str,
    case_name: str,
    make_subject: Callable[[str, bool], Any],
    spans: Any,
    parent_tracer: Any,
    scenarios: dict[str, dict[str, Any]],
    clean_logs: None,
) -> None:
    case = CASES[case_name]

    untraced = _execute(case, make_subject(subject_name, False), parent_tracer, spans)
    assert spans.llm_spans() == [], "an untraced run must not produce LLM spans"
    spans.clear()

    traced = _execute(case, make_subject(subject_name, True), parent_tracer, spans)

    # user-visible behaviour unchanged
    assert traced.error is untraced.error
    if case.prefix_only:
        for model in case.models:
            got, plain = traced.texts.get(model, []), untraced.texts[model]
            # either run may see an item more before its cancel lands; both see the same items up to there
            n = min(len(got), len(plain))
            assert n >= 3 and got[:n] == plain[:n], (got, plain)
    else:
        assert traced.texts == untraced.texts

    # exactly one ended LLM span per stream, with the right parent, outcome and status
    llm_spans = spans.llm_spans()
    assert sorted(_attrs(s)["gen_ai.request.model"] for s in llm_spans) == sorted(case.models)
    for llm in llm_spans:
        attrs = _attrs(llm)
        model = attrs["gen_ai.request.model"]
        assert llm.end_time is not None and llm.end_time >= llm.start_time
        assert llm.parent is not None and llm.parent.span_id == traced.parents[model], "wrong parent"
        assert attrs["streamscope.stream.outcome"] == case.outcome
        if case.outcome == "error":
            assert llm.status.status_code is StatusCode.ERROR
            assert attrs.get("error.type")
        else:
            assert llm.status.status_code is not StatusCode.ERROR
            assert "error.type" not in attrs

        # chunk spans: one per chunk, under the LLM span, carrying exactly what the user received
        chunks = spans.chunks_of(llm)
        assert len(chunks) == attrs["streamscope.stream.chunk_count"]
        assert [_attrs(c)["streamscope.chunk.index"] for c in chunks] == list(range(len(chunks)))
        assert all(c.parent is not None and c.parent.span_id == llm.context.span_id for c in chunks)
        assert all(c.context.trace_id == llm.context.trace_id for c in chunks)
        received = "".join(traced.texts.get(model, []))
        content = [_attrs(c) for c in chunks if _attrs(c)["streamscope.chunk.kind"] == "content"]
        assert "".join(c["streamscope.chunk.content"] for c in content) == received
        if chunks:
            assert _attrs(chunks[0])["streamscope.chunk.kind"] != "content", (
                "the role-only delta is not content"
            )
        if content:
            assert attrs["streamscope.stream.time_to_first_token"] == pytest.approx(
                content[0]["streamscope.chunk.offset"]
            )
            assert (
                attrs["streamscope.stream.time_to_first_token"]
                > attrs["streamscope.stream.time_to_first_chunk"]
            )
        else:
            assert "streamscope.stream.time_to_first_token" not in attrs
        if case.outcome == "completed":
            assert received == "".join(scenarios[model]["words"])
        else:
            assert attrs["streamscope.stream.partial_output"] == received
