"""Concurrent streams under asyncio.gather do not interfere: each keeps its own chunks, timers and ending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from streamscope.engine import flow


async def words(tag: str, n: int, gap: float, stall_at: int | None = None) -> AsyncIterator[str]:
    for i in range(n):
        await asyncio.sleep(0.3 if i == stall_at else gap)
        yield f"{tag}{i};"


def pipeline(source: AsyncIterator[str]) -> flow.AsyncGuardedStream[str]:
    return flow.apply(  # type: ignore[return-value]
        source,
        flow.detect_stalls(threshold=0.1),
        flow.timeout(per_chunk=0.2, total=5),
        flow.buffer(maxsize=4),
        flow.rate_limit(2000, burst=4),
        flow.rechunk(chunk_size=6),
        flow.guard(),
    )


async def consume(g: flow.AsyncGuardedStream[str]) -> flow.StreamEnd:
    try:
        async for _ in g:
            await asyncio.sleep(0)
    except flow.StreamTimeoutError:
        pass
    return g.end


def test_gathered_streams_keep_their_own_output_and_ending() -> None:
    async def main() -> list[flow.StreamEnd]:
        streams = [pipeline(words(tag, 20, gap)) for tag, gap in (("a", 0.001), ("b", 0.002), ("c", 0.0))]
        # "d" goes silent for 0.3 s at chunk 5: only its own per-chunk timeout (0.2 s) may fire
        streams.append(pipeline(words("d", 20, 0.001, stall_at=5)))
        return await asyncio.gather(*(consume(g) for g in streams))

    a, b, c, d = asyncio.run(asyncio.wait_for(main(), 20))
    for tag, end in (("a", a), ("b", b), ("c", c)):
        assert end.reason == "completed", (tag, end.error)
        assert end.output == "".join(f"{tag}{i};" for i in range(20))
    assert d.reason == "timeout"
    assert isinstance(d.error, flow.StreamTimeoutError) and d.error.scope == "chunk"
    assert "".join(d.chunks) == "".join(f"d{i};" for i in range(5))[: len("".join(d.chunks))]


def test_stage_objects_are_reusable_across_concurrent_streams() -> None:
    stage = flow.rechunk(chunk_size=3)
    timer = flow.timeout(per_chunk=1)

    async def run(tag: str) -> str:
        out = [x async for x in timer(stage(words(tag, 30, 0.0005)))]
        return "".join(out)

    async def main() -> list[str]:
        return await asyncio.gather(*(run(t) for t in "pqrs"))

    results = asyncio.run(main())
    assert results == ["".join(f"{t}{i};" for i in range(30)) for t in "pqrs"]


@pytest.mark.parametrize("n", [2, 8])
def test_gathered_stall_monitors_count_only_their_own_stalls(n: int) -> None:
    async def main() -> list[int]:
        monitors = [
            flow.detect_stalls(threshold=0.05)(words(str(i), 6, 0.0, stall_at=3 if i % 2 else None))
            for i in range(n)
        ]

        async def drain(m: flow.AsyncStallMonitor[str]) -> int:
            async for _ in m:
                pass
            return m.state.stall_count

        return await asyncio.gather(*(drain(m) for m in monitors))

    assert asyncio.run(main()) == [i % 2 for i in range(n)]
