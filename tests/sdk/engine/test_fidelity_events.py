"""``astream_events`` pinned to langchain-core 1.8.3 (issue 20, items 5 and 9)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from tests.sdk.engine.conftest import Recorder

from streamscope.engine import (
    ChatPromptTemplate,
    FakeListChatModel,
    JsonOutputParser,
    PromptTemplate,
    Runnable,
    RunnableLambda,
    RunnableParallel,
    StrOutputParser,
    tool,
)


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def events(runnable: Runnable[Any, Any], value: Any, **kwargs: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        return [e async for e in runnable.astream_events(value, version="v2", **kwargs)]

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("root", "value", "kind"),
    [
        (add, {"a": 1, "b": 2}, "tool"),
        (ChatPromptTemplate.from_messages([("human", "{x}")]), {"x": "hi"}, "prompt"),
        (PromptTemplate.from_template("{x}"), {"x": 1}, "prompt"),
        (StrOutputParser(), "abc", "parser"),
        (JsonOutputParser(), '{"a": 1}', "parser"),
    ],
)
def test_a_root_that_only_invokes_sends_start_and_end_only(root: Any, value: Any, kind: str) -> None:
    got = [(e["event"], sorted(e["data"])) for e in events(root, value)]
    assert got == [(f"on_{kind}_start", ["input"]), (f"on_{kind}_end", ["output"])]


def test_a_run_started_by_stream_defers_its_input_to_its_end(rec: Recorder) -> None:
    chain = RunnableLambda(lambda x: x + 1, name="one") | RunnableLambda(lambda x: x * 2, name="two")
    assert list(chain.stream(1, {"callbacks": [rec]})) == [4]
    assert [(k["name"], inputs) for inputs, k in rec.of("chain_start")] == [
        ("RunnableSequence", {"input": ""}),
        ("one", {"input": ""}),
        ("two", {"input": ""}),
    ]
    assert [k["inputs"] for _, k in rec.of("chain_end")] == [1, 2, 1]


def test_a_nested_stream_reports_its_input_at_its_end() -> None:
    inner = RunnableLambda(lambda x: x * 3, name="inner")
    outer = RunnableLambda(lambda x: list(inner.stream(x)), name="outer")
    got = [(e["event"], e["name"], e["data"]) for e in events(outer, 2)]
    assert got == [
        ("on_chain_start", "outer", {"input": 2}),
        ("on_chain_start", "inner", {}),
        ("on_chain_stream", "inner", {"chunk": 6}),
        ("on_chain_end", "inner", {"output": 6, "input": 2}),
        ("on_chain_stream", "outer", {"chunk": [6]}),
        ("on_chain_end", "outer", {"output": [6]}),
    ]


def test_a_run_id_reused_after_its_run_ended_is_a_new_run() -> None:
    rid = uuid.uuid4()
    inner = RunnableLambda(lambda x: x * 3, name="inner")
    outer = RunnableLambda(
        lambda x: [inner.invoke(x, {"run_id": rid}), inner.invoke(x, {"run_id": rid})], name="dup"
    )
    got = [(e["event"], e["name"]) for e in events(outer, 2)]
    assert got == [
        ("on_chain_start", "dup"),
        ("on_chain_start", "inner"),
        ("on_chain_end", "inner"),
        ("on_chain_start", "inner"),
        ("on_chain_end", "inner"),
        ("on_chain_stream", "dup"),
        ("on_chain_end", "dup"),
    ]


def test_the_run_log_patches_only_what_changed_in_a_structured_output() -> None:
    chain = RunnableParallel(a=FakeListChatModel(responses=["xyz"]) | StrOutputParser())

    async def run() -> list[list[dict[str, Any]]]:
        return [p.ops async for p in chain.astream_log("q", include_names=["nothing"])]

    final_ops = [[o for o in ops if o["path"].startswith("/final_output")] for ops in asyncio.run(run())[1:]]
    assert final_ops == [
        [{"op": "replace", "path": "/final_output", "value": {"a": "x"}}],
        [{"op": "replace", "path": "/final_output/a", "value": "xy"}],
        [{"op": "replace", "path": "/final_output/a", "value": "xyz"}],
    ]
