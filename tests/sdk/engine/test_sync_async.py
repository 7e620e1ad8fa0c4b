"""One loop, two colours: every runnable, model, parser and flow stage gives the same outputs, callbacks and events
on the sync and the async path.

Each case runs ``stream`` vs ``astream``, ``invoke`` vs ``ainvoke``, ``batch`` vs ``abatch`` (one at a time, so the
callback order is defined), and ``astream_events`` vs the same event handler attached to the sync ``stream``; a
consumer that stops after the first chunk (``close()`` / ``aclose()``) is compared too. Outputs, the callbacks of
a recording handler (run ids replaced by their order of appearance) and the events are normalised and compared.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import UUID

import pytest

from streamscope.engine import (
    AIMessageChunk,
    BaseCallbackHandler,
    BaseChatModel,
    ChatGenerationChunk,
    ChatPromptTemplate,
    CommaSeparatedListOutputParser,
    FakeListChatModel,
    FakeListLLM,
    FakeStreamingChatModel,
    FakeStreamingListLLM,
    JsonOutputParser,
    JsonOutputToolsParser,
    MarkdownListOutputParser,
    NumberedListOutputParser,
    PromptTemplate,
    RunnableBranch,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    StrOutputParser,
    XMLOutputParser,
    flow,
)
from streamscope.engine.events import EventStreamHandler

# -- normalising ----------------------------------------------------------------------------------------------


def norm(value: Any) -> Any:
    """Comparable and free of identities: messages as their fields, results as their generations, errors as their
    type and text."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, UUID):
        return "<uuid>"
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if hasattr(value, "generations"):
        return {
            "generations": norm(value.generations),
            "llm_output": norm(getattr(value, "llm_output", None)),
        }
    if hasattr(value, "message") and hasattr(value, "generation_info"):
        return {
            "class": type(value).__name__,
            "message": norm(value.message),
            "info": norm(value.generation_info),
        }
    if hasattr(value, "content") and hasattr(value, "type"):
        fields = (
            "content",
            "name",
            "tool_call_chunks",
            "usage_metadata",
            "additional_kwargs",
            "response_metadata",
            "chunk_position",
        )
        out = {"class": type(value).__name__, **{f: norm(getattr(value, f, None)) for f in fields}}
        out["id"] = "<run id>" if str(getattr(value, "id", "")).startswith("lc_run--") else value.id
        return out
    if hasattr(value, "to_messages"):
        return {"prompt": norm(value.to_messages())}
    if hasattr(value, "text") and hasattr(value, "generation_info"):
        return {"class": type(value).__name__, "text": value.text, "info": norm(value.generation_info)}
    return {"object": type(value).__name__}


