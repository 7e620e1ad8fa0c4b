"""The ClickHouse write path: idempotent inserts, trace summaries and aggregate folds, with no leader.

A write inserts the batch's rows (:meth:`Writer.write`); what depends on them is re-derived from the deduplicated
stored rows off the write path (:meth:`Writer.refresh_traces` and :meth:`Writer.fold`, run by
``clickhouse_derive``):

* rows: spans, streams, chunks and live reports go to ``ReplacingMergeTree`` tables whose sorting key is the
  row's identity and whose ``ver`` falls with time, so the first write of a row wins at read (``FINAL``) and at
  merge. Streams already stored, and chunks stored in another day partition than the write's, are skipped
  before the insert (a re-delivered stream may differ in its start and so land in another day partition, where
  ``FINAL`` would not collapse it; a chunk's day is the writer's, so a copy in the same day collapses).
* trace summaries of the touched traces are re-computed from the stored spans (what the pure
  :func:`~streamscope.collector.rollup.rollup_trace` of every store computes, folded in ClickHouse so that only
  one row per trace is read back) and inserted with a growing ``ver``, after their copies by session
  (``clickhouse_sessions``);
* aggregate rows of the touched minute slots are *folded* again from the streams ``FINAL`` (never summed by a
  materialized view, which would count a re-delivery twice for ever), and the coarser tiers' slots holding them
  from the minute rows; keys a slot lost get an empty row (``n = 0``) that reads skip.

A fold's ``ver`` is taken before it reads, so among concurrent folds (of any collector) the one with the highest
``ver`` saw every row stored before any other fold began: the rows converge to the stored data without an
application leader, whatever the collectors and however often a batch is re-delivered. A write that fails part-way leaves
part of its batch stored; the exporter's retry of the same batch converges to the state of one good write.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from itertools import compress
from typing import Any, Protocol

from streamscope.collector import aggregates as agg
from streamscope.collector import codec
from streamscope.collector.model import NS, Chunk, IngestBatch, Span, Stream, TraceSummary, status_name
from streamscope.collector.rollup import SpanHead
from streamscope.collector.store.clickhouse_fold import Minute, MinuteCache
from streamscope.collector.store.clickhouse_schema import SESSION_COLUMNS, Layout
from streamscope.collector.store.clickhouse_sessions import copies as session_copies

FIRST_WINS = 1 << 63  # ver = FIRST_WINS - t: the earliest write has the highest version

STREAM_COLUMNS = tuple(f.name for f in dataclasses.fields(Stream))
SPAN_COLUMNS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "status_code",
                "status_message", "service", "attributes", "events", "resource", "scope", "session_id", "user_id")  # fmt: skip
CHUNK_COLUMNS = ("span_id", "idx", "offset", "gap", "kind", "size", "tokens", "content")
LIVE_COLUMNS = ("span_id", "trace_id", "service", "model", "provider", "operation", "start_ns", "last_ns",
                "chunk_count", "last_offset")  # fmt: skip
TRACE_COLUMNS = ("trace_id", "root_name", "service", "start_ns", "end_ns", "status", "span_count", "stream_count",
                 "session_id", "user_id", "waiting_for_root")  # fmt: skip
# what aggregates.AggState.add and key_of read of a stream (a fold reads only these)
FOLD_COLUMNS = ("trace_id", "span_id", "start_ns", "end_ns", "service", "model", "provider", "operation", "outcome",
                "ttft", "time_to_first_chunk", "chunk_count", "gap_p95", "gap_max", "stall_count", "output_tokens",
                "input_tokens", "output_tokens_per_second", "cost_usd")  # fmt: skip
_SPAN_ID, _START_NS = FOLD_COLUMNS.index("span_id"), FOLD_COLUMNS.index("start_ns")
# the span fields a trace summary reads (rollup.SpanHead), as one ClickHouse tuple
_HEAD = "span_id, parent_span_id, name, service, start_ns, end_ns, status_code, session_id, user_id"
AGG_COLUMNS = (
    "width",
    "rollup",
    "slot_ns",
    "service",
    "model",
    "provider",
    "operation",
    "outcome",
    "n",
    "state",
)


class Client(Protocol):
    """The part of ``clickhouse_connect``'s client the store uses."""

    # (*args: Any, **kw: Any): any signature that takes these calls; clickhouse-connect's have many keywords
    def query(self, *args: Any, **kw: Any) -> Any: ...

    def command(self, *args: Any, **kw: Any) -> Any: ...

    def insert(self, *args: Any, **kw: Any) -> Any: ...

    def create_insert_context(self, *args: Any, **kw: Any) -> Any: ...


