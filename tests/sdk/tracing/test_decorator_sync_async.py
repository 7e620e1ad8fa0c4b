"""One loop, two colours: ``@streamscope.trace`` gives the same spans for the sync and the async form of the same
function (a function and a coroutine; a generator and an async generator), completed, abandoned and failed,
nested in a traced parent. Spans are compared by name, kind, attributes, events, status and parent (times, ids
and stack traces aside)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import streamscope
from streamscope.testing import capture_spans

ITEMS = ["a", "b", "c", "d"]


class Boom(Exception):
    pass


def comparable(spans: Any) -> list[tuple[Any, ...]]:
    names = {s.context.span_id: s.name for s in spans}
    out = []
    for s in spans:
        events = [
            (e.name, {k: v for k, v in (e.attributes or {}).items() if k != "exception.stacktrace"})
            for e in s.events
        ]
        parent = names.get(s.parent.span_id) if s.parent is not None else None
        out.append(
            (
                s.name,
                s.kind,
                dict(s.attributes or {}),
                events,
                s.status.status_code,
                s.status.description,
                parent,
            )
        )
    return sorted(out, key=repr)


@streamscope.trace(name="inner")
def inner_sync(fail: bool) -> int:
    if fail:
        raise Boom("inner failed")
    return 1


@streamscope.trace(name="inner")
async def inner_async(fail: bool) -> int:
    await asyncio.sleep(0)
    if fail:
        raise Boom("inner failed")
    return 1


@streamscope.trace(name="produce")
def produce_sync(fail_at: int | None) -> Iterator[str]:
    for i, item in enumerate(ITEMS):
        if i == fail_at:
            raise Boom(f"failed at {i}")
        inner_sync(False)
        yield item


@streamscope.trace(name="produce")
async def produce_async(fail_at: int | None) -> AsyncIterator[str]:
    for i, item in enumerate(ITEMS):
        if i == fail_at:
            raise Boom(f"failed at {i}")
        await inner_async(False)
        yield item


@streamscope.trace(name="app")
def run_sync(case: str) -> list[str]:
    got: list[str] = []
    try:
        if case == "function-error":
            inner_sync(True)
        elif case == "function":
            inner_sync(False)
        else:
            gen = produce_sync(2 if case == "error" else None)
            for item in gen:
                got.append(item)
                if case == "abandoned" and len(got) == 2:
                    gen.close()
                    break
    except Boom as exc:
        got.append(str(exc))
    return got


@streamscope.trace(name="app")
async def run_async(case: str) -> list[str]:
    got: list[str] = []
    try:
        if case == "function-error":
            await inner_async(True)
        elif case == "function":
            await inner_async(False)
        else:
            agen = produce_async(2 if case == "error" else None)
            async for item in agen:
                got.append(item)
                if case == "abandoned" and len(got) == 2:
                    await agen.aclose()  # type: ignore[attr-defined]
                    break
    except Boom as exc:
        got.append(str(exc))
    return got


@pytest.mark.parametrize("case", ["function", "function-error", "completed", "abandoned", "error"])
def test_the_decorator_gives_the_same_spans_sync_and_async(case: str) -> None:
    with capture_spans() as sync_spans:
        sync_got = run_sync(case)
    with capture_spans() as async_spans:
        async_got = asyncio.run(run_async(case))
    assert sync_got == async_got
    assert comparable(sync_spans) == comparable(async_spans)
    if case in ("completed", "abandoned", "error"):
        (produce,) = [s for s in sync_spans if s.name == "produce"]
        assert (produce.attributes or {})["streamscope.stream.outcome"] == case
