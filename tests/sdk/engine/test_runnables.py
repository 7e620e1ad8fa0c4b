"""Streaming core: what streams, what blocks, how chunks combine (reference behaviours 1-11, 15, 27)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamscope.engine import (
    AddableDict,
    ChatPromptTemplate,
    FakeListChatModel,
    Runnable,
    RunnableConfig,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    StrOutputParser,
)


def collect(runnable: Runnable[Any, Any], value: Any, config: RunnableConfig | None = None) -> list[Any]:
    return list(runnable.stream(value, config))


def acollect(runnable: Runnable[Any, Any], value: Any, config: RunnableConfig | None = None) -> list[Any]:
    async def run() -> list[Any]:
        return [c async for c in runnable.astream(value, config)]

    return asyncio.run(run())


class Counting(Runnable[Any, Any]):
    """No native streaming: counts invoke calls."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        self.calls.append(input)
        return f"<{input}>"


def test_non_streaming_runnable_yields_invoke_once() -> None:
    step = Counting()
    assert collect(step, "x") == ["<x>"] == acollect(step, "x")
    assert step.calls == ["x", "x"]


def test_default_transform_folds_addable_dicts_and_keeps_last_plain_dict() -> None:
    step = Counting()
    assert list(step.transform(iter([AddableDict(foo="a"), AddableDict(foo="n")]))) == ["<{'foo': 'an'}>"]
    assert list(step.transform(iter([{"foo": "a"}, {"foo": "n"}]))) == ["<{'foo': 'n'}>"]


def test_empty_input_stream_never_calls_the_step() -> None:
    step = Counting()
    assert list(step.transform(iter([]))) == []
    assert list(StrOutputParser().transform(iter([]))) == []
    assert step.calls == []


def chain() -> RunnableSequence:
    prompt = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")])
    return prompt | FakeListChatModel(responses=["hey you"]) | StrOutputParser()


def test_prompt_model_parser_streams_token_by_token() -> None:
    seq = chain()
    chunks = collect(seq, {"q": "hi"})
    assert chunks == list("hey you")
    assert "".join(chunks) == seq.invoke({"q": "hi"})
    assert collect(seq | RunnablePassthrough(), {"q": "hi"}) == list("hey you")
    assert acollect(seq | RunnablePassthrough(), {"q": "hi"}) == list("hey you")


def test_sequence_accepts_list_and_varargs() -> None:
    a, b = RunnableLambda(lambda x: x + 1), RunnableLambda(lambda x: x * 10)
    assert RunnableSequence([a, b]).invoke(1) == RunnableSequence(a, b).invoke(1) == (a | b).invoke(1) == 20
    assert len(RunnableSequence(a, RunnableSequence(a, b)).steps) == 3
    assert a.pipe(b, b).invoke(1) == 200


def test_plain_lambda_blocks_and_sees_the_aggregate() -> None:
    seen: list[Any] = []

    def upper(text: str) -> str:
        seen.append(text)
        return text.upper()

    seq = chain() | upper
    assert collect(seq, {"q": "hi"}) == ["HEY YOU"]
    assert acollect(seq, {"q": "hi"}) == ["HEY YOU"]
    assert seen == ["hey you", "hey you"]


def test_generator_lambda_emits_each_item_after_aggregating(rec: Any) -> None:
    def words(text: str) -> Iterator[str]:
        yield from text.upper().split()

    seq = chain() | RunnableLambda(words)
    assert collect(seq, {"q": "hi"}, {"callbacks": [rec]}) == ["HEY", "YOU"]
    lam_end = [p for p, k in rec.of("chain_end") if rec.name_of(k["run_id"]) == "words"]
    assert lam_end == ["HEYYOU"]


def test_async_generator_lambda_streams_async() -> None:
    async def agen(x: str) -> AsyncIterator[str]:
        for i in range(3):
            yield f"{x}-{i}"

    assert acollect(RunnableLambda(agen), "x") == ["x-0", "x-1", "x-2"]


def test_sync_generator_lambda_also_streams_under_astream() -> None:
    def gen(x: str) -> Iterator[str]:
        for i in range(3):
            yield f"{x}-{i}"

    assert acollect(RunnableLambda(gen), "x") == collect(RunnableLambda(gen), "x") == ["x-0", "x-1", "x-2"]


def test_iterator_generator_transforms_chunk_by_chunk() -> None:
    pulled: list[int] = []

    def gen_indexes(n: int) -> Iterator[int]:
        for i in range(n):
            pulled.append(i)
            yield i

    def plus_one(items: Iterator[int]) -> Iterator[int]:
        for i in items:
            yield i + 1

    seq = RunnableLambda(gen_indexes) | plus_one
    assert isinstance(seq.steps[1], RunnableGenerator)
    it = seq.stream(3)
    assert next(it) == 1  # lambda aggregates its own input, the generator stage does not buffer
    assert list(it) == [2, 3]

    async def aplus_one(items: AsyncIterator[int]) -> AsyncIterator[int]:
        async for i in items:
            yield i + 1

    assert acollect(RunnableLambda(gen_indexes) | aplus_one, 3) == [1, 2, 3]


