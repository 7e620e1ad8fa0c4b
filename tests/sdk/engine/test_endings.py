"""Stream endings: every run ends exactly once, with ``reason=`` (behaviours 16, 19-21, pinned semantics).

completed -> *_end(reason="completed"); consumer break/close -> *_end(partial, reason="abandoned") without
draining upstream; task cancellation -> *_error(CancelledError, reason="cancelled"); exception ->
*_error(exc, reason="error"); TimeoutError -> *_error(exc, reason="timeout").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from streamscope.engine import (
    ChatPromptTemplate,
    FakeListChatModel,
    FakeListChatModelError,
    FakeStreamingChatModel,
    RunnableLambda,
    StrOutputParser,
)

EXPECTED_ORDER = [
    "chain_start",
    "chain_start",
    "chain_end",  # sequence, prompt (blocks), prompt done
    "chat_model_start",
    "new_token",  # the model's first token ...
    "chain_start",  # ... and only then the parser starts
    "new_token",
    "new_token",
    "new_token",
    "llm_end",
    "chain_end",
    "chain_end",
]


def make_chain(model: Any) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")])
    return prompt | model | StrOutputParser()


def assert_each_run_ended_once(rec: Any) -> dict[Any, list[str]]:
    ends = rec.ends()
    assert all(len(v) == 1 for v in ends.values()), ends
    return ends


def test_callback_order_for_prompt_model_parser_sync(rec: Any) -> None:
    chunks = list(make_chain(FakeListChatModel(responses=["abcd"])).stream({"q": "hi"}, {"callbacks": [rec]}))
    assert chunks == list("abcd")
    assert rec.names() == EXPECTED_ORDER
    ends = assert_each_run_ended_once(rec)
    assert {v[0].split(":")[1] for v in ends.values()} == {"completed"}


def test_callback_order_for_prompt_model_parser_async(rec: Any) -> None:
    async def run() -> list[str]:
        chain = make_chain(FakeListChatModel(responses=["abcd"]))
        return [c async for c in chain.astream({"q": "hi"}, {"callbacks": [rec]})]

    assert asyncio.run(run()) == list("abcd")
    assert rec.names() == EXPECTED_ORDER


def test_run_tree_and_deferred_inputs(rec: Any) -> None:
    list(make_chain(FakeListChatModel(responses=["ab"])).stream({"q": "hi"}, {"callbacks": [rec]}))
    starts = [(e, p, k) for e, p, k in rec.events if e.endswith("_start")]
    root = starts[0][2]["run_id"]
    assert starts[0][2]["parent_run_id"] is None
    assert all(k["parent_run_id"] == root for _, _, k in starts[1:])
    assert [k["tags"] for _, _, k in starts[1:]] == [["seq:step:1"], ["seq:step:2"], ["seq:step:3"]]
    assert len({k["run_id"] for _, _, k in starts}) == 4
    parser_start = starts[3]
    assert parser_start[1] == {"input": ""} and parser_start[2]["defers_inputs"] is True
    parser_end = rec.of("chain_end")[1]
    assert parser_end[0] == "ab" and parser_end[1]["inputs"].content == "ab"
    tokens = rec.of("new_token")
    assert [t for t, _ in tokens] == ["a", "b"]
    assert all(type(k["chunk"].message).__name__ == "AIMessageChunk" for _, k in tokens)
    llm_end = rec.of("llm_end")[0][0]
    assert llm_end.generations[0][0].message.content == "ab"


def test_error_mid_stream_keeps_yielded_chunks_and_errors_every_run(rec: Any) -> None:
    chain = make_chain(FakeListChatModel(responses=["abcdef"], error_on_chunk_number=3))
    got: list[str] = []
    with pytest.raises(FakeListChatModelError):
        for chunk in chain.stream({"q": "hi"}, {"callbacks": [rec]}):
            got.append(chunk)
    assert got == ["a", "b", "c"]
    assert rec.names()[-3:] == ["llm_error", "chain_error", "chain_error"]
    assert "llm_end" not in rec.names() and rec.names().count("chain_end") == 1  # only the prompt completed
    error, kwargs = rec.of("llm_error")[0]
    assert isinstance(error, FakeListChatModelError) and kwargs["reason"] == "error"
    assert kwargs["response"].generations[0][0].message.content == "abc"  # the partial generation
    assert_each_run_ended_once(rec)


def test_error_mid_stream_async(rec: Any) -> None:
    async def run() -> list[str]:
        got: list[str] = []
        chain = make_chain(FakeStreamingChatModel(chunks=["a", "b", "c"], error_at=2))
        with pytest.raises(RuntimeError, match="scripted error"):
            async for chunk in chain.astream({"q": "hi"}, {"callbacks": [rec]}):
                got.append(chunk)
        return got

    assert asyncio.run(run()) == ["a", "b"]
    assert rec.names()[-3:] == ["llm_error", "chain_error", "chain_error"]
    assert {v[0] for v in assert_each_run_ended_once(rec).values()} >= {
        "llm_error:error",
        "chain_error:error",
    }


def test_error_in_lambda_records_error_and_reraises_original(rec: Any) -> None:
    class Boom(Exception):
        pass

    def fail(x: Any) -> Any:
        raise Boom("no")

    chain = make_chain(FakeListChatModel(responses=["ab"])) | fail
    with pytest.raises(Boom, match="no"):
        list(chain.stream({"q": "hi"}, {"callbacks": [rec]}))
    errors = rec.of("chain_error")
    assert [type(e) for e, _ in errors] == [Boom, Boom]
    assert [rec.name_of(k["run_id"]) for _, k in errors] == ["fail", "RunnableSequence"]
    assert_each_run_ended_once(rec)


def test_sync_break_abandons_without_draining_upstream(rec: Any) -> None:
    pulled: list[int] = []

    class Tracking(FakeStreamingChatModel):
        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for i, chunk in enumerate(super()._stream(*args, **kwargs)):
                pulled.append(i)
                yield chunk

    chain = make_chain(Tracking(chunks=["a", "b", "c", "d", "e"]))
    for chunk in chain.stream({"q": "hi"}, {"callbacks": [rec]}):
        assert chunk == "a"
        break
    assert pulled == [0]  # nothing after the abandonment point was produced
    ends = assert_each_run_ended_once(rec)
    assert sorted(v[0] for v in ends.values()) == [
        "chain_end:abandoned",
        "chain_end:abandoned",
        "chain_end:completed",
        "llm_end:abandoned",
    ]
    assert rec.names()[-3:] == ["llm_end", "chain_end", "chain_end"]  # inner runs end before outer ones
    assert rec.of("llm_end")[0][0].generations[0][0].message.content == "a"  # partial output kept
    assert rec.of("chain_end")[-1][0] == "a"


def test_explicit_close_is_abandonment(rec: Any) -> None:
    stream = FakeStreamingChatModel(chunks=["a", "b"]).stream("hi", {"callbacks": [rec]})
    assert next(stream).content == "a"
    stream.close()
    assert [v[0] for v in rec.ends().values()] == ["llm_end:abandoned"]


def test_async_aclose_is_abandonment(rec: Any) -> None:
    async def run() -> None:
        chain = make_chain(FakeStreamingChatModel(chunks=["a", "b", "c"]))
        async with contextlib.aclosing(chain.astream({"q": "hi"}, {"callbacks": [rec]})) as stream:
            async for _ in stream:
                break

    asyncio.run(run())
    ends = assert_each_run_ended_once(rec)
    assert sorted(v[0] for v in ends.values()) == [
        "chain_end:abandoned",
        "chain_end:abandoned",
        "chain_end:completed",
        "llm_end:abandoned",
    ]


def test_task_cancellation_is_cancelled(rec: Any) -> None:
    async def consume(chain: Any, first: asyncio.Event) -> None:
        async for _ in chain.astream({"q": "hi"}, {"callbacks": [rec]}):
            first.set()

    async def run() -> None:
        first = asyncio.Event()
        chain = make_chain(FakeStreamingChatModel(chunks=["a", "b", "c"], gap=5.0))
        task = asyncio.create_task(consume(chain, first))
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    ends = assert_each_run_ended_once(rec)
    assert sorted(v[0] for v in ends.values()) == [
        "chain_end:completed",
        "chain_error:cancelled",
        "chain_error:cancelled",
        "llm_error:cancelled",
    ]
    error, kwargs = rec.of("llm_error")[0]
    assert isinstance(error, asyncio.CancelledError)
    assert kwargs["response"].generations[0][0].message.content == "a"


def test_timeout_reason(rec: Any) -> None:
    model = FakeStreamingChatModel(chunks=["a", "b"], error_at=1, error=TimeoutError("too slow"))
    with pytest.raises(TimeoutError):
        list(model.stream("hi", {"callbacks": [rec]}))
    assert [v[0] for v in rec.ends().values()] == ["llm_error:timeout"]


def test_cancel_while_awaiting_elsewhere_then_aclose_is_cancelled(rec: Any) -> None:
    async def run() -> None:
        stream = FakeStreamingChatModel(chunks=["a", "b"]).astream("hi", {"callbacks": [rec]})

        async def consumer() -> None:
            async with contextlib.aclosing(stream) as s:
                async for _ in s:
                    await asyncio.sleep(10)

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert [v[0] for v in rec.ends().values()] == ["llm_error:cancelled"]


def test_lambda_generator_abandoned_closes_user_generator(rec: Any) -> None:
    closed: list[bool] = []

    def gen(x: str) -> Iterator[str]:
        try:
            yield from ["1", "2", "3"]
        finally:
            closed.append(True)

    stream = RunnableLambda(gen).stream("x", {"callbacks": [rec]})
    assert next(stream) == "1"
    stream.close()
    assert closed == [True]
    assert [v[0] for v in rec.ends().values()] == ["chain_end:abandoned"]
    assert rec.of("chain_end")[0][0] == "1"
