"""Trace summaries and aggregate rows derived off the write path, with no leader.

A ClickHouse write stores its rows and returns (the request is acknowledged); what depends on them is derived
here, by one :class:`Deriver` thread per store, in *passes*: every ``interval`` seconds (or at once when
:meth:`Deriver.settle` asks) a pass takes the trace ids and minute slots that writes marked since the last pass,
re-computes those trace summaries from the stored spans and re-folds those minutes from the streams ``FINAL``
(:class:`~streamscope.collector.store.clickhouse_writer.Writer`'s idempotent, convergent refresh and fold). A hot
minute written by a hundred requests in a pass is folded once, not a hundred times, and no request waits for it.

What a pass derives is idempotent, so collectors need no coordination; the only thing a collector can lose is its
*marks*, when it is killed between acknowledging a write and its next pass. The **sweep** repairs that: on the
first pass and every ``sweep_every`` seconds, each collector compares, for the rows inserted recently (their
``ver`` holds the insert time), the trace summaries' span and stream counts with the stored spans and streams, and
each minute's aggregate count (and each coarser slot's) with the stored streams; a mismatch is derived again.
The first sweep compares the rows of the last ``window_s`` seconds; each later one the rows inserted since the
last sweep that ran to the end began, less ``margin_s``, never more than ``window_s`` (every 10 s over a 15-minute
window, each row was compared ~90 times). Rows of a write slower than ``margin_s`` to commit, or stamped by a clock
that far behind, are left to the first sweep of a collector that starts later. A sweep still reads much of the
tables (the recent trace ids are random: each costs a granule in every part of ``spans``), so it runs every 30 s:
only a killed collector's marks need it. So trace summaries and aggregates converge once a pass ran after the
write (within ``interval`` on a live collector, within ``sweep_every`` on the surviving ones after a ``kill -9``).
The sweep also compares the recent traces' copies by session with their summaries (``clickhouse_sessions``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from streamscope.collector import aggregates as agg
from streamscope.collector.model import NS
from streamscope.collector.store import clickhouse_sessions as sessions
from streamscope.collector.store.clickhouse_writer import FIRST_WINS, Writer

log = logging.getLogger(__name__)


class Deriver:
    def __init__(self, writer: Writer, *, interval: float = 1.0, sweep_every: float = 30.0,
                 window_s: float = 900.0, margin_s: float = 60.0,
                 clock: Callable[[], int] = time.time_ns) -> None:  # fmt: skip
        self._w = writer
        self.interval = interval
        self.sweep_every = sweep_every
        self.window_s = window_s
        self.margin_s = margin_s
        self._swept_at: int | None = None  # clock at the start of the last sweep that ran to the end
        self._clock = clock
        self._cond = threading.Condition()
        self._traces: set[str] = set()
        self._minutes: set[int] = set()
        self._wake = False
        self._closing = False
        self._started = 0  # passes started
        self._done = 0  # the number of the last pass finished
        self._error: BaseException | None = None  # of pass number self._done
        self._next_sweep = 0.0  # monotonic time of the next sweep: the first pass sweeps
        self._thread: threading.Thread | None = None

    def mark(self, trace_ids: Iterable[str], minutes: Iterable[int]) -> None:
        """Stored rows of these traces and minute slots: the next pass derives them."""
        with self._cond:
            self._traces.update(trace_ids)
            self._minutes.update(minutes)
            # the thread starts at the first write: a store that never writes (a dashboard) never sweeps
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._run, name="clickhouse-derive", daemon=True)
                self._thread.start()

    def settle(self, timeout: float = 120.0) -> None:
        """Return once a pass that started after this call has finished (so everything written before the call
        is in the trace summaries and aggregates); raise that pass's error."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._thread is None:
                return
            target = self._started + 1
            self._wake = True
            self._cond.notify_all()
            while self._done < target:
                if not self._thread.is_alive():
                    raise RuntimeError("the derive thread has stopped")
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no derive pass finished within {timeout:g} s")
            if self._error is not None:
                raise self._error

    def close(self, timeout: float = 60.0) -> None:
        """Run a last pass over what is marked, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while True:
            with self._cond:
                if not self._wake and not self._closing:
                    self._cond.wait(self.interval if not failing else max(1.0, self.interval))
                self._wake = False
                closing = self._closing
                traces, minutes = self._traces, self._minutes
                self._traces, self._minutes = set(), set()
                self._started += 1
                number = self._started
            error: BaseException | None = None
            try:
                self.run_pass(traces, minutes)
                failing = False
            except Exception as e:  # the store is down or failing: keep the marks for the next pass
                error = e
                if not failing:
                    log.warning("deriving trace summaries and aggregates failed (retried): %s", e)
                failing = True
                with self._cond:
                    self._traces |= traces
                    self._minutes |= minutes
            with self._cond:
                self._done, self._error = number, error
                self._cond.notify_all()
            if closing:
                return

    def run_pass(self, traces: set[str], minutes: set[int]) -> None:
        forget: set[int] = set()
        left: dict[str, set[str]] = {}
        swept: int | None = None
        if time.monotonic() >= self._next_sweep:
            swept = self._clock()
            since = swept - int(self.window_s * NS)
            if self._swept_at is not None:  # rows inserted before the last sweep began were compared by it
                since = max(since, self._swept_at - int(self.margin_s * NS))
            stale_traces, forget = self.stale(since)
            left = self.stale_sessions(since)
            traces |= stale_traces | set(left)
            minutes -= forget
            self._next_sweep = time.monotonic() + self.sweep_every
        if traces:
            self._w.refresh_traces(sorted(traces), left)
        if minutes:
            self._w.fold(minutes)
        if forget:  # a stale slot may also hold rows of deleted streams: keys it lost are emptied
            self._w.fold(forget, forget=True)
        if swept is not None:
            self._swept_at = swept

    def _recent(self, since_ns: int) -> str:
        """The trace ids of spans and streams inserted since ``since_ns`` (a subquery)."""
        v = FIRST_WINS - since_ns  # ver falls with the insert time: recent rows have ver <= v
        return (f"SELECT trace_id FROM {self._w.t('spans')} WHERE ver <= {v}"
                f" UNION ALL SELECT trace_id FROM {self._w.t('streams')} WHERE ver <= {v}")  # fmt: skip

    def stale_sessions(self, since_ns: int) -> dict[str, set[str]]:
        """Traces with rows inserted since ``since_ns`` whose copies by session disagree with their summary:
        trace id -> the sessions of its live copies (``clickhouse_sessions``)."""
        return sessions.stale(lambda sql: self._w.c.query(sql).result_rows, self._w.t, self._recent(since_ns))

    def stale(self, since_ns: int) -> tuple[set[str], set[int]]:
        """Trace ids and minute slots, among those with rows inserted since ``since_ns``, whose derived rows
        disagree with the stored rows (counts compared in the server, nothing read row by row)."""
        t, c = self._w.t, self._w.c
        v = FIRST_WINS - since_ns  # ver falls with the insert time: recent rows have ver <= v
        recent = self._recent(since_ns)
        traces = {tid for (tid,) in c.query(
            # distinct span ids: what FINAL would count (spans are sorted by (trace_id, span_id); a write skips a
            # stored stream), without merging the parts' rows, as the refresh counts them
            f"SELECT s.trace_id FROM (SELECT trace_id, uniqExact(span_id) AS n FROM {t('spans')}"
            f" WHERE trace_id IN ({recent}) GROUP BY trace_id) AS s"
            f" LEFT ANY JOIN (SELECT trace_id, span_count, stream_count FROM {t('traces')} FINAL"
            f" WHERE trace_id IN ({recent})) AS r ON s.trace_id = r.trace_id"
            f" LEFT ANY JOIN (SELECT trace_id, uniqExact(span_id) AS m FROM {t('streams')}"
            f" WHERE trace_id IN ({recent}) GROUP BY trace_id) AS x ON s.trace_id = x.trace_id"
            " WHERE r.span_count != s.n OR r.stream_count != x.m"
        ).result_rows}  # fmt: skip
        step = agg.MINUTE * NS
        mins = f"SELECT DISTINCT start_ns - start_ns % {step} FROM {t('streams')} WHERE ver <= {v}"
        minutes = {int(slot) for (slot,) in c.query(
            f"SELECT s.slot FROM (SELECT start_ns - start_ns % {step} AS slot, count() AS n FROM {t('streams')}"
            f" FINAL WHERE slot IN ({mins}) GROUP BY slot) AS s"
            f" LEFT ANY JOIN (SELECT slot_ns AS slot, sum(n) AS m FROM {t('aggregates')} FINAL"
            f" WHERE width = {agg.MINUTE} AND rollup = 0 AND slot_ns IN ({mins}) GROUP BY slot_ns) AS a"
            " ON s.slot = a.slot WHERE s.n != a.m"
        ).result_rows}  # fmt: skip
        # a coarser slot disagreeing with its minute rows: fold one of its minutes (the fold re-derives the slot)
        for width in agg.TIERS[1:]:
            wide = width * NS
            outer = f"SELECT DISTINCT start_ns - start_ns % {wide} FROM {t('streams')} WHERE ver <= {v}"
            minutes |= {int(slot) for (slot,) in c.query(
                f"SELECT f.slot FROM (SELECT slot_ns - slot_ns % {wide} AS slot, sum(n) AS n FROM {t('aggregates')}"
                f" FINAL WHERE width = {agg.MINUTE} AND rollup = 0 AND slot IN ({outer}) GROUP BY slot) AS f"
                f" LEFT ANY JOIN (SELECT slot_ns AS slot, sum(n) AS m FROM {t('aggregates')} FINAL"
                f" WHERE width = {width} AND rollup = 0 AND slot_ns IN ({outer}) GROUP BY slot_ns) AS w"
                " ON f.slot = w.slot WHERE f.n != w.m"
            ).result_rows}  # fmt: skip
        return traces, minutes
