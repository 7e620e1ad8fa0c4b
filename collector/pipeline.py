"""Ingest pipeline: a bounded queue between the receivers and one batching writer thread.

Receivers call :meth:`Ingestor.submit`, which either raises :class:`Overloaded` at once (answer 503 with
``Retry-After``; memory never grows past the bound), :class:`BatchTooLarge` for a batch larger than the whole
queue (413), or returns a :class:`Ticket`. The writer coalesces queued
batches into one transaction; a ticket completes only after its transaction has committed, and receivers
acknowledge only then. Stores ignore duplicates, so a client retrying an unacknowledged export is safe.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import chain

from streamscope.collector.metrics import CollectorMetrics, Observation
from streamscope.collector.model import IngestBatch
from streamscope.collector.store import SpanStore

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The ingest queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("the ingest queue is full; retry later.")
        self.retry_after = retry_after


class BatchTooLarge(Exception):
    """A batch with more rows than the whole queue holds: it could never be queued, so retrying cannot help."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"the request decodes to {rows} rows (spans, streams and chunks), more than the ingest queue's "
            f"{limit}; send smaller batches."
        )


class Ticket:
    __slots__ = ("_done", "batch", "error", "received_at", "size", "spans")

    def __init__(self, batch: IngestBatch, size: int, spans: int) -> None:
        self.batch = batch
        self.size = size
        self.spans = spans
        self.received_at = time.monotonic()
        self.error: BaseException | None = None
        self._done = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """True when the batch is durably stored; raises the store's error if the write failed."""
        if not self._done.wait(timeout):
            return False
        if self.error is not None:
            raise self.error
        return True

    def _finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self._done.set()


class Ingestor:
    def __init__(
        self,
        store: SpanStore,
        metrics: CollectorMetrics | None = None,
        *,
        max_queue_rows: int = 100_000,
        max_batch_rows: int = 20_000,
        writers: int = 1,
        gather: bool = False,
        linger: float = 0.0,
        linger_rows: int = 0,
    ) -> None:
        """``writers`` threads take batches from the queue; with more than one, a store that can accept a write
        while another is in progress (the writer process) gets the next batch without waiting for the last
        commit. With ``gather``, a writer that took less than ``max_batch_rows`` keeps gathering queued batches
        while another write is in flight and starts its write when that one ends (or its batch is full): a
        store whose every write has a large fixed cost (ClickHouse: a statement and a part per table) then
        writes a few large batches instead of many small ones side by side, yet the next write is ready the
        moment the last one ends. One writer gathers at a time.

        ``linger`` (seconds, with ``gather``): once no write is in flight, a batch of fewer than ``linger_rows``
        rows waits up to that long for more. Without it a write holds what arrived while the last one was in
        flight, which under a steady load is about half the requests in flight (those of the last write are
        answered only when it ends, and come back while the next one runs); the linger lets them join."""
        self.store = store
        self.metrics = metrics or CollectorMetrics()
        self.max_queue_rows = max_queue_rows
        self.max_batch_rows = max_batch_rows
        self._queue: deque[Ticket] = deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._gather = gather
        self._linger = linger if gather else 0.0
        self._linger_rows = linger_rows
        self._gathering = threading.Lock() if gather else contextlib.nullcontext()
        self._writing = 0  # writes in flight
        self.paused = threading.Event()  # tests: hold the writer to fill the queue
        #: called before each write; what it raises fails the write's requests (503) instead (retention.admit)
        self.admit: Callable[[], None] | None = None
        # a store that writes in another process can make the metric observations there, off this process's GIL
        self._write_observed: Callable[[IngestBatch], Observation] | None = getattr(
            store, "write_observed", None
        )
        self._threads = [threading.Thread(target=self._run, name=f"streamscope-writer-{i}", daemon=True)
                         for i in range(max(1, writers))]  # fmt: skip
        for t in self._threads:
            t.start()

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def submit(self, batch: IngestBatch, spans: int | None = None) -> Ticket:
        """Queue a batch (``spans``: how many received spans it stands for, for the stored counter). Raises
        :class:`Overloaded` when the queue has no room for it now, :class:`BatchTooLarge` when it never will."""
        size = max(1, len(batch))
        with self._cond:
            if self._stopping:
                raise Overloaded(5)
            if size > self.max_queue_rows:
                raise BatchTooLarge(size, self.max_queue_rows)
            if self._queued_rows + size > self.max_queue_rows:
                raise Overloaded(1)
            ticket = Ticket(batch, size, len(batch.spans) if spans is None else spans)
            self._queue.append(ticket)
            self._queued_rows += size
            self.metrics.queue_depth.set(self._queued_rows)
            self._cond.notify()
        return ticket

    def _take(self) -> list[Ticket] | None:
        with self._gathering, self._cond:
            while not self._queue or self.paused.is_set():
                if self._stopping and not self._queue:
                    return None
                self._cond.wait(0.05)
            taken = [self._queue.popleft()]
            rows = taken[0].size
            idle_since: float | None = None  # when no write was in flight any more
            while True:
                while self._queue and rows + self._queue[0].size <= self.max_batch_rows:
                    t = self._queue.popleft()
                    rows += t.size
                    taken.append(t)
                if self._queue or self._stopping:
                    break  # (a batch that would not fit in this one ends the gathering too)
                if self._gather and self._writing:
                    self._cond.wait(0.05)  # woken by a submit or by the end of the write in flight
                    continue
                if rows >= self._linger_rows:
                    break
                now = time.monotonic()
                idle_since = now if idle_since is None else idle_since
                left = idle_since + self._linger - now
                if left <= 0:
                    break
                self._cond.wait(left)  # woken by a submit
            self._writing += 1
            return taken

    def _release(self, taken: list[Ticket]) -> None:
        with self._cond:
            self._writing -= 1
            self._queued_rows -= sum(t.size for t in taken)
            self.metrics.queue_depth.set(self._queued_rows)
            self._cond.notify_all()  # a writer gathering meanwhile may write now

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            if len(taken) == 1:
                merged = taken[0].batch
            else:
                batches = [t.batch for t in taken]
                merged = IngestBatch(
                    spans=tuple(chain.from_iterable(b.spans for b in batches)),
                    streams=tuple(chain.from_iterable(b.streams for b in batches)),
                    chunks=tuple(chain.from_iterable(b.chunks for b in batches)),
                    live=tuple(chain.from_iterable(b.live for b in batches)),
                )
            observed: Observation | None = None
            try:
                if self.admit is not None:
                    self.admit()
                if self._write_observed is not None:
                    observed = self._write_observed(merged)
                else:
                    self.store.write(merged)
            except BaseException as e:  # keep the writer alive; receivers answer 503 and clients retry
                log.exception("store write failed")
                self._release(taken)
                for t in taken:
                    t._finish(e)
                continue
            self._release(taken)
            now = time.monotonic()
            self.metrics.stored.inc(sum(t.spans for t in taken))
            for t in taken:
                self.metrics.ingest_lag.observe(now - t.received_at)
                t._finish()
            try:
                if observed is None:
                    self.metrics.observe_batch(merged)
                else:
                    self.metrics.record(observed)
            except Exception:
                log.exception("metrics update failed")

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._queue and self._queued_rows == 0:
                    return True
            time.sleep(0.005)
        return False

    def close(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.paused.clear()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
