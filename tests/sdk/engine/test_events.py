"""astream_events(version="v2"): event names, envelope, payloads and lazy order (behaviours 30-40)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamscope.engine import (
    AIMessageChunk,
    ChatPromptTemplate,
    FakeListChatModel,
    FakeStreamingChatModel,
    Runnable,
    RunnableLambda,
    RunnableParallel,
    StrOutputParser,
    adispatch_custom_event,
)


def events(
    runnable: Runnable[Any, Any], value: Any, config: Any = None, **kwargs: Any
) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        return [e async for e in runnable.astream_events(value, config, version="v2", **kwargs)]

    return asyncio.run(run())


def short(evts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["event"], e["name"]) for e in evts]


def test_single_lambda() -> None:
    evts = events(RunnableLambda(lambda x: x * 2).with_config(run_name="double"), 2)
    assert [(e["event"], e["data"]) for e in evts] == [
        ("on_chain_start", {"input": 2}),
        ("on_chain_stream", {"chunk": 4}),
        ("on_chain_end", {"output": 4}),
    ]
    assert all(set(e) == {"event", "name", "run_id", "parent_ids", "tags", "metadata", "data"} for e in evts)
    assert all(isinstance(e["run_id"], str) and e["parent_ids"] == [] for e in evts)


def test_three_lambdas_lazy_order() -> None:
    def a(x: int) -> int:
        return x + 1

    def b(x: int) -> int:
        return x * 2

    def c(x: int) -> int:
        return x - 3

    seq = RunnableLambda(a) | RunnableLambda(b) | RunnableLambda(c)
    evts = events(seq, 1)
    assert [(e["event"], e["name"]) for e in evts] == [
        ("on_chain_start", "RunnableSequence"),
        ("on_chain_start", "a"),
        ("on_chain_stream", "a"),
        ("on_chain_start", "b"),
        ("on_chain_end", "a"),
        ("on_chain_stream", "b"),
        ("on_chain_start", "c"),
        ("on_chain_end", "b"),
        ("on_chain_stream", "c"),
        ("on_chain_stream", "RunnableSequence"),
        ("on_chain_end", "c"),
        ("on_chain_end", "RunnableSequence"),
    ]
    by = {(e["event"], e["name"]): e for e in evts}
    assert by[("on_chain_start", "b")]["data"] == {}  # deferred input
    assert by[("on_chain_end", "b")]["data"] == {"input": 2, "output": 4}
    assert by[("on_chain_start", "RunnableSequence")]["data"] == {"input": 1}
    assert by[("on_chain_end", "RunnableSequence")]["data"] == {"output": 1}  # root end: output only
    root = by[("on_chain_start", "RunnableSequence")]["run_id"]
    assert by[("on_chain_start", "b")]["parent_ids"] == [root]
    assert by[("on_chain_start", "b")]["tags"] == ["seq:step:2"]


def test_prompt_model_parser_events() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")])
    chain = prompt | FakeListChatModel(responses=["ab"]) | StrOutputParser()
    evts = events(chain, {"q": "hi"}, {"tags": ["t1"], "metadata": {"user": "u1"}})
    assert short(evts) == [
        ("on_chain_start", "RunnableSequence"),
        ("on_prompt_start", "ChatPromptTemplate"),
        ("on_prompt_end", "ChatPromptTemplate"),
        ("on_chat_model_start", "FakeListChatModel"),
        ("on_chat_model_stream", "FakeListChatModel"),
        ("on_parser_start", "StrOutputParser"),
        ("on_parser_stream", "StrOutputParser"),
        ("on_chain_stream", "RunnableSequence"),
        ("on_chat_model_stream", "FakeListChatModel"),
        ("on_parser_stream", "StrOutputParser"),
        ("on_chain_stream", "RunnableSequence"),
        ("on_chat_model_end", "FakeListChatModel"),
        ("on_parser_end", "StrOutputParser"),
        ("on_chain_end", "RunnableSequence"),
    ]
    start = evts[3]
    assert [type(m).__name__ for m in start["data"]["input"]["messages"][0]] == [
        "SystemMessage",
        "HumanMessage",
    ]
    assert (
        start["metadata"]["ls_provider"] == "fakelistchatmodel"
        and start["metadata"]["ls_model_type"] == "chat"
    )
    assert start["metadata"]["user"] == "u1" and start["tags"] == ["t1", "seq:step:2"]
    assert isinstance(evts[4]["data"]["chunk"], AIMessageChunk)
    end = evts[11]["data"]
    assert end["output"].content == "ab" and "input" in end
    assert evts[-1]["data"] == {"output": "ab"}


def test_parallel_stream_events() -> None:
    par = RunnableParallel(a=lambda x: 1, b=lambda x: 2)
    evts = events(par, 0)
    chunks = [e["data"]["chunk"] for e in evts if e["event"] == "on_chain_stream" and not e["parent_ids"]]
    assert sorted(chunks, key=lambda c: next(iter(c))) == [{"a": 1}, {"b": 2}]
    starts = [e for e in evts if e["event"] == "on_chain_start" and e["parent_ids"]]
    assert sorted(tag for e in starts for tag in e["tags"]) == ["map:key:a", "map:key:b"]


def test_custom_event_appears_with_enclosing_run() -> None:
    async def step(x: int) -> int:
        await adispatch_custom_event("progress", {"pct": 50})
        return x

    evts = events(RunnableLambda(step), 1)
    custom = [e for e in evts if e["event"] == "on_custom_event"]
    assert len(custom) == 1 and custom[0]["name"] == "progress" and custom[0]["data"] == {"pct": 50}
    assert custom[0]["run_id"] == evts[0]["run_id"]


def test_filters() -> None:
    chain = FakeListChatModel(responses=["ab"]) | StrOutputParser().with_config(tags=["keep"])
    assert {e["event"] for e in events(chain, "q", include_types=["chat_model"])} == {
        "on_chat_model_start",
        "on_chat_model_stream",
        "on_chat_model_end",
    }
    assert {e["name"] for e in events(chain, "q", include_tags=["keep"])} == {"StrOutputParser"}
    names = {e["name"] for e in events(chain, "q", exclude_names=["StrOutputParser"])}
    assert names == {"RunnableSequence", "FakeListChatModel"}


def test_exception_yields_error_events_then_propagates() -> None:
    chain = FakeStreamingChatModel(chunks=["a", "b"], error_at=1) | StrOutputParser()
    seen: list[dict[str, Any]] = []

    async def run() -> None:
        async for e in chain.astream_events("q", version="v2"):
            seen.append(e)

    with pytest.raises(RuntimeError, match="scripted error"):
        asyncio.run(run())
    errors = [e for e in seen if e["event"].endswith("_error")]
    assert [e["event"] for e in errors] == ["on_chat_model_error", "on_parser_error", "on_chain_error"]
    assert all(e["data"]["reason"] == "error" for e in errors)
    assert "on_chat_model_stream" in [e["event"] for e in seen]


def test_breaking_out_cancels_in_flight_step_and_later_steps_never_start() -> None:
    started: list[str] = []

    async def slow(x: Any) -> Any:
        started.append("slow")
        await asyncio.sleep(10)
        return x

    async def later(x: Any) -> Any:
        started.append("later")
        return x

    chain = RunnableLambda(slow) | RunnableLambda(later)

    async def run() -> list[str]:
        names = []
        stream = chain.astream_events(1, version="v2")
        async for e in stream:
            names.append(e["event"])
            if len(names) == 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return names

    assert asyncio.run(asyncio.wait_for(run(), 5)) == ["on_chain_start", "on_chain_start"]
    assert started == ["slow"]


def test_model_invoked_inside_lambda_still_streams_tokens() -> None:
    model = FakeListChatModel(responses=["abc"])

    async def call(x: str) -> str:
        return str((await model.ainvoke(x)).content)

    evts = events(RunnableLambda(call), "q")
    assert [e["event"] for e in evts].count("on_chat_model_stream") == 3
    lam = evts[0]["run_id"]
    assert all(e["parent_ids"] == [lam] for e in evts if e["event"].startswith("on_chat_model"))


def test_sync_stream_inside_async_lambda_matches_nested_astream() -> None:
    model = FakeListChatModel(responses=["ab"])

    async def sync_inside(x: str) -> str:
        return "".join(str(c.content) for c in model.stream(x))

    async def async_inside(x: str) -> str:
        return "".join([str(c.content) async for c in model.astream(x)])

    def shape(evts: list[dict[str, Any]]) -> list[str]:
        return [e["event"] for e in evts]

    assert shape(events(RunnableLambda(sync_inside), "q")) == shape(events(RunnableLambda(async_inside), "q"))


def test_only_v2() -> None:
    async def run() -> None:
        async for _ in RunnableLambda(lambda x: x).astream_events(1, version="v1"):
            pass

    with pytest.raises(NotImplementedError):
        asyncio.run(run())


async def _agen(x: int) -> AsyncIterator[int]:
    for i in range(x):
        yield i


def test_generator_root_streams_each_chunk_once() -> None:
    evts = events(RunnableLambda(_agen), 3)
    assert [e["data"]["chunk"] for e in evts if e["event"] == "on_chain_stream"] == [0, 1, 2]