class Versions:
    """Strictly increasing nanosecond timestamps for this process (ties broken by +1 ns)."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._clock(), self._last + 1)
            return self._last


def _span_cols(spans: Iterable[Span]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in range(len(SPAN_COLUMNS))]
    resources: dict[int, str | None] = {}  # the spans of one OTLP resource share its dict: encode it once
    for s in spans:
        resource = resources.get(id(s.resource), "")
        if resource == "":
            resource = resources[id(s.resource)] = codec.dumps(dict(s.resource)) if s.resource else None
        events = (
            codec.dumps(
                [{"name": e.name, "time_ns": e.time_ns, "attributes": dict(e.attributes)} for e in s.events]
            )
            if s.events
            else None
        )
        row = (s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status_code,
               s.status_message, s.service, codec.dumps(dict(s.attributes)), events,
               resource, s.scope, s.session_id, s.user_id)  # fmt: skip
        for c, v in zip(cols, row, strict=True):
            c.append(v)
    return cols


def chunk_columns(chunks: Sequence[Chunk]) -> list[list[Any]]:
    """The chunk rows (tuples, as the decoder made them) as the table's columns, transposed in C."""
    if not chunks:
        return [[] for _ in CHUNK_COLUMNS]
    return [list(c) for c in zip(*chunks, strict=True)]


def chunk_day(now_ns: int) -> int:
    """The day partition a write's chunk rows go to, as days since 1970-01-01: the UTC day it was written (a chunk
    row carries no time of its own), taken by the writer so that its check for stored chunks can leave that
    partition out. (``Date`` columns take the number as it is: no date object per row.)"""
    return now_ns // (86_400 * NS)


def new_chunk_columns(cols: list[list[Any]], stored: set[tuple[str, int]]) -> list[list[Any]]:
    """``cols`` without the rows whose (span id, index) is in ``stored`` or came earlier in ``cols``: the columns
    as they are when every chunk is new and unique (the usual case, checked with one set), else filtered."""
    keys = list(zip(cols[0], cols[1], strict=True))
    unique = set(keys)
    if len(unique) == len(keys) and unique.isdisjoint(stored):
        return cols
    seen = set(stored)
    keep = []
    for k in keys:
        keep.append(k not in seen)
        seen.add(k)
    return [list(compress(c, keep)) for c in cols]


_EPOCH = date(1970, 1, 1)
ID_PART = 2000  # ids per bound array: ClickHouse's HTTP form fields hold at most 128 KiB by default


