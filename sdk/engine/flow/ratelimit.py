"""Rate limiting in chunks per second with a token bucket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TypeVar

from streamscope.engine.flow._stage import FlowStage, close_async, close_sync

__all__ = ["RateLimit", "rate_limit"]

T = TypeVar("T")


class RateLimit(FlowStage):
    """Token-bucket stage. Build it with :func:`rate_limit`."""

    name = "rate_limit"

    def __init__(self, rate: float, burst: int = 1) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 chunks/s, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst

    def iter(self, source: Iterable[T]) -> Iterator[T]:
        return _limit_sync(source, self.rate, self.burst)

    def aiter(self, source: AsyncIterable[T]) -> AsyncIterator[T]:
        return _limit_async(source, self.rate, self.burst)


def rate_limit(rate: float, *, burst: int = 1) -> RateLimit:
    """Deliver at most ``rate`` chunks per second on average, and at most ``burst`` back to back.

    A token bucket of ``burst`` tokens refills at ``rate`` tokens/s and starts full. Each chunk takes a
    token when it arrives; without one it is held (``time.sleep`` / ``asyncio.sleep``) until the bucket has
    refilled. Nothing is dropped. While a chunk is held, upstream is not pulled.
    """
    return RateLimit(rate, burst=burst)


def _limit_sync(source: Iterable[T], rate: float, burst: int) -> Iterator[T]:
    it = iter(source)
    clock = time.monotonic
    tokens = float(burst)
    last = clock()
    try:
        for item in it:
            if tokens < 1.0:
                now = clock()
                tokens = min(burst, tokens + (now - last) * rate)
                last = now
                if tokens < 1.0:
                    time.sleep((1.0 - tokens) / rate)
                    now = clock()
                    tokens = min(burst, tokens + (now - last) * rate)
                    last = now
            tokens -= 1.0
            yield item
    except GeneratorExit:
        close_sync(it)
        raise


async def _limit_async(source: AsyncIterable[T], rate: float, burst: int) -> AsyncIterator[T]:
    it = source.__aiter__()
    clock = time.monotonic
    tokens = float(burst)
    last = clock()
    try:
        async for item in it:
            if tokens < 1.0:
                now = clock()
                tokens = min(burst, tokens + (now - last) * rate)
                last = now
                if tokens < 1.0:
                    await asyncio.sleep((1.0 - tokens) / rate)
                    now = clock()
                    tokens = min(burst, tokens + (now - last) * rate)
                    last = now
            tokens -= 1.0
            yield item
    except GeneratorExit:
        await close_async(it)
        raise
