"""The span pipeline: a span processor with one bounded queue for spans and chunk batches, drained by a
background thread.

Capacity is counted in spans (a chunk batch counts as its number of chunks), so one queue size bounds memory
whatever mix arrives. When the queue is full the item is dropped, the drop is counted (:attr:`dropped_spans`)
and logged once; nothing is dropped silently. Export failures are counted as :attr:`failed_spans`.

Streams in flight: a stream recorder registers itself with :meth:`SpanPipeline.watch` when it starts. Every
``live_interval`` seconds the export thread asks each registered stream for the chunks it recorded since the last
time (:meth:`LiveSource.live_batch`) and exports them, so a collector sees a stream while it runs. The consumer's
thread never takes part: it only appends chunk records. A stream unregisters itself when it finishes
(:meth:`SpanPipeline.unwatch`); its final batch then carries only the chunks not yet exported. ``live_interval=0``
(or a synchronous pipeline) turns this off, and every chunk span is exported when its stream ends.

``synchronous=True`` exports on the caller's thread instead (used by :func:`streamscope.testing.capture_spans`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.exporters import BatchExporter

logger = logging.getLogger("streamscope.export")

DEFAULT_MAX_QUEUE_SIZE = 1_000_000
DEFAULT_MAX_EXPORT_BATCH_SIZE = 8192
DEFAULT_SCHEDULE_DELAY = 0.5
DEFAULT_LIVE_INTERVAL = 1.0


class LiveSource(Protocol):
    """A stream in flight, as the export thread sees it."""

    def live_batch(self) -> ChunkBatch | None:
        """The chunks recorded since the last call (None if there are none). Called on the export thread only."""
        ...


class Deferred:
    """Work handed to the export thread (e.g. finishing a stream: rollups, span end, chunk batch)."""

    __slots__ = ("fn", "size")

    def __init__(self, fn: Callable[[], object], size: int) -> None:
        self.fn = fn
        self.size = size

    def __len__(self) -> int:
        return self.size


_Item = ReadableSpan | ChunkBatch | Deferred


class SpanPipeline(SpanProcessor):
    """Queue + worker thread in front of a :class:`BatchExporter`."""

    def __init__(
        self,
        exporter: BatchExporter,
        *,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        max_export_batch_size: int = DEFAULT_MAX_EXPORT_BATCH_SIZE,
        schedule_delay: float = DEFAULT_SCHEDULE_DELAY,
        live_interval: float = 0.0,
        synchronous: bool = False,
    ) -> None:
        self.exporter = exporter
        self.max_queue_size = max_queue_size
        self.max_export_batch_size = max(1, max_export_batch_size)
        self.schedule_delay = schedule_delay
        self.synchronous = synchronous
        self.live_interval = 0.0 if synchronous else max(0.0, live_interval)
        self.dropped_spans = 0
        self.failed_spans = 0
        self.exported_spans = 0
        self._queue: deque[_Item] = deque()
        self._queued = 0
        self._enqueued_seq = 0
        self._done_seq = 0
        self._flush = False
        self._stopping = False
        self._shut = False
        self._warned_drop = False
        self._live: dict[int, LiveSource] = {}
        self._next_live = 0.0
        self._rearm = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        if not synchronous:
            self._thread = threading.Thread(target=self._run, name="streamscope-export", daemon=True)
            self._thread.start()

    # -- intake ------------------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None or not ctx.trace_flags.sampled:
            return
        self._offer(span, 1)

    def submit_chunks(self, batch: ChunkBatch) -> bool:
        """Queue a stream's chunk spans; False (and counted as dropped) if they do not fit."""
        return self._offer(batch, len(batch))

    def defer(self, fn: Callable[[], object], size: int, *, soon: bool = False) -> bool:
        """Run ``fn`` on the export thread (False if it does not fit; the caller then runs it itself).
        ``size`` is the number of spans it will produce, reserved in the queue meanwhile. ``soon``: wake the
        export thread for it if live export ticks faster than it otherwise wakes (a stream's deferred start, so
        its first live slice is not held back by the schedule delay)."""
        if self.synchronous:
            return False
        return self._offer(
            Deferred(fn, size),
            size,
            count_drop=False,
            wake=soon and 0 < self.live_interval < self.schedule_delay,
        )

    def watch(self, source: LiveSource) -> bool:
        """Export ``source``'s chunks periodically while it streams (False when live export is off)."""
        if self.live_interval <= 0:
            return False
        with self._cond:
            if self._shut:
                return False
            if not self._live:
                self._next_live = time.monotonic() + self.live_interval
                if self.live_interval < self.schedule_delay:
                    # the export thread may sleep past the first tick: have it re-arm its timer now (otherwise
                    # it wakes within a schedule delay anyway, before the tick is due)
                    self._rearm = True
                    self._cond.notify()
            self._live[id(source)] = source
        return True

    def unwatch(self, source: LiveSource) -> None:
        """Stop the periodic export of ``source`` (it has finished)."""
        if self._live:
            with self._cond:
                self._live.pop(id(source), None)

    def _live_due(self, final: bool = False) -> list[LiveSource]:
        """The watched streams when a live export is due (or ``final``); called with the lock held."""
        if not self._live:
            return []
        now = time.monotonic()
        if not final and now < self._next_live:
            return []
        self._next_live = now + self.live_interval
        return list(self._live.values())

    def _live_batches(self, sources: Sequence[LiveSource]) -> list[ChunkBatch]:
        batches = []
        for source in sources:
            try:
                batch = source.live_batch()
            except Exception:  # a recorder reports its own failures; this is the last line of defence
                logger.exception("streamscope live export of a stream failed")
                continue
            if batch is not None and len(batch):
                batches.append(batch)
        return batches

    def _offer(self, item: _Item, n: int, count_drop: bool = True, wake: bool = False) -> bool:
        if self.synchronous:
            self._export([item], n)
            return True
        with self._cond:
            if self._shut or self._queued + n > self.max_queue_size:
                if not count_drop:
                    return False
                self.dropped_spans += n
                warn = not self._warned_drop
                self._warned_drop = True
            else:
                self._queue.append(item)
                self._queued += n
                self._enqueued_seq += 1
                if wake:
                    self._rearm = True
                    self._cond.notify()
                elif self._queued >= self.max_export_batch_size:
                    self._cond.notify()
                return True
        if warn:
            logger.warning(
                "streamscope dropped %d span(s): export queue full (max_queue_size=%d) or shut down; "
                "drops are counted in dropped_spans",
                n,
                self.max_queue_size,
            )
        return False

    # -- export ------------------------------------------------------------------------------------------

    def _export(self, items: Sequence[_Item], n: int) -> None:
        for item in items:
            if isinstance(item, Deferred):
                try:
                    item.fn()
                except Exception:
                    logger.exception("streamscope deferred tracing work failed")
        spans = [i for i in items if isinstance(i, ReadableSpan)]
        batches = [i for i in items if isinstance(i, ChunkBatch)]
        n -= sum(len(i) for i in items if isinstance(i, Deferred))
        if not spans and not batches:
            return
        try:
            ok = self.exporter.export(spans, batches)
        except Exception:
            logger.exception("streamscope exporter raised; %d span(s) lost", n)
            ok = False
        if ok:
            self.exported_spans += n
        else:
            self.failed_spans += n

    def _take(self) -> tuple[list[_Item], int, int]:
        items: list[_Item] = []
        n = 0
        while self._queue and n < self.max_export_batch_size:
            item = self._queue.popleft()
            items.append(item)
            n += len(item) if isinstance(item, (ChunkBatch, Deferred)) else 1
        self._queued -= n
        return items, n, len(items)

    def _wait_timeout(self) -> float:
        if not self._live:
            return self.schedule_delay
        return max(0.0, min(self.schedule_delay, self._next_live - time.monotonic()))

    def _run(self) -> None:
        final_live_done = False
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: (
                        self._stopping
                        or self._flush
                        or self._rearm
                        or self._queued >= self.max_export_batch_size
                    ),
                    timeout=self._wait_timeout(),
                )
                self._rearm = False
                items, n, count = self._take()
                if self._stopping:
                    # one last live export at shutdown: chunks of streams still running are not lost
                    live = [] if final_live_done or items else self._live_due(final=True)
                    final_live_done = final_live_done or not items
                else:
                    live = self._live_due()
                if not items and not live:
                    self._flush = False
                    self._cond.notify_all()
                    if self._stopping:
                        return
                    continue
            # Live slices go first: a stream's in-flight chunks leave before its final batch and span.
            batches = self._live_batches(live) if live else []
            if batches:
                items = [*batches, *items]
                n += sum(len(b) for b in batches)
            if items:
                self._export(items, n)
            with self._cond:
                self._done_seq += count
                self._cond.notify_all()

    # -- control -----------------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self.synchronous or self._thread is None:
            return True
        deadline = time.monotonic() + timeout_millis / 1000
        with self._cond:
            while True:  # deferred work enqueues more items: repeat until nothing new arrived
                target = self._enqueued_seq
                self._flush = True
                self._cond.notify_all()
                done = functools.partial(self._flushed_up_to, target)
                if not self._cond.wait_for(done, timeout=max(0.0, deadline - time.monotonic())):
                    return False
                if self._enqueued_seq == target:
                    return True

    def _flushed_up_to(self, seq: int) -> bool:
        return self._done_seq >= seq

    def shutdown(self, timeout: float = 5.0) -> None:
        if self._shut:
            return
        if self._thread is not None:
            # One last attempt per batch, no retry back-off: a collector that is down must not hold up exit.
            stop = getattr(self.exporter, "stop_retrying", None)
            if stop is not None:
                stop()
            self.force_flush(int(timeout * 1000))
            with self._cond:
                self._stopping = True
                self._shut = True
                self._cond.notify_all()
            self._thread.join(timeout)
        self._shut = True
        try:
            self.exporter.shutdown()
        except Exception:
            logger.exception("streamscope exporter failed to shut down")
