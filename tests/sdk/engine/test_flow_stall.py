"""Stall detection reports long gaps without aborting the stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from streamscope.engine import flow


def test_sync_stall_is_reported_when_the_late_chunk_arrives() -> None:
    seen: list[flow.Stall] = []

    def source() -> Iterator[str]:
        yield "a"
        time.sleep(0.06)
        yield "b"
        yield "c"

    mon = flow.detect_stalls(threshold=0.03, on_stall=seen.append)(source())
    assert isinstance(mon, flow.StallMonitor)
    assert list(mon) == ["a", "b", "c"]
    assert len(seen) == 1 and mon.state.stall_count == 1
    stall = seen[0]
    assert stall.after_index == 0 and stall.gap >= 0.03 and not stall.ongoing
    assert not mon.state.stalled


def test_async_stall_is_reported_while_upstream_is_silent() -> None:
    async def main() -> flow.AsyncStallMonitor[str]:
        resume = asyncio.Event()
        reports: list[tuple[bool, float]] = []

        def on_stall(stall: flow.Stall) -> None:
            reports.append((stall.ongoing, stall.gap))
            resume.set()  # the source only continues once the stall was reported

        async def source() -> AsyncIterator[str]:
            yield "a"
            await resume.wait()
            yield "b"

        mon = flow.detect_stalls(threshold=0.02, on_stall=on_stall)(source())
        out = []
        async for x in mon:
            out.append(x)
            if x == "a":
                assert not mon.state.stalled
        assert out == ["a", "b"]
        assert len(reports) == 1 and reports[0][0] is True and reports[0][1] >= 0.02
        return mon

    mon = asyncio.run(asyncio.wait_for(main(), 5))
    (stall,) = mon.state.stalls
    assert not stall.ongoing and stall.gap >= 0.02 and stall.after_index == 0


def test_async_stalled_flag_is_live() -> None:
    async def main() -> None:
        async def source() -> AsyncIterator[str]:
            yield "a"
            await asyncio.sleep(0.08)
            yield "b"

        mon = flow.detect_stalls(threshold=0.02)(source())
        assert await mon.__anext__() == "a"
        nxt = asyncio.ensure_future(mon.__anext__())
        await asyncio.sleep(0.05)
        assert mon.state.stalled  # reported before the late chunk arrived
        assert await nxt == "b"
        assert not mon.state.stalled and mon.state.stall_count == 1

    asyncio.run(main())


def test_no_stall_before_first_chunk_or_when_fast() -> None:
    def source() -> Iterator[int]:
        time.sleep(0.05)  # time to first chunk is not a stall
        yield from range(50)

    mon = flow.detect_stalls(threshold=0.03)(source())
    assert list(mon) == list(range(50)) and mon.state.stalls == []


def test_broken_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def explode(stall: flow.Stall) -> None:
        raise RuntimeError("callback bug")

    def source() -> Iterator[str]:
        yield "a"
        time.sleep(0.04)
        yield "b"

    with caplog.at_level(logging.ERROR, logger="streamscope.engine.flow.stall"):
        assert list(flow.detect_stalls(threshold=0.02, on_stall=explode)(source())) == ["a", "b"]
    assert "on_stall callback failed" in caplog.text


def test_default_threshold_matches_tracing_and_bad_threshold() -> None:
    assert flow.detect_stalls().threshold == 2.0
    with pytest.raises(ValueError):
        flow.detect_stalls(threshold=0)
