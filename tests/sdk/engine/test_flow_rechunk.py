"""Re-chunking by size and by time window, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamscope.engine import flow
from streamscope.engine.messages import AIMessageChunk


async def agen(items: list[object], delay: float = 0.0) -> AsyncIterator[object]:
    for item in items:
        await asyncio.sleep(delay)
        yield item


async def collect(ait: AsyncIterator[object]) -> list[object]:
    return [x async for x in ait]


def test_size_cuts_strings_exactly_and_keeps_the_rest() -> None:
    out = list(flow.rechunk(chunk_size=4)(iter(["hel", "lo wor", "ld", "!"])))
    assert out == ["hell", "o wo", "rld!"]
    assert list(flow.rechunk(chunk_size=5)(iter(["abc", "de", "fg"]))) == ["abcde", "fg"]


@given(st.lists(st.text(max_size=12), max_size=30), st.integers(min_value=1, max_value=9))
def test_size_rechunk_loses_nothing(parts: list[str], n: int) -> None:
    out = list(flow.rechunk(chunk_size=n)(iter(parts)))
    assert "".join(out) == "".join(parts)
    assert all(len(piece) == n for piece in out[:-1])
    assert all(0 < len(piece) <= n for piece in out)


def test_size_async_matches_sync() -> None:
    parts = ["ab", "cdefg", "", "h", "ijklmnop"]
    got = asyncio.run(collect(flow.rechunk(chunk_size=3)(agen(list(parts)))))
    assert got == list(flow.rechunk(chunk_size=3)(iter(parts)))


def test_size_merges_message_chunks() -> None:
    chunks = [AIMessageChunk(c, id="r") for c in "abcdefg"]
    chunks[-1] = AIMessageChunk(
        "g", id="r", usage_metadata={"input_tokens": 1, "output_tokens": 7, "total_tokens": 8}
    )
    out = list(flow.rechunk(chunk_size=3)(iter(chunks)))
    assert [m.content for m in out] == ["abc", "def", "g"]
    assert all(isinstance(m, AIMessageChunk) for m in out)
    assert out[-1].usage_metadata["total_tokens"] == 8


def test_window_sync_batches_by_arrival_time() -> None:
    def source() -> Iterator[str]:
        yield "a"
        yield "b"
        time.sleep(0.08)
        yield "c"
        yield "d"

    out = list(flow.rechunk(window=0.04)(source()))
    assert out == ["ab", "cd"]


def test_window_async_emits_while_upstream_is_silent() -> None:
    produced: list[str] = []

    async def source() -> AsyncIterator[str]:
        for item in ("a", "b"):
            produced.append(item)
            yield item
        await asyncio.sleep(0.3)
        produced.append("c")
        yield "c"

    async def main() -> list[tuple[str, list[str]]]:
        seen = []
        async for batch in flow.rechunk(window=0.02)(source()):
            seen.append((batch, list(produced)))
        return seen

    seen = asyncio.run(main())
    assert seen[0] == ("ab", ["a", "b"])  # emitted before upstream produced "c"
    assert seen[-1][0] == "c"


def test_window_with_size_flushes_on_size() -> None:
    out = asyncio.run(collect(flow.rechunk(window=10.0, chunk_size=2)(agen(["a", "b", "c"]))))
    assert out == ["ab", "c"]
    assert list(flow.rechunk(window=10.0, chunk_size=2)(iter("abc"))) == ["ab", "c"]


def test_closing_early_closes_the_source() -> None:
    closed = []

    def source() -> Iterator[str]:
        try:
            yield from ["aa", "bb", "cc"]
        finally:
            closed.append(True)

    it = flow.rechunk(chunk_size=2)(source())
    assert next(it) == "aa"
    it.close()  # type: ignore[attr-defined]
    assert closed == [True]

    async def main() -> None:
        aclosed = []

        async def asource() -> AsyncIterator[str]:
            try:
                for x in ("aa", "bb"):
                    yield x
            finally:
                aclosed.append(True)

        for stage in (flow.rechunk(chunk_size=2), flow.rechunk(window=1.0)):
            aclosed.clear()
            ait = stage(asource())
            await ait.__anext__()
            await ait.aclose()  # type: ignore[attr-defined]
            assert aclosed == [True]

    asyncio.run(main())


@pytest.mark.parametrize("kwargs", [{}, {"chunk_size": 0}, {"window": 0}, {"window": -1.0}])
def test_bad_arguments_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        flow.rechunk(**kwargs)  # type: ignore[arg-type]