class Recorder(BaseCallbackHandler):
    """Every callback, with its run and parent as their order of appearance (ids differ between runs)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.ids: dict[Any, int] = {}
        self.starts: dict[Any, tuple[Any, str]] = {}
        self.runs: dict[Any, list[Any]] = {}

    def _id(self, run_id: Any) -> int | None:
        return None if run_id is None else self.ids.setdefault(run_id, len(self.ids))

    def _add(self, event: str, payload: Any, kw: dict[str, Any]) -> None:
        extra = {k: norm(v) for k, v in kw.items() if k not in ("run_id", "parent_run_id", "serialized")}
        self.seen.append(
            [event, self._id(kw.get("run_id")), self._id(kw.get("parent_run_id")), norm(payload), extra]
        )
        if event.endswith("_start"):
            self.starts[kw["run_id"]] = (
                kw.get("parent_run_id"),
                f"{kw.get('name')}{sorted(kw.get('tags') or [])}",
            )
        self.runs.setdefault(kw.get("run_id"), []).append(self.seen[-1][:1] + self.seen[-1][3:])

    def by_run(self) -> dict[str, list[Any]]:
        """Each run's callbacks in order, keyed by the run's path from its root (names and tags): what concurrent
        steps must agree on, whatever the interleaving between runs."""

        def path(run_id: Any) -> str:
            if run_id not in self.starts:
                return "?"
            parent, name = self.starts[run_id]
            return name if parent is None else f"{path(parent)} > {name}"

        out: dict[str, list[Any]] = {}
        for run_id, seen in self.runs.items():
            out.setdefault(path(run_id), []).append(seen)
        return {k: sorted(v, key=repr) for k, v in out.items()}

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self._add("chain_start", inputs, kw)

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self._add("chain_end", outputs, kw)

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        self._add("chain_error", error, kw)

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self._add("chat_model_start", messages, kw)

    def on_llm_start(self, serialized: Any, prompts: Any, **kw: Any) -> None:
        self._add("llm_start", prompts, kw)

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self._add("new_token", token, kw)

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self._add("llm_end", response, kw)

    def on_llm_error(self, error: BaseException, **kw: Any) -> None:
        self._add("llm_error", error, kw)

    def on_retry(self, retry_state: Any, **kw: Any) -> None:
        self._add("retry", None, {})

    def on_custom_event(self, name: str, data: Any, **kw: Any) -> None:
        self._add("custom_event", (name, data), kw)


# -- the cases ------------------------------------------------------------------------------------------------


class TwoChunks(BaseChatModel):
    """A custom model with only ``_stream`` (the async path runs it on a worker thread)."""

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Iterator[Any]:
        yield ChatGenerationChunk(AIMessageChunk(""))
        yield ChatGenerationChunk(AIMessageChunk("a"))
        yield ChatGenerationChunk(AIMessageChunk("b", id="chatcmpl-1"))
        yield ChatGenerationChunk(
            AIMessageChunk("c", additional_kwargs={"reasoning_content": "r"}), {"finish_reason": "stop"}
        )


class BothWays(TwoChunks):
    """A custom model with its own ``_astream`` too."""

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[Any]:
        for chunk in self._stream(messages):
            yield chunk


def _gen(chunks: Iterator[Any]) -> Iterator[Any]:
    for chunk in chunks:
        yield str(chunk).upper()


async def _agen(chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for chunk in chunks:
        yield str(chunk).upper()


def _explode(x: Any) -> Any:
    raise ValueError(f"bad input {x!r}")


def _model(**kw: Any) -> FakeStreamingChatModel:
    return FakeStreamingChatModel(chunks=["Hel", "lo", " wor", "ld"], **kw)


CASES: dict[str, tuple[Callable[[], Any], Any]] = {
    # models
    "fake list chat model": (lambda: FakeListChatModel(responses=["hey you"]), "q"),
    "fake streaming chat model": (lambda: _model(usage={"input_tokens": 2, "output_tokens": 4}), "q"),
    "fake streaming tool calls": (
        lambda: FakeStreamingChatModel(chunks=["a"], tool_calls=[{"name": "f", "args": {"x": 1}}]),
        "q",
    ),
    "fake streaming error": (lambda: FakeStreamingChatModel(chunks=["a", "b", "c"], error_at=2), "q"),
    "custom model, sync only": (lambda: TwoChunks(streaming=True), "q"),
    "custom model, both ways": (lambda: BothWays(streaming=True), "q"),
    "text llm": (lambda: FakeListLLM(responses=["one two"]), "q"),
    "streaming text llm": (lambda: FakeStreamingListLLM(responses=["abc"]), "q"),
    # prompts and parsers
    "prompt": (lambda: PromptTemplate.from_template("say {x}"), {"x": "hi"}),
    "chat prompt | model | str": (
        lambda: ChatPromptTemplate.from_messages([("human", "{q}")]) | _model() | StrOutputParser(),
        {"q": "hi"},
    ),
    "json parser": (
        lambda: FakeStreamingChatModel(chunks=['{"a": [1', ', 2], "b"', ': "x"}']) | JsonOutputParser(),
        "q",
    ),
    "comma list parser": (
        lambda: FakeStreamingChatModel(chunks=["a, b", ", c"]) | CommaSeparatedListOutputParser(),
        "q",
    ),
    "numbered list parser": (
        lambda: FakeStreamingChatModel(chunks=["1. a\n2.", " b\n"]) | NumberedListOutputParser(),
        "q",
    ),
    "markdown list parser": (
        lambda: FakeStreamingChatModel(chunks=["- a\n- ", "b\n"]) | MarkdownListOutputParser(),
        "q",
    ),
    "xml parser": (lambda: FakeStreamingChatModel(chunks=["<a><b>x", "</b></a>"]) | XMLOutputParser(), "q"),
    "tool parser": (
        lambda: (
            FakeStreamingChatModel(chunks=[""], tool_calls=[{"name": "f", "args": {"x": 1}}])
            | JsonOutputToolsParser()
        ),
        "q",
    ),
    # runnables
    "lambda": (lambda: RunnableLambda(lambda x: x * 2), 3),
    "lambda error": (lambda: RunnableLambda(_explode), 3),
    "generator": (lambda: RunnableGenerator(_gen, _agen), "abc"),
    "sequence of lambdas and a generator": (
        lambda: (
            RunnableLambda(lambda x: x + "!")
            | RunnableGenerator(_gen, _agen)
            | RunnableLambda(lambda s: s + "?")
        ),
        "ab",
    ),
    "passthrough assign": (lambda: RunnablePassthrough.assign(n=lambda d: len(d["s"])), {"s": "abc"}),
    "parallel": (
        lambda: RunnableParallel(up=RunnableLambda(str.upper), model=_model() | StrOutputParser()),
        "q",
    ),
    "pick": (lambda: RunnablePassthrough.assign(n=lambda d: 1) | RunnablePick("n"), {"s": "x"}),
    "branch": (
        lambda: RunnableBranch((lambda x: x > 1, RunnableLambda(lambda x: "big")), RunnableLambda(str)),
        3,
    ),
    "retry": (
        lambda: RunnableLambda(_flaky()).with_retry(stop_after_attempt=3, wait_exponential_jitter=False),
        1,
    ),
    "fallbacks": (lambda: RunnableLambda(_explode).with_fallbacks([RunnableLambda(lambda x: "saved")]), 1),
    "with config": (lambda: _model().with_config(tags=["t"], run_name="named") | StrOutputParser(), "q"),
    "bind": (lambda: _model().bind(stop=["x"]) | StrOutputParser(), "q"),
    # flow stages inside a pipeline
    "rechunk": (lambda: _model() | flow.rechunk(chunk_size=3) | StrOutputParser(), "q"),
    "buffer": (lambda: _model() | flow.buffer(4) | StrOutputParser(), "q"),
    "rate limit": (lambda: _model() | flow.rate_limit(10_000) | StrOutputParser(), "q"),
    "timeout": (lambda: _model() | flow.timeout(per_chunk=30, total=60) | StrOutputParser(), "q"),
    "detect stalls": (lambda: _model() | flow.detect_stalls(threshold=30) | StrOutputParser(), "q"),
    "guard": (lambda: _model() | flow.guard() | StrOutputParser(), "q"),
}


def _flaky() -> Callable[[Any], Any]:
    calls = itertools.count()

    def flaky(x: Any) -> Any:
        if next(calls) % 2 == 0:
            raise RuntimeError("first try fails")
        return x

    return flaky


# -- running both ways ----------------------------------------------------------------------------------------


def _outcome(run: Callable[[], Any]) -> Any:
    try:
        return {"output": norm(run())}
    except Exception as exc:
        return {"raised": norm(exc)}


async def _aoutcome(run: Callable[[], Any]) -> Any:
    try:
        return {"output": norm(await run())}
    except Exception as exc:
        return {"raised": norm(exc)}


def _sync(mode: str, runnable: Any, value: Any) -> Any:
    rec = Recorder()
    config: Any = {"callbacks": [rec]}
    if mode == "stream":
        got = _outcome(lambda: list(runnable.stream(value, config)))
    elif mode == "invoke":
        got = _outcome(lambda: runnable.invoke(value, config))
    elif mode == "batch":
        got = _outcome(lambda: runnable.batch([value, value], {**config, "max_concurrency": 1}))
    elif mode == "first chunk":

        def first() -> Any:
            stream = runnable.stream(value, config)
            try:
                return next(stream)
            finally:
                stream.close()

        got = _outcome(first)
    else:  # events: the event stream's own handler on the sync stream
        events: list[Any] = []
        handler = EventStreamHandler(lambda event, run_type: events.append(event), _ROOT, value)

        def run() -> Any:
            for chunk in runnable.stream(value, {"callbacks": [handler, rec], "run_id": _ROOT}):
                handler.on_root_chunk(chunk)

        got = {**_outcome(run), "events": _events(events)}
    return got, rec


async def _async(mode: str, runnable: Any, value: Any) -> Any:
    rec = Recorder()
    config: Any = {"callbacks": [rec]}
    if mode == "stream":

        async def collect() -> Any:
            return [c async for c in runnable.astream(value, config)]

        got = await _aoutcome(collect)
    elif mode == "invoke":
        got = await _aoutcome(lambda: runnable.ainvoke(value, config))
    elif mode == "batch":
        got = await _aoutcome(lambda: runnable.abatch([value, value], {**config, "max_concurrency": 1}))
    elif mode == "first chunk":

        async def first() -> Any:
            stream = runnable.astream(value, config)
            try:
                return await stream.__anext__()
            finally:
                await stream.aclose()

        got = await _aoutcome(first)
    else:
        events: list[Any] = []

        async def run() -> Any:
            async for event in runnable.astream_events(
                value, {"callbacks": [rec], "run_id": _ROOT}, version="v2"
            ):
                events.append(event)

        got = {**(await _aoutcome(run)), "events": _events(events)}
    return got, rec


_ROOT = UUID(int=1)


def _events(events: list[dict[str, Any]]) -> list[Any]:
    """The events with each run named by its place among its parent's children (not by first appearance, which
    concurrent runs make vary): run ``(name, tags)`` under its ancestors' names, numbered when that repeats."""
    first: dict[str, tuple[Any, ...]] = {}
    for e in events:
        first.setdefault(
            e["run_id"], (*[first.get(p, p) for p in e["parent_ids"]], e["name"], *sorted(e["tags"]))
        )
    ids: dict[str, Any] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for run_id, key in first.items():
        ids[run_id] = (*key, seen.setdefault(key, 0))
        seen[key] += 1

    def idx(run_id: str) -> Any:
        return ids[run_id]

    return [
        [
            e["event"],
            e["name"],
            idx(e["run_id"]),
            [idx(p) for p in e["parent_ids"]],
            sorted(e["tags"]),
            norm(e["data"]),
        ]
        for e in events
    ]


