"""A bounded hand-off from a producer thread to the consuming thread (used by sync buffer and timeout)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from streamscope.engine.flow._stage import close_sync
from streamscope.engine.runnables.base import closing_because

__all__ = ["BufferStats", "Empty", "ThreadFeed"]


class Empty(Exception):
    """Raised by :meth:`ThreadFeed.get` when its timeout passed with nothing to take."""


class BufferStats:
    """Live counters of one buffered stream (``max_occupancy`` never exceeds ``maxsize``)."""

    __slots__ = ("consumed", "max_occupancy", "maxsize", "produced")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.max_occupancy = 0
        self.produced = 0
        self.consumed = 0

    def __repr__(self) -> str:
        return (
            f"<BufferStats maxsize={self.maxsize} max_occupancy={self.max_occupancy} "
            f"produced={self.produced} consumed={self.consumed}>"
        )


class ThreadFeed:
    """A daemon thread pulls ``source`` into a deque of at most ``stats.maxsize`` items.

    The producer blocks while the deque is full, so a slow consumer slows the producer instead of growing
    memory. The thread runs in a copy of the caller's context (ContextVars such as the engine's config
    travel with it). :meth:`stop` asks the producer to stop at its next hand-off and close ``source``.
    """

    def __init__(self, source: Iterable[Any], stats: BufferStats) -> None:
        self.stats = stats
        self.items: deque[Any] = deque()
        self.error: BaseException | None = None
        self._cond = threading.Condition(threading.Lock())
        self.low_water = stats.maxsize // 2  # wake a waiting producer once half the room is free
        self._done = False
        self._stopped = False
        self._stop_reason = "abandoned"
        self._consumer_waiting = False
        self.producer_waiting = False
        ctx = contextvars.copy_context()
        self._thread = threading.Thread(
            target=ctx.run, args=(self._produce, source), name="streamscope-flow-feed", daemon=True
        )
        self._thread.start()

    # Hand-off protocol (lock-free on the fast path): each side first *publishes* that it is about to wait
    # (a flag set under the lock), then re-checks the deque, then waits; the other side first changes the
    # deque, then reads the flag and notifies under the lock. Either the waiter sees the change or the
    # changer sees the flag, so no wake-up is lost.

    def _produce(self, source: Iterable[Any]) -> None:
        it = iter(source)
        cond = self._cond
        items = self.items
        stats = self.stats
        maxsize = stats.maxsize
        try:
            for item in it:
                if len(items) >= maxsize:
                    with cond:
                        while len(items) >= maxsize and not self._stopped:
                            self.producer_waiting = True
                            cond.wait()
                        self.producer_waiting = False
                if self._stopped:
                    break
                items.append(item)
                stats.produced += 1
                if len(items) > stats.max_occupancy:
                    stats.max_occupancy = len(items)
                if self._consumer_waiting:
                    with cond:
                        self._consumer_waiting = False  # one wake-up per wait, not one per item
                        cond.notify()
        except BaseException as exc:  # handed to the consumer, re-raised there
            self.error = exc
        finally:
            if self._stopped:
                # an abandoned source must not raise in a daemon thread
                with contextlib.suppress(Exception), closing_because(self._stop_reason):
                    close_sync(it)
            with cond:
                self._done = True
                cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """Next item; raises ``StopIteration`` at the end, the producer's exception, or :class:`Empty`."""
        items = self.items
        if not items:
            self._wait(timeout)
            if not items:
                if self.error is not None:
                    err, self.error = self.error, None
                    raise err
                raise StopIteration
        item = items.popleft()
        if self.producer_waiting and len(items) <= self.low_water:
            self.wake_producer()
        return item

    def wake_producer(self) -> None:
        """Wake a producer waiting for room (for consumers that pop from :attr:`items` themselves)."""
        with self._cond:
            self.producer_waiting = False  # one wake-up per wait, not one per item
            self._cond.notify()

    def _wait(self, timeout: float | None) -> None:
        """Wait until an item is there or the producer is done; raise :class:`Empty` on timeout."""
        cond = self._cond
        deadline = None if timeout is None else time.monotonic() + timeout
        with cond:
            try:
                while not self.items and not self._done:
                    self._consumer_waiting = True
                    if self.producer_waiting:  # it waits for room that a lock-free pop made: wake it
                        self.producer_waiting = False
                        cond.notify()
                    if deadline is None:
                        cond.wait()
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise Empty
                    cond.wait(remaining)
            finally:
                self._consumer_waiting = False

    def stop(self, reason: str = "abandoned") -> None:
        """Ask the producer to stop and close the source, which then ends with ``reason`` (``abandoned``,
        ``timeout``, ...); does not wait for a blocked source."""
        with self._cond:
            self._stop_reason = reason
            self._stopped = True
            self.items.clear()
            self._cond.notify_all()
