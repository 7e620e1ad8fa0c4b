"""``astream_events`` pinned to langchain-core 1.8.3 (issue 20, items 5 and 9)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamscope.engine import (
    ChatPromptTemplate,
    JsonOutputParser,
    PromptTemplate,
    Runnable,
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


@pytest.mark.parametrize(("root", "value", "kind"), [
    (add, {"a": 1, "b": 2}, "tool"),
    (ChatPromptTemplate.from_messages([("human", "{x}")]), {"x": "hi"}, "prompt"),
    (PromptTemplate.from_template("{x}"), {"x": 1}, "prompt"),
    (StrOutputParser(), "abc", "parser"),
    (JsonOutputParser(), '{"a": 1}', "parser"),
])
def test_a_root_that_only_invokes_sends_start_and_end_only(root: Any, value: Any, kind: str) -> None:
    got = [(e["event"], sorted(e["data"])) for e in events(root, value)]
    assert got == [(f"on_{kind}_start", ["input"]), (f"on_{kind}_end", ["output"])]