MODES = ["stream", "invoke", "batch", "first chunk", "events"]
#: Cases whose steps run concurrently (parallel branches; a flow stage that reads ahead on a thread or task): the
#: order between their runs' callbacks is not defined, each run's own order is.
#: Cases that differ by design when the consumer stops after the first chunk, as langchain-core 1.8.3's parallel
#: branches do (docs/engine.md, "A consumer that stops early"): the sync path's concurrent work runs on threads,
#: which cannot be interrupted and end their runs normally; the async path's runs in tasks (parallel branches, a
#: flow timeout's reader) are cancelled and end with an error. Compared by
#: ``test_a_consumer_that_stops_early_lets_sync_threads_finish_and_cancels_async_tasks`` instead.
STOPS_CONCURRENT_WORK = {"parallel", "pick", "timeout"}
CONCURRENT = {"parallel", "buffer", "timeout", "detect stalls", "rate limit", "guard", "rechunk"}


@pytest.mark.parametrize(
    ("case", "mode"),
    [
        (case, mode)
        for case in sorted(CASES)
        for mode in MODES
        if not (mode == "first chunk" and case in STOPS_CONCURRENT_WORK)
    ],
)
def test_sync_and_async_give_the_same_outputs_callbacks_and_events(case: str, mode: str) -> None:
    make, value = CASES[case]
    sync, sync_rec = _sync(mode, make(), value)
    asynchronous, async_rec = asyncio.run(_async(mode, make(), value))
    if case in CONCURRENT:  # (the order between concurrent runs' outputs and events is not defined)
        for got in (sync, asynchronous):
            for key in ("events", "output"):
                if isinstance(got.get(key), list):
                    got[key] = sorted(map(repr, got[key]))
    assert sync == asynchronous
    assert sync_rec.by_run() == async_rec.by_run()
    if case not in CONCURRENT:
        assert sync_rec.seen == async_rec.seen


