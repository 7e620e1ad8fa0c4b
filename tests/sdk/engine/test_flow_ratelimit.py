"""Token-bucket rate limiting in chunks per second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from streamscope.engine import flow
from streamscope.engine.flow import ratelimit


def test_sync_rate_spaces_chunks_out() -> None:
    start = time.monotonic()
    out = list(flow.rate_limit(200)(iter(range(11))))
    elapsed = time.monotonic() - start
    assert out == list(range(11))
    assert elapsed >= 10 / 200 * 0.95  # 1 token up front, then 10 more at 200/s


def test_async_rate_spaces_chunks_out() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(11):
            yield i

    async def main() -> tuple[list[int], float]:
        start = time.monotonic()
        out = [x async for x in flow.rate_limit(200)(source())]
        return out, time.monotonic() - start

    out, elapsed = asyncio.run(main())
    assert out == list(range(11))
    assert elapsed >= 10 / 200 * 0.95


def test_burst_passes_without_waiting_then_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(ratelimit.time, "sleep", sleeps.append)
    out = list(flow.rate_limit(50, burst=5)(iter("abcde")))
    assert out == list("abcde") and sleeps == []  # a full bucket: five chunks, no wait

    out = list(flow.rate_limit(50, burst=5)(iter("abcdef")))
    assert out == list("abcdef")
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 1 / 50


def test_slow_source_is_not_delayed(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(ratelimit.time, "sleep", sleeps.append)

    def source() -> Iterator[int]:
        for i in range(3):
            end = time.monotonic() + 0.03
            while time.monotonic() < end:  # busy-wait: time.sleep is patched
                pass
            yield i

    assert list(flow.rate_limit(100)(source())) == [0, 1, 2]
    assert sleeps == []  # chunks 30 ms apart never exceed 100/s


@pytest.mark.parametrize("rate,burst", [(0, 1), (-1, 1), (10, 0)])
def test_bad_arguments(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        flow.rate_limit(rate, burst=burst)
