"""Runnables pinned to langchain-core 1.8.3 (issue 20, item 8 and the composition APIs)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from tests.sdk.engine.conftest import Recorder

from streamscope.engine import (
    ConfigurableField,
    FakeListChatModel,
    Runnable,
    RunnableConfig,
    RunnableGenerator,
    RunnableLambda,
    RunnablePassthrough,
    StrOutputParser,
)


def keywords(x: int, **kwargs: Any) -> tuple[int, list[str]]:
    return x, sorted(kwargs)


def test_bind_keywords_reach_a_lambda() -> None:
    assert RunnableLambda(keywords).bind(a=1).invoke(1) == (1, ["a"])
    assert list(RunnableLambda(keywords).bind(a=1).stream(1)) == [(1, ["a"])]
    assert asyncio.run(RunnableLambda(keywords).bind(a=1).ainvoke(1)) == (1, ["a"])


def test_call_keywords_reach_a_lambda() -> None:
    assert RunnableLambda(keywords).invoke(1, b=2) == (1, ["b"])


def test_a_lambda_without_keyword_parameters_rejects_bound_keywords() -> None:
    with pytest.raises(TypeError):
        RunnableLambda(lambda x: x).bind(a=1).invoke(1)


def test_bind_keywords_reach_a_passthrough_function() -> None:
    seen: list[dict[str, Any]] = []
    assert RunnablePassthrough(lambda x, **kw: seen.append(kw)).bind(a=1).invoke(5) == 5
    assert list(RunnablePassthrough(lambda x, **kw: seen.append(kw)).bind(b=2).stream(6)) == [6]
    assert seen == [{"a": 1}, {"b": 2}]


class Sync(Runnable[Any, Any]):
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return "sync"

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return "async"


def test_ainvoke_runs_a_runnable_returned_by_a_sync_lambda_on_the_async_path() -> None:
    assert asyncio.run(RunnableLambda(lambda x: Sync()).ainvoke(1)) == "async"


def test_recursion_limit_is_enforced_on_returned_runnables() -> None:
    def again(x: int) -> Any:
        return RunnableLambda(again)

    with pytest.raises(RecursionError, match="Recursion limit reached when invoking RunnableLambda"):
        RunnableLambda(again).invoke(1, {"recursion_limit": 5})
    with pytest.raises(RecursionError, match="Recursion limit reached"):
        list(RunnableLambda(again).stream(1, {"recursion_limit": 3}))


def test_the_config_a_bound_runnable_gets_is_normalised() -> None:
    class Keys(Runnable[Any, Any]):
        def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
            return sorted(config or {})

    assert Keys().with_config(tags=["x"]).invoke(1) == ["configurable", "metadata", "tags"]


def test_map_batches_the_runnable_over_a_list_in_one_run(rec: Recorder) -> None:
    assert RunnableLambda(lambda x: x + 1).map().invoke([1, 2, 3], {"callbacks": [rec]}) == [2, 3, 4]
    starts = [(k["name"], inputs, k["parent_run_id"]) for inputs, k in rec.of("chain_start")]
    assert starts[0][:2] == ("RunnableEach<RunnableLambda>", [1, 2, 3])
    root = rec.of("chain_start")[0][1]["run_id"]
    # the children run on batch threads: any order
    assert sorted(starts[1:]) == [
        ("RunnableLambda", 1, root),
        ("RunnableLambda", 2, root),
        ("RunnableLambda", 3, root),
    ]
    assert asyncio.run(RunnableLambda(lambda x: x * 2).map().ainvoke([1, 2])) == [2, 4]


def test_batch_as_completed_yields_in_completion_order() -> None:
    release = threading.Event()  # input 0 finishes only after the first result reached the caller

    def work(x: int) -> int:
        if x == 0:
            assert release.wait(10)
        return x * 10

    results = RunnableLambda(work).batch_as_completed([0, 1])
    first = next(results)
    release.set()
    assert [first, *results] == [(1, 10), (0, 0)]
    got = list(RunnableLambda(lambda x: 1 // x).batch_as_completed([0, 1], return_exceptions=True))
    assert sorted((i, type(v).__name__) for i, v in got) == [(0, "ZeroDivisionError"), (1, "int")]


def test_abatch_as_completed_yields_in_completion_order() -> None:
    async def run() -> list[tuple[int, int]]:
        second_done = asyncio.Event()

        async def work(x: int) -> int:
            if x == 0:
                await second_done.wait()
            else:
                second_done.set()
            return x * 10

        return [pair async for pair in RunnableLambda(work).abatch_as_completed([0, 1])]

    assert asyncio.run(run()) == [(1, 10), (0, 0)]


class Doubler:
    """A callable object whose ``__call__`` is an async generator over the input chunks."""

    async def __call__(self, chunks: Any) -> Any:
        async for chunk in chunks:
            yield chunk * 2


def test_runnable_generator_over_a_callable_object_with_an_async_generator_call() -> None:
    gen = RunnableGenerator(Doubler())

    async def run() -> list[int]:
        return [c async for c in gen.astream(3)]

    assert asyncio.run(run()) == [6]
    assert asyncio.run(gen.ainvoke(4)) == 8
    assert gen.get_name() == "RunnableGenerator"


def test_listeners_see_the_runnables_own_run() -> None:
    seen: list[Any] = []
    step = RunnableLambda(lambda x: x + 1).with_listeners(
        on_start=lambda run: seen.append(("start", run.name, dict(run.inputs), run.run_type)),
        on_end=lambda run: seen.append(("end", run.inputs, run.outputs, run.error)),
    )
    assert step.invoke(1) == 2
    assert list(step.stream(2)) == [3]
    assert (step | RunnableLambda(lambda x: {"v": x})).invoke(3) == {"v": 4}
    assert seen == [
        ("start", "RunnableLambda", {"input": 1}, "chain"),
        ("end", {"input": 1}, {"output": 2}, None),
        ("start", "RunnableLambda", {"input": ""}, "chain"),
        ("end", {"input": 2}, {"output": 3}, None),
        ("start", "RunnableLambda", {"input": 3}, "chain"),
        ("end", {"input": 3}, {"output": 4}, None),
    ]


def test_an_error_listener_gets_the_formatted_error() -> None:
    errors: list[str] = []
    failing = RunnableLambda(lambda x: 1 // 0).with_listeners(on_error=lambda run: errors.append(run.error))
    with pytest.raises(ZeroDivisionError):
        failing.invoke(1)
    assert len(errors) == 1 and errors[0].startswith("ZeroDivisionError(")


def test_configurable_fields_are_set_per_call() -> None:
    model = FakeListChatModel(responses=["a"]).configurable_fields(responses=ConfigurableField(id="resp"))
    assert model.invoke("x").content == "a"
    assert model.invoke("x", {"configurable": {"resp": ["b"]}}).content == "b"
    assert model.with_config(configurable={"resp": ["c"]}).invoke("x").content == "c"
    assert list((model | StrOutputParser()).stream("x", {"configurable": {"resp": ["de"]}})) == ["d", "e"]
    with pytest.raises(ValueError, match="Configuration key nope not found"):
        FakeListChatModel(responses=["a"]).configurable_fields(nope=ConfigurableField(id="n"))


def test_configurable_alternatives_choose_by_key(rec: Recorder) -> None:
    alt = FakeListChatModel(responses=["default"]).configurable_alternatives(
        ConfigurableField(id="llm"), default_key="fake", other=FakeListChatModel(responses=["other"])
    )
    assert alt.invoke("x").content == "default"
    assert alt.invoke("x", {"configurable": {"llm": "other"}}).content == "other"
    with pytest.raises(ValueError, match="Unknown alternative: nope"):
        alt.invoke("x", {"configurable": {"llm": "nope"}})
    (alt | StrOutputParser()).invoke("x", {"callbacks": [rec], "configurable": {"llm": "other"}})
    assert [k["tags"] for _, k in rec.of("chat_model_start")] == [["seq:step:1"]]  # no run of its own


def test_a_none_chunk_between_message_chunks_folds_as_langchain_does() -> None:
    """langchain-core 1.8.3: the fold of [a, None, b] fails at ``a + None`` (TypeError), restarts from None, and
    ``None + b`` fails too, so the run's output is the last chunk ``b`` (checked against langchain-core itself);
    the stream yields all three as they came."""
    from streamscope.engine.messages import AIMessageChunk

    ends: list[Any] = []

    class Ends(Recorder):
        def on_chain_end(self, outputs: Any, **kw: Any) -> None:
            ends.append(outputs)

    def gen(_: int) -> Any:
        yield AIMessageChunk(content="a", id="1")
        yield None
        yield AIMessageChunk(content="b", id="1")

    run = RunnableLambda(gen)
    out = run.invoke(1, {"callbacks": [Ends()]})
    assert isinstance(out, AIMessageChunk) and out.content == "b"
    streamed = list(run.stream(1, {"callbacks": [Ends()]}))
    assert [getattr(c, "content", c) for c in streamed] == ["a", None, "b"]
    assert [e.content for e in ends] == ["b", "b"]