def _ends(rec: Recorder) -> list[tuple[str, int, Any, Any]]:
    """Each run's last callback: (event, run, error payload or None, reason), in order of appearance."""
    last: dict[int, list[Any]] = {}
    for event in rec.seen:
        last[event[1]] = event
    return [
        (e[0], e[1], e[3] if e[0].endswith("_error") else None, e[4].get("reason")) for e in last.values()
    ]


@pytest.mark.parametrize("case", sorted(STOPS_CONCURRENT_WORK))
def test_a_consumer_that_stops_early_lets_sync_threads_finish_and_cancels_async_tasks(case: str) -> None:
    """As langchain-core 1.8.3 (sync: every branch run ends; async: the branches still running are cancelled),
    and the same rule for our timeout stage's reader (a thread in sync, a task in async)."""
    make, value = CASES[case]
    _, sync_rec = _sync("first chunk", make(), value)
    _, async_rec = asyncio.run(_async("first chunk", make(), value))
    sync_ends, async_ends = _ends(sync_rec), _ends(async_rec)
    # sync: every run that started ends with its end callback, none with an error
    assert sync_ends and all(event.endswith("_end") for event, *_ in sync_ends), sync_ends
    assert len(sync_ends) == len(sync_rec.starts)
    # async: the same runs start; those still working in a task end cancelled, the root ends abandoned
    assert len(async_ends) == len(async_rec.starts) == len(sync_rec.starts)
    cancelled = [end for end in async_ends if end[0].endswith("_error")]
    assert cancelled, async_ends
    assert all(
        error == {"error": "CancelledError", "message": ""} and reason == "cancelled"
        for _, _, error, reason in cancelled
    ), cancelled
    root = next(end for end in async_ends if end[1] == 0)
    assert root[0] == "chain_end" and root[3] == "abandoned"
    # and the runs that end normally in async end normally in sync too (no run ends worse in sync)
    assert len(cancelled) < len(async_ends)


def test_abatch_like_batch_raises_only_after_every_input_ran() -> None:
    """A failing input does not leave the others running behind ``abatch``'s back: as ``batch``, every input ends,
    then the first failure (in input order) is raised."""

    async def slow_or_fail(x: int) -> int:
        if x == 0:
            raise ValueError("input 0 fails at once")
        await asyncio.sleep(0.05)
        return x

    def sync_slow_or_fail(x: int) -> int:
        if x == 0:
            raise ValueError("input 0 fails at once")
        return x

    runnable = RunnableLambda(sync_slow_or_fail, afunc=slow_or_fail)
    for use_async in (False, True):
        rec = Recorder()
        with pytest.raises(ValueError, match="input 0"):
            if use_async:
                asyncio.run(runnable.abatch([0, 1], {"callbacks": [rec]}))
            else:
                runnable.batch([0, 1], {"callbacks": [rec]})
        assert sorted(e[0] for e in rec.seen) == ["chain_end", "chain_error", "chain_start", "chain_start"], (
            use_async
        )
    assert asyncio.run(runnable.abatch([0, 1], return_exceptions=True))[1] == 1