def parts(items: Iterable[Any], n: int = ID_PART) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``n`` (sorted, so the same ids meet the same statements)."""
    ordered = sorted(items)
    for i in range(0, len(ordered), n):
        yield ordered[i : i + n]


def _rows_to_cols(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def agg_key_cols(width: int, slot: int, key: agg.Key) -> tuple[Any, ...]:
    """The stored key of an aggregate row (a rolled-in field is stored as '')."""
    service, model, provider, operation, outcome = key
    return (width, agg.rollup_of(key), slot, service or "", model, provider, operation or "", outcome or "")


class Writer:
    def __init__(self, client: Client, layout: Layout, versions: Versions | None = None) -> None:
        self.c = client
        self.layout = layout
        self.versions = versions or Versions()
        self.t = layout.table
        self.insert_settings: dict[str, Any] = {"distributed_foreground_insert": 1} if layout.cluster else {}
        if layout.async_insert:  # still acknowledged only once flushed: wait_for_async_insert
            self.insert_settings.update(async_insert=1, wait_for_async_insert=1)
        self._contexts: dict[str, Any] = {}
        self._ctx_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="clickhouse-writer")
        self.minutes = MinuteCache()

    def _insert(self, table: str, cols: list[list[Any]], names: Sequence[str], ver: int) -> None:
        if not cols or not cols[0]:
            return
        cols = [*cols, [ver] * len(cols[0])]
        with self._ctx_lock:
            ctx = self._contexts.get(table)
            if ctx is None:  # the column types are read once per table, not before every insert
                ctx = self._contexts[table] = self.c.create_insert_context(
                    f"{self.layout.database}.{table}", column_names=[*names, "ver"], column_oriented=True,
                    settings=self.insert_settings)  # fmt: skip
        ctx = copy.copy(ctx)  # one context per insert: inserts of one table may run side by side
        ctx.data = cols
        self.c.insert(context=ctx)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- one batch ---------------------------------------------------------------------------------------------
    def write(self, batch: IngestBatch) -> tuple[set[str], set[int]]:
        """Insert the batch's rows; return what depends on them (trace ids, minute slots) for the deriver.

        Independent statements run side by side (each is a round trip to the server): the one check for stored
        streams and chunks, and the inserts. Trace summaries and aggregates are derived later (``clickhouse_derive``)."""
        if not len(batch):
            return set(), set()
        now = self.versions.next()
        first = FIRST_WINS - now
        pool = self._pool
        streams: dict[str, Stream] = {}
        for st in batch.streams:
            streams.setdefault(st.span_id, st)
        chunks = chunk_columns(batch.chunks)
        day = chunk_day(now)
        # one round trip asks which of the batch's streams and chunks are stored already (a chunk's span id is
        # its stream's, so the two checks share their ids)
        ids = set(streams).union(chunks[0]) if chunks[0] else set(streams)
        stored_f = pool.submit(self._stored, ids, day) if ids else None
        touched: set[str] = set()
        jobs = []
        if batch.spans:
            spans: dict[tuple[str, str], Span] = {}
            for s in batch.spans:
                spans.setdefault((s.trace_id, s.span_id), s)
            jobs.append(pool.submit(self._insert, "spans", _span_cols(spans.values()), SPAN_COLUMNS, first))
            touched.update(tid for tid, _ in spans)
        if batch.live:
            rows = [(lv.span_id, lv.trace_id, lv.service, lv.model, lv.provider, lv.operation, lv.start_ns,
                     lv.last_ns, lv.chunk_count, lv.last_offset) for lv in batch.live]  # fmt: skip
            jobs.append(
                pool.submit(self._insert, "live", _rows_to_cols(rows, len(LIVE_COLUMNS)), LIVE_COLUMNS, first)
            )
        stored_streams, stored_chunks = stored_f.result() if stored_f is not None else (set(), set())
        new_streams = [st for sid, st in streams.items() if sid not in stored_streams]
        if new_streams:
            rows = [tuple(getattr(st, f) for f in STREAM_COLUMNS) for st in new_streams]
            jobs.append(pool.submit(self._insert, "streams", _rows_to_cols(rows, len(STREAM_COLUMNS)),
                                    STREAM_COLUMNS, first))  # fmt: skip
        if chunks[0]:
            cols = new_chunk_columns(chunks, stored_chunks)
            self._insert("chunks", [*cols, [day] * len(cols[0])], (*CHUNK_COLUMNS, "day"), first)
        for j in jobs:
            j.result()
        # Every stream of the batch, stored now or before: a retry after a write that stored its streams and
        # failed before its marks reached the deriver must still derive them.
        touched.update(st.trace_id for st in batch.streams)
        return touched, {agg.slot_of(st.start_ns, agg.MINUTE) for st in batch.streams}

    def _stored(self, ids: set[str], day: int) -> tuple[set[str], set[tuple[str, int]]]:
        """Which of these span ids have a stored stream, and which (span id, index) chunks are stored in a day
        partition other than ``day``, the one this write's chunks go to.

        Both are primary-key look-ups (``stream_ids`` and ``chunks`` are sorted by span id), so a check costs the
        same in a store of any size (reading the span-id bloom filters of ``streams``, sorted by start time, cost
        ~20 ms of server CPU per check at 10M streams). A span id the look-up holds counts as stored only once its
        stream row is found, by its start (a key prefix of ``streams``): a look-up row whose stream is gone (a
        delete or an insert that failed between the two tables) never makes a write skip a stream.

        A chunk stored in ``day``'s partition is not looked for: the copy this write inserts there collapses into
        it (``FINAL`` at read, for good at merge; the first write wins), so the check reads none of the partition
        that every write of the day fills (a granule of each of its parts per span id: after 4 minutes of chunk
        spans at ~80k/s, 178k rows read and 9.3 ms of server CPU per check with it, 20k rows and 6.0 ms without)."""
        found: dict[str, int] = {}
        chunks: set[tuple[str, int]] = set()
        for part in parts(ids):
            rows = self.c.query(
                f"SELECT 0, span_id, start_ns FROM {self.t('stream_ids')} WHERE span_id IN {{ids:Array(String)}}"
                f" UNION ALL SELECT DISTINCT 1, span_id, idx FROM {self.t('chunks')} WHERE span_id IN {{ids:Array(String)}}"
                " AND (day < {day:Date} OR day > {day:Date})",  # (partitions pruned by their day range)
                parameters={"ids": part, "day": _EPOCH + timedelta(days=day)},
            ).result_rows  # fmt: skip
            for what, sid, value in rows:
                if what == 0:
                    found[sid] = value
                else:
                    chunks.add((sid, value))
        streams: set[str] = set()
        for part in parts(found):  # only re-deliveries get here
            streams.update(sid for (sid,) in self.c.query(
                f"SELECT DISTINCT span_id FROM {self.t('streams')} WHERE start_ns IN {{starts:Array(Int64)}}"
                " AND span_id IN {ids:Array(String)}",
                parameters={"starts": sorted({found[sid] for sid in part}), "ids": part},
            ).result_rows)  # fmt: skip
        return streams, chunks

    # -- trace summaries -------------------------------------------------------------------------------------
    def refresh_traces(
        self, trace_ids: Sequence[str], left: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """``left``: trace id -> sessions it may have been copied under (``clickhouse_sessions``)."""
        for part in parts(trace_ids):
            self._refresh_traces(part, left or {})

    def _refresh_traces(self, trace_ids: Sequence[str], left: Mapping[str, Iterable[str]]) -> None:
        """Summarise the traces in ClickHouse: one row per trace comes back however many spans it holds (shipping
        every span's head to fold it here made a write into a trace of 128k spans ~100x slower). The result is
        ``rollup_trace`` over the stored spans: the root is the first root candidate (a span whose parent is not
        in the trace) in ``rollup_trace``'s order, else (a parent cycle) the first span in that order."""
        ver = self.versions.next()  # before reading: see the module docstring
        facts = self._trace_facts(trace_ids, final=False)
        # a trace with two copies of a span (a re-delivery not merged yet, which may differ) again from the
        # first write of each span
        copies = [f[0] for f in facts if f[1] != f[2]]
        if copies:
            again = {f[0]: f for f in self._trace_facts(copies, final=True)}
            facts = [again.get(f[0], f) for f in facts]
        if not facts:
            return
        counts: dict[str, int] = {}
        old: dict[str, int] = {}
        sessions: dict[str, set[str]] = {tid: set(s) for tid, s in left.items()}  # sessions a trace may leave
        # A trace's streams: its distinct stream span ids (what FINAL would count, a write skipping stored streams),
        # without FINAL, which ignores the trace-id bloom filter: at 10M streams it read the whole table per pass.
        # (No bound by the trace's start: a stream stored without its span, a write that failed half-way, may
        # start anywhere.)
        for what, tid, value, session in self.c.query(
            f"SELECT 1, trace_id, uniqExact(span_id), '' FROM {self.t('streams')} WHERE trace_id IN {{ids:Array(String)}}"
            f" GROUP BY trace_id UNION ALL SELECT 2, trace_id, start_ns, ifNull(session_id, '') FROM {self.t('traces')}"
            " FINAL WHERE trace_id IN {ids:Array(String)}", parameters={"ids": [f[0] for f in facts]},
        ).result_rows:  # fmt: skip
            (counts if what == 1 else old)[tid] = int(value)
            if session:
                sessions.setdefault(tid, set()).add(session)
        rows = []
        summaries = []
        for tid, n, _rows, start, end, failed, session, user, candidate, first in facts:
            # argMinIf with no candidate gives the tuple's defaults (an empty span id): a parent cycle
            root = SpanHead(*(candidate if candidate[0] else first))
            s = TraceSummary(
                trace_id=tid, root_name=root.name, service=root.service, start_ns=start, end_ns=end,
                status="error" if failed else status_name(root.status_code), span_count=n,
                stream_count=counts.get(tid, 0), session_id=root.session_id or session or None,
                user_id=root.user_id or user or None, waiting_for_root=root.parent_span_id is not None,
            )  # fmt: skip
            rows.append(tuple(getattr(s, f) for f in TRACE_COLUMNS))
            summaries.append(s)
            before = old.get(tid)
            if before is not None and before // 86_400_000_000_000 != s.start_ns // 86_400_000_000_000:
                self._drop_moved_trace(tid, s.start_ns)
        # the copies by session first: a pass cut short leaves the summary older than its copies (see the module)
        by_session = session_copies(summaries, sessions)
        self._insert("session_traces", _rows_to_cols(by_session, len(SESSION_COLUMNS)), SESSION_COLUMNS, ver)
        self._insert("traces", _rows_to_cols(rows, len(TRACE_COLUMNS)), TRACE_COLUMNS, ver)

    def _trace_facts(self, trace_ids: Sequence[str], *, final: bool) -> list[tuple[Any, ...]]:
        """Per trace: its span count, its rows, then what a summary takes of its spans (see ``_refresh_traces``).

        Read without ``FINAL`` unless ``final``: a span's copies (same trace and span id) collapse only when their
        parts merge, so the span count is the distinct span ids, and the rest is exact as long as a trace has one
        row per span (span count == rows), which the caller checks. ``FINAL`` made the read ~3x the server CPU
        (200 against 70 ms for 700 traces of 64 spans in a table of 17M spans in 29 parts): it merges every column
        the summary reads across the parts, the old ones included, while a span is re-delivered rarely."""
        spans = self.t("spans")
        key = "(isNotNull(parent_span_id), start_ns, span_id)"
        rows: list[tuple[Any, ...]] = self.c.query(
            f"SELECT trace_id, uniqExact(span_id), count(), min(start_ns), max(end_ns), max(status_code = 2),"
            " argMinIf(session_id, (start_ns, span_id), ifNull(session_id, '') != ''),"
            " argMinIf(user_id, (start_ns, span_id), ifNull(user_id, '') != ''),"
            f" argMinIf(head, {key}, candidate), argMin(head, {key}) FROM (SELECT trace_id, span_id, parent_span_id,"
            " start_ns, end_ns, status_code, session_id, user_id,"
            f" ({_HEAD}) AS head, parent_span_id IS NULL OR (trace_id, ifNull(parent_span_id, '')) NOT IN"
            f" (SELECT trace_id, span_id FROM {spans} WHERE trace_id IN {{ids:Array(String)}}) AS candidate"
            f" FROM {spans}{' FINAL' if final else ''} WHERE trace_id IN {{ids:Array(String)}}) GROUP BY trace_id",
            parameters={"ids": list(trace_ids)},
        ).result_rows  # fmt: skip
        return rows

    def _drop_moved_trace(self, trace_id: str, start_ns: int) -> None:
        """A late, earlier span moved a trace into another day partition: drop its rows in the old one (FINAL
        collapses versions within a partition only)."""
        self.delete("traces", "trace_id = {tid:String} AND start_ns != {start:Int64}",
                    {"tid": trace_id, "start": start_ns})  # fmt: skip

    def delete(self, table: str, where: str, parameters: dict[str, Any]) -> None:
        on = f" ON CLUSTER `{self.layout.cluster}`" if self.layout.cluster and self.layout.on_cluster else ""
        self.c.command(f"DELETE FROM {self.layout.local(table)}{on} WHERE {where}", parameters=parameters)

    # -- aggregate folds -------------------------------------------------------------------------------------
    def fold(self, minutes: set[int], *, forget: bool = False) -> None:
        for part in parts(minutes, 500):
            self._fold(set(part), forget)

    def _fold(self, minutes: set[int], forget: bool) -> None:
        """Re-fold the aggregate rows of these minute slots from the stored streams, then the coarser slots
        holding them from the minute rows. ``forget``: streams were deleted, so keys a slot no longer has get an
        empty row (writes only ever add streams, so their folds skip that read). A minute this writer folded
        recently is folded incrementally (``clickhouse_fold``); a forget fold starts from scratch."""
        if not minutes:
            return
        with self.minutes.lock:
            ver = self.versions.next()
            now = time.time_ns()  # before the reads: the next incremental read starts here (less a margin)
            if forget:
                self.minutes.forget(minutes)
            cached = {m for m in minutes if self.minutes.get(m) is not None}
            fresh = minutes - cached
            if fresh:
                stored: dict[int, list[Stream]] = {m: [] for m in fresh}
                for st in self._read_streams(fresh, since_ns=None):
                    stored[agg.slot_of(st.start_ns, agg.MINUTE)].append(st)
                for m, streams in stored.items():
                    built = Minute(now)
                    built.add(streams)
                    self.minutes.put(m, built)
            if cached:
                since = self.minutes.since_ns(cached)
                new: dict[int, list[Stream]] = {}
                for st in self._read_streams(cached, since_ns=since):
                    new.setdefault(agg.slot_of(st.start_ns, agg.MINUTE), []).append(st)
                for m in cached:
                    known = self.minutes.get(m)
                    assert known is not None
                    known.add(new.get(m, ()))
                    known.read_ns = now
            folded: dict[agg.RowKey, agg.AggState] = {}
            for m in minutes:
                minute = self.minutes.get(m)
                assert minute is not None
                folded.update(minute.states)
            self.minutes.trim(now)
            self._replace(folded, {agg.MINUTE: minutes} if forget else {}, ver)
        # The coarser folds take their version only now, after this writer's minute rows are stored.
        ver = self.versions.next()
        top = agg.TIERS[-1]
        hours = {agg.slot_of(s, top) for s in minutes}
        rows = self.read_rows(agg.MINUTE, hours, top)
        states: dict[agg.RowKey, agg.AggState] = {}
        touched: dict[int, set[int]] = {}
        for width in agg.TIERS[1:]:
            slots = touched[width] = {agg.slot_of(s, width) for s in minutes}
            states.update(agg.rollup((r for r in rows if agg.slot_of(r.slot_ns, width) in slots), width))
        self._replace(states, touched if forget else {}, ver)

    def _read_streams(self, minutes: set[int], since_ns: int | None) -> list[Stream]:
        """The stored streams of these minute slots (the first write of each), or only those inserted since
        ``since_ns`` (without ``FINAL``: the first write of each span id among them) that the cached minute has
        not folded yet. An incremental read sees each stream again on every pass within the cache's margin (10
        passes of a hot minute): a ``Stream`` is built only for the span ids its minute lacks (building one
        costs ~5 us, about 7x reading its row)."""
        step = agg.MINUTE * NS
        where = (f" WHERE start_ns >= {{lo:Int64}} AND start_ns < {{hi:Int64}}"
                 f" AND (start_ns - start_ns % {step}) IN {{slots:Array(Int64)}}")  # fmt: skip
        params: dict[str, Any] = {"lo": min(minutes), "hi": max(minutes) + step, "slots": sorted(minutes)}
        cols = ", ".join(FOLD_COLUMNS)
        if since_ns is None:
            sql = f"SELECT {cols} FROM {self.t('streams')} FINAL{where}"
            return [Stream(**dict(zip(FOLD_COLUMNS, r, strict=True)))
                    for r in self.c.query(sql, parameters=params).result_rows]  # fmt: skip
        # ver falls with the insert time; the highest ver of a span id is its first write, as FINAL keeps
        sql = (f"SELECT {cols} FROM {self.t('streams')}{where} AND ver <= {{v:UInt64}}"
               " ORDER BY ver DESC LIMIT 1 BY span_id")  # fmt: skip
        params["v"] = FIRST_WINS - since_ns
        columns = self.c.query(sql, parameters=params).result_columns
        if not columns or not columns[0]:
            return []
        known = {m: minute.ids for m in minutes if (minute := self.minutes.get(m)) is not None}
        empty: set[str] = set()
        new = [i for i, (sid, start) in enumerate(zip(columns[_SPAN_ID], columns[_START_NS], strict=True))
               if sid not in known.get(start - start % step, empty)]  # fmt: skip
        return [
            Stream(**{name: col[i] for name, col in zip(FOLD_COLUMNS, columns, strict=True)}) for i in new
        ]

    def read_rows(self, width: int, slots: set[int], outer: int) -> list[agg.Aggregate]:
        """Stored rows of tier ``width`` inside the ``outer``-wide slots ``slots`` (every row set)."""
        span = outer * NS
        res = self.c.query(
            "SELECT width, slot_ns, if(rollup < 2, service, NULL), model, provider, if(rollup = 0, operation, NULL),"
            f" if(rollup = 0, outcome, NULL), state FROM {self.t('aggregates')} FINAL WHERE width = {{w:UInt32}}"
            " AND slot_ns >= {lo:Int64} AND slot_ns < {hi:Int64}"
            f" AND (slot_ns - slot_ns % {span}) IN {{slots:Array(Int64)}} AND n > 0",
            parameters={"w": width, "lo": min(slots), "hi": max(slots) + span, "slots": sorted(slots)},
            column_formats={"state": "bytes"},
        )
        return [agg.Aggregate(*r) for r in res.result_rows]

    def _replace(self, states: dict[agg.RowKey, agg.AggState], forget: dict[int, set[int]], ver: int) -> None:
        """Write these rows; for the slots in ``forget`` (width -> slots), keys stored before but absent now get
        an empty row."""
        rows: dict[tuple[Any, ...], tuple[int, bytes]] = {}
        for (w, slot, key), st in states.items():
            rows[agg_key_cols(w, slot, key)] = (st.n, st.to_bytes())
        for width, slots in forget.items():
            stored = self.c.query(
                f"SELECT rollup, slot_ns, service, model, provider, operation, outcome FROM {self.t('aggregates')}"
                " FINAL WHERE width = {w:UInt32} AND slot_ns IN {slots:Array(Int64)} AND n > 0",
                parameters={"w": width, "slots": sorted(slots)},
            ).result_rows
            for rollup, slot, *key in stored:
                rows.setdefault((width, rollup, slot, *key), (0, b""))
        flat = [(*k, n, data) for k, (n, data) in rows.items()]
        self._insert("aggregates", _rows_to_cols(flat, len(AGG_COLUMNS)), AGG_COLUMNS, ver)