def test_generator_without_async_version_says_so() -> None:
    def sync_only(items: Iterator[int]) -> Iterator[int]:
        yield from items

    with pytest.raises(NotImplementedError):
        acollect(RunnableGenerator(sync_only), 1)


def test_lambda_returning_runnable_streams_it(rec: Any) -> None:
    inner = FakeListChatModel(responses=["abc"]) | StrOutputParser()
    lam = RunnableLambda(lambda x: inner)
    assert collect(lam, "q", {"callbacks": [rec]}) == ["a", "b", "c"]
    root_end = rec.of("chain_end")[-1]
    assert root_end[0] == "abc"
    assert acollect(lam, "q") == ["a", "b", "c"]


def test_parallel_streams_single_key_chunks_that_fold_to_invoke() -> None:
    par = RunnableParallel(
        a=FakeListChatModel(responses=["xy"]) | StrOutputParser(),
        b=FakeListChatModel(responses=["pqr"]) | StrOutputParser(),
    )
    for chunks in (collect(par, "go"), acollect(par, "go")):
        assert all(isinstance(c, AddableDict) and len(c) == 1 for c in chunks)
        assert len(chunks) == 5
        total = chunks[0]
        for c in chunks[1:]:
            total = total + c
        assert total == {"a": "xy", "b": "pqr"} == par.invoke("go")
    assert par.get_name() == "RunnableParallel<a,b>"


def test_dict_literal_in_pipeline_is_parallel() -> None:
    seq = RunnableLambda(lambda x: x + 1) | {"double": lambda x: x * 2, "same": RunnablePassthrough()}
    assert seq.invoke(1) == {"double": 4, "same": 2}
    assert asyncio.run(seq.ainvoke(1)) == {"double": 4, "same": 2}


def test_pick_emits_only_that_key() -> None:
    par = RunnableParallel(a=FakeListChatModel(responses=["xy"]) | StrOutputParser(), b=lambda x: "B")
    assert collect(par.pick("a"), "go") == ["x", "y"]
    assert acollect(par.pick("a"), "go") == ["x", "y"]
    assert [c for c in collect(par.pick(["b"]), "go")] == [{"b": "B"}]


def test_assign_streams_passthrough_first_then_assigned_chunks() -> None:
    assign = RunnablePassthrough.assign(
        out=(lambda d: f"q={d['q']}") | FakeListChatModel(responses=["ok"]) | StrOutputParser()
    )
    for chunks in (collect(assign, {"q": 1}), acollect(assign, {"q": 1})):
        assert chunks == [{"q": 1}, {"out": "o"}, {"out": "k"}]
    assert assign.invoke({"q": 1}) == {"q": 1, "out": "ok"}
    assert asyncio.run(assign.ainvoke({"q": 1})) == {"q": 1, "out": "ok"}


def test_sync_and_async_and_transform_agree() -> None:
    seq = chain()
    model = FakeListChatModel(responses=["hey you"])
    parser = StrOutputParser()
    via_transform = list(parser.transform(model.stream("x")))
    assert via_transform == collect(seq, {"q": "x"}) == acollect(seq, {"q": "x"})


def test_invoke_ainvoke_batch_abatch_keep_order() -> None:
    double = RunnableLambda(lambda x: x * 2)
    assert double.batch([1, 2, 3]) == [2, 4, 6]
    assert asyncio.run(double.abatch([1, 2, 3])) == [2, 4, 6]
    assert double.batch([]) == []


def test_batch_return_exceptions() -> None:
    def maybe(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    out = RunnableLambda(maybe).batch([1, 2, 3], return_exceptions=True)
    assert out[0] == 1 and isinstance(out[1], ValueError) and out[2] == 3
    with pytest.raises(ValueError):
        RunnableLambda(maybe).batch([1, 2, 3])


def test_batch_never_exceeds_max_concurrency() -> None:
    lock = threading.Lock()
    active = peak = 0

    def slow(x: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return x

    assert RunnableLambda(slow).batch(list(range(8)), {"max_concurrency": 2}) == list(range(8))
    assert peak == 2


def test_abatch_never_exceeds_max_concurrency() -> None:
    active = peak = 0

    async def slow(x: int) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1
        return x

    assert asyncio.run(RunnableLambda(slow).abatch(list(range(8)), {"max_concurrency": 3})) == list(range(8))
    assert peak == 3


def test_batch_with_one_config_per_input(rec: Any) -> None:
    out = RunnableLambda(lambda x: x).batch([1, 2], [{"tags": ["a"]}, {"tags": ["b"], "callbacks": [rec]}])
    assert out == [1, 2]
    assert [k["tags"] for _, k in rec.of("chain_start")] == [["b"]]
    with pytest.raises(ValueError, match="configs"):
        RunnableLambda(lambda x: x).batch([1, 2], [{}])
