"""Chat models: fakes with scripted chunks, timing, errors, usage and tool calls; streaming switches."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streamscope.engine import (
    AIMessage,
    AIMessageChunk,
    FakeListChatModel,
    FakeListChatModelError,
    FakeStreamingChatModel,
    HumanMessage,
    LLMResult,
)


def test_fake_list_model_cycles_and_streams_per_character() -> None:
    model = FakeListChatModel(responses=["ab", "cd"])
    assert [c.content for c in model.stream("x")] == ["a", "b"]
    assert model.invoke("x").content == "cd"
    assert model.invoke("x").content == "ab"
    assert isinstance(model.invoke("x"), AIMessage)


def test_fake_list_model_error_on_chunk() -> None:
    model = FakeListChatModel(responses=["abcdef"], error_on_chunk_number=3)
    got = []
    with pytest.raises(FakeListChatModelError):
        for chunk in model.stream("x"):
            got.append(chunk.content)
    assert got == ["a", "b", "c"]


def test_chunks_share_one_id_and_fold_to_invoke() -> None:
    model = FakeStreamingChatModel(chunks=["hel", "lo"], usage={"input_tokens": 2, "output_tokens": 2})
    chunks = list(model.stream("x"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("lc_run--")
    folded = chunks[0] + chunks[1]
    invoked = model.invoke("x")
    assert folded.content == invoked.content == "hello"
    assert (
        folded.usage_metadata
        == invoked.usage_metadata
        == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    )


def test_usage_is_on_the_last_chunk_only() -> None:
    chunks = list(
        FakeStreamingChatModel(chunks=["a", "b", "c"], usage={"input_tokens": 1, "output_tokens": 3}).stream(
            "x"
        )
    )
    assert [c.usage_metadata for c in chunks[:-1]] == [None, None]
    assert chunks[-1].usage_metadata == {"input_tokens": 1, "output_tokens": 3, "total_tokens": 4}
    assert chunks[-1].response_metadata["finish_reason"] == "stop"


def test_tool_calls_stream_as_deltas_and_parse_after_merge() -> None:
    model = FakeStreamingChatModel(tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}])
    chunks = list(model.stream("x"))
    assert len(chunks) == 3
    assert chunks[0].tool_call_chunks == [{"name": "add", "args": "", "id": "c1", "index": 0}]
    merged = chunks[0] + chunks[1] + chunks[2]
    assert merged.tool_calls == [{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1", "type": "tool_call"}]
    assert model.invoke("x").tool_calls == merged.tool_calls


def test_ttft_and_gap_delays() -> None:
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], ttft=0.05, gap=0.02)
    start = time.perf_counter()
    stamps = []
    for _ in model.stream("x"):
        stamps.append(time.perf_counter() - start)
    assert stamps[0] >= 0.05
    assert stamps[1] - stamps[0] >= 0.02 and stamps[2] - stamps[1] >= 0.02

    async def run() -> list[float]:
        t0 = time.perf_counter()
        return [time.perf_counter() - t0 async for _ in model.astream("x")]

    astamps = asyncio.run(run())
    assert astamps[0] >= 0.05 and astamps[2] - astamps[1] >= 0.02


def test_error_at_and_custom_error() -> None:
    with pytest.raises(ConnectionError):
        list(FakeStreamingChatModel(chunks=["a"], error_at=0, error=ConnectionError("lost")).stream("x"))
    # error_at == len(chunks): every chunk arrives, then the stream fails
    got = []
    with pytest.raises(RuntimeError):
        for c in FakeStreamingChatModel(chunks=["a", "b"], error_at=2).stream("x"):
            got.append(c.content)
    assert got == ["a", "b"]


def test_disable_streaming_and_streaming_false_yield_one_message() -> None:
    for model in (
        FakeListChatModel(responses=["abc"], disable_streaming=True),
        FakeListChatModel(responses=["abc"], streaming=False),
    ):
        chunks = list(model.stream("x"))
        assert len(chunks) == 1 and isinstance(chunks[0], AIMessage) and chunks[0].content == "abc"
    tool_model = FakeListChatModel(responses=["abc"], disable_streaming="tool_calling")
    assert len(list(tool_model.stream("x", tools=[{"name": "t"}]))) == 1
    assert len(list(tool_model.stream("x"))) == 3


def test_async_stream_falls_back_to_sync_stream() -> None:
    class SyncOnly(FakeStreamingChatModel):
        _astream = FakeStreamingChatModel.__mro__[1]._astream  # the base class's thread-backed default

    async def run() -> list[str]:
        return [c.content async for c in SyncOnly(chunks=["a", "b"]).astream("x")]

    assert asyncio.run(run()) == ["a", "b"]


def test_generate_and_agenerate_one_run_per_prompt(rec: Any) -> None:
    model = FakeListChatModel(responses=["a", "b"])
    result = model.generate([[HumanMessage("x")], "y"], callbacks=[rec])
    assert isinstance(result, LLMResult)
    assert [g[0].text for g in result.generations] == ["a", "b"]
    assert rec.names() == ["chat_model_start", "llm_end", "chat_model_start", "llm_end"]
    aresult = asyncio.run(model.agenerate(["q1", "q2"]))
    assert sorted(g[0].text for g in aresult.generations) == ["a", "b"]


def test_model_accepts_prompt_values_message_lists_and_tuples() -> None:
    from streamscope.engine import ChatPromptTemplate

    model = FakeListChatModel(responses=["ok"])
    prompt_value = ChatPromptTemplate.from_template("{x}").invoke({"x": "hi"})
    assert model.invoke(prompt_value).content == "ok"
    assert model.invoke([("system", "s"), ("human", "h")]).content == "ok"


def test_rate_limiter_is_acquired_once_per_call() -> None:
    calls: list[str] = []

    class Limiter:
        def acquire(self, *, blocking: bool = True) -> bool:
            calls.append("sync")
            return True

        async def aacquire(self, *, blocking: bool = True) -> bool:
            calls.append("async")
            return True

    model = FakeListChatModel(responses=["abc"], rate_limiter=Limiter())
    list(model.stream("x"))

    async def run() -> None:
        async for _ in model.astream("x"):
            pass

    asyncio.run(run())
    model.invoke("x")
    assert calls == ["sync", "async", "sync"]
