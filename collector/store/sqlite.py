"""SQLite (WAL) SpanStore: the embedded default. Every SQL detail of this dialect stays in this module.

One writer connection (writes are serialised by a lock and committed with ``synchronous=FULL`` by default, so a
returned ``write`` survives ``kill -9`` and power loss); readers get one connection per thread and never block
the writer (WAL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from streamscope.collector import aggregates as agg
from streamscope.collector import codec
from streamscope.collector.model import (
    Chunk,
    Cursor,
    ErrorRow,
    Filters,
    IngestBatch,
    LiveStream,
    SessionSummary,
    Span,
    SpanEvent,
    Stream,
    TraceSummary,
    by_stream,
)
from streamscope.collector.rollup import SpanHead, ascii_lower, rollup_trace
from streamscope.collector.store import chunk_blocks, sqlite_views

WAL_SIZE_LIMIT = 64 * 1024 * 1024
AGG_CACHE_ROWS = 20_000  # aggregate rows the writer keeps decoded (the current slots of every key)
SEAL_GRACE_S = 300  # a coarser slot is sealed once it ended this long ago (streams usually arrive by then)
STREAM_COLUMNS = tuple(f.name for f in dataclasses.fields(Stream))
TRACE_COLUMNS = tuple(f.name for f in dataclasses.fields(TraceSummary))

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, name TEXT NOT NULL,
    kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL, status_message TEXT NOT NULL, service TEXT NOT NULL,
    attributes TEXT NOT NULL, events TEXT, resource TEXT, scope TEXT NOT NULL,
    session_id TEXT, user_id TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_trace_span ON spans(trace_id, span_id);
CREATE TABLE IF NOT EXISTS streams (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "span_id" else "") for c in STREAM_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS streams_start ON streams(start_ns, span_id);
CREATE INDEX IF NOT EXISTS streams_trace ON streams(trace_id);
CREATE TABLE IF NOT EXISTS chunk_blocks (
    span_id TEXT NOT NULL, lo INTEGER NOT NULL, n INTEGER NOT NULL, idx BLOB, offsets BLOB NOT NULL,
    gaps BLOB NOT NULL, kinds BLOB NOT NULL, sizes BLOB NOT NULL, tokens BLOB NOT NULL, contents BLOB NOT NULL,
    PRIMARY KEY (span_id, lo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY, root_name TEXT NOT NULL, service TEXT NOT NULL, start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL, status TEXT NOT NULL, span_count INTEGER NOT NULL, stream_count INTEGER NOT NULL,
    session_id TEXT, user_id TEXT, waiting_for_root INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS traces_start ON traces(start_ns, trace_id);
CREATE TABLE IF NOT EXISTS live (
    span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, service TEXT NOT NULL, model TEXT NOT NULL,
    provider TEXT NOT NULL, operation TEXT NOT NULL, start_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL, last_offset REAL NOT NULL, prev_count INTEGER NOT NULL, prev_offset REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS live_last ON live(last_ns);
CREATE INDEX IF NOT EXISTS spans_errors ON spans(start_ns) WHERE status_code = 2;
CREATE INDEX IF NOT EXISTS traces_session ON traces(session_id, start_ns) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS traces_user ON traces(user_id, start_ns) WHERE user_id IS NOT NULL;
"""

LIVE_COLUMNS = tuple(f.name for f in dataclasses.fields(LiveStream))

# -- chunk rows are kept in blocks, one row per stream per write (collector/store/chunk_blocks.py)
_INSERT_BLOCK = "INSERT INTO chunk_blocks VALUES (?,?,?,?,?,?,?,?,?,?)"
_first = operator.itemgetter(0)

# -- aggregates (see collector/aggregates.py): one row per tier x row set (rollup) x slot x key, kept in the
# write transaction. Fields rolled into a row are stored as '' and read back as NULL.
# Minute rows are written with the streams. A coarser tier's rows exist for its *sealed* slots (those that
# ended SEAL_GRACE_S before the writer's clock; stream_aggregate_seals holds the first unsealed slot): a write
# seals what became old enough by merging the finer rows, and a late stream for a sealed slot updates that row
# too. Reads of an unsealed slot merge its finer rows. So every transaction touches the minute rows of the keys
# it adds to, not every tier, and the rows are always exactly the stored streams.
AGG_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_aggregate_seals (width INTEGER PRIMARY KEY, sealed_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stream_aggregates (
    width INTEGER NOT NULL, rollup INTEGER NOT NULL, slot_ns INTEGER NOT NULL, service TEXT NOT NULL,
    model TEXT NOT NULL, provider TEXT NOT NULL, operation TEXT NOT NULL, outcome TEXT NOT NULL,
    streams INTEGER NOT NULL, state BLOB NOT NULL,
    PRIMARY KEY (width, rollup, slot_ns, service, model, provider, operation, outcome)
) WITHOUT ROWID;
"""
_AGG_KEY = ("width = ? AND rollup = ? AND slot_ns = ? AND service = ? AND model = ? AND provider = ?"
            " AND operation = ? AND outcome = ?")  # fmt: skip
_AGG_REPLACE = "INSERT OR REPLACE INTO stream_aggregates VALUES (?,?,?,?,?,?,?,?,?,?)"
_AGG_COLS = ("width, slot_ns, CASE WHEN rollup < 2 THEN service END, model, provider,"
             " CASE WHEN rollup = 0 THEN operation END, CASE WHEN rollup = 0 THEN outcome END, state")  # fmt: skip


def _agg_row(width: int, slot: int, key: agg.Key) -> tuple[Any, ...]:
    """The primary key columns of an aggregate row."""
    service, model, provider, operation, outcome = key
    return (width, agg.rollup_of(key), slot, service or "", model, provider, operation or "", outcome or "")

_stream_row = operator.attrgetter(*STREAM_COLUMNS)  # dataclasses.astuple deep-copies every field: slow
_trace_row = operator.attrgetter(*TRACE_COLUMNS)

_INSERT_SPAN = "INSERT OR IGNORE INTO spans VALUES (" + ",".join("?" * 16) + ")"
_INSERT_STREAM = f"INSERT OR IGNORE INTO streams ({','.join(STREAM_COLUMNS)}) VALUES ({','.join('?' * len(STREAM_COLUMNS))})"
# A stream in flight: new, or updated by a later slice (more chunks); never once its stream row exists.
# In DO UPDATE every ``live.*`` is the row's old value, so prev_* take the counts this update replaces.
_UPSERT_LIVE = (
    f"INSERT INTO live ({','.join(LIVE_COLUMNS)}) SELECT {','.join('?' * len(LIVE_COLUMNS))}"
    " WHERE NOT EXISTS (SELECT 1 FROM streams WHERE span_id = ?)"
    " ON CONFLICT(span_id) DO UPDATE SET"
    " prev_count = CASE WHEN excluded.chunk_count > live.chunk_count THEN live.chunk_count ELSE live.prev_count END,"
    " prev_offset = CASE WHEN excluded.chunk_count > live.chunk_count THEN live.last_offset"
    " ELSE live.prev_offset END,"
    " last_ns = CASE WHEN excluded.chunk_count > live.chunk_count THEN max(live.last_ns, excluded.last_ns)"
    " ELSE live.last_ns END,"
    " last_offset = CASE WHEN excluded.chunk_count > live.chunk_count THEN max(live.last_offset, excluded.last_offset)"
    " ELSE live.last_offset END,"
    " chunk_count = max(live.chunk_count, excluded.chunk_count)"
)
_REPLACE_TRACE = (
    f"INSERT OR REPLACE INTO traces ({','.join(TRACE_COLUMNS)}) VALUES ({','.join('?' * len(TRACE_COLUMNS))})"
)
_SPAN_COLS = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, service,"
    " attributes, events, resource, scope, session_id, user_id"
)


def _span_row(s: Span) -> tuple[Any, ...]:
    events = (
        codec.dumps(
            [{"name": e.name, "time_ns": e.time_ns, "attributes": dict(e.attributes)} for e in s.events]
        )
        if s.events
        else None
    )
    return (
        s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status_code,
        s.status_message, s.service, codec.dumps(dict(s.attributes)), events,
        codec.dumps(dict(s.resource)) if s.resource else None, s.scope, s.session_id, s.user_id,
    )  # fmt: skip


def _row_span(r: Sequence[Any]) -> Span:
    events = tuple(
        SpanEvent(e["name"], e["time_ns"], e.get("attributes") or {}) for e in (codec.loads(r[11]) or [])
    )
    return Span(
        trace_id=r[0], span_id=r[1], parent_span_id=r[2], name=r[3], kind=r[4], start_ns=r[5], end_ns=r[6],
        status_code=r[7], status_message=r[8], service=r[9], attributes=codec.loads(r[10]), events=events,
        resource=codec.loads(r[12]), scope=r[13], session_id=r[14], user_id=r[15],
    )  # fmt: skip




def _batched(items: Sequence[str], n: int = 400) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class SQLiteStore:
    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        self.path = path
        self._sync = synchronous.upper()
        self._wlock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._agg_cache: dict[tuple[Any, ...], agg.AggState] = {}  # primary key -> state as stored
        self._agg_version = -1
        self._seals: dict[int, int] = {}  # width -> first unsealed slot (writer's copy, checked like the cache)
        self.clock = time.time_ns  # the writer's clock for sealing (tests move it)
        self._w = self._connect()
        self._w.execute("PRAGMA journal_mode=WAL")
        self._w.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the WAL shrinks back after checkpoints
        had_aggregates = self._w.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stream_aggregates'"
        ).fetchone()
        self._w.executescript(SCHEMA)
        if "waiting_for_root" not in {r[1] for r in self._w.execute("PRAGMA table_info(traces)")}:
            # a database written before traces knew whether their root had arrived (only new rollups set it)
            self._w.execute("ALTER TABLE traces ADD COLUMN waiting_for_root INTEGER NOT NULL DEFAULT 0")
        self._w.executescript(AGG_SCHEMA)
        self._w.executemany(
            "INSERT OR IGNORE INTO stream_aggregate_seals VALUES (?, 0)", [(w,) for w in agg.TIERS[1:]]
        )
        if not had_aggregates and self._w.execute("SELECT 1 FROM streams LIMIT 1").fetchone():
            self.rebuild_aggregates()  # a database written before aggregates existed
        self._migrate_chunks()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute(f"PRAGMA synchronous={self._sync}")
        con.execute("PRAGMA busy_timeout=30000")
        with self._all_lock:
            self._all.append(con)
        return con

    def _r(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            if self._closed:
                raise RuntimeError("store is closed")
            con = self._connect()
            self._local.con = con
        return con

    # -- writing ---------------------------------------------------------------------------------
    def write(self, batch: IngestBatch) -> None:
        if not len(batch):
            return
        with self._wlock:
            con = self._w
            con.execute("BEGIN IMMEDIATE")
            try:
                if batch.spans:
                    con.executemany(_INSERT_SPAN, [_span_row(s) for s in batch.spans])
                if batch.streams:
                    new_streams = self._new_streams(con, batch.streams)
                    con.executemany(_INSERT_STREAM, map(_stream_row, batch.streams))
                    self._add_aggregates(con, new_streams)
                if batch.chunks:
                    self._write_chunks(con, batch.chunks)
                if batch.live:
                    con.executemany(
                        _UPSERT_LIVE, [(*dataclasses.astuple(lv), lv.span_id) for lv in batch.live]
                    )
                if batch.streams:
                    con.executemany(
                        "DELETE FROM live WHERE span_id = ?", [(st.span_id,) for st in batch.streams]
                    )
                touched = sorted({s.trace_id for s in batch.spans} | {st.trace_id for st in batch.streams})
                self._rollup(con, touched)
                con.execute("COMMIT")
            except BaseException:
                self._agg_cache.clear()
                self._seals = {}
                con.execute("ROLLBACK")
                raise

    def _write_chunks(self, con: sqlite3.Connection, chunks: Sequence[Chunk]) -> None:
        groups = by_stream(chunks)  # a Chunk is its row (a tuple in column order)
        have: dict[str, set[int]] = {}
        for part in _batched(list(groups)):
            marks = ",".join("?" * len(part))
            for sid, lo, n, idx in con.execute(
                f"SELECT span_id, lo, n, idx FROM chunk_blocks WHERE span_id IN ({marks})", part
            ):
                have.setdefault(sid, set()).update(chunk_blocks.indices(lo, n, idx))
        rows = [b for sid, group in groups.items() if (b := chunk_blocks.encode(sid, group, have.get(sid))) is not None]
        con.executemany(_INSERT_BLOCK, rows)

    def _migrate_chunks(self) -> None:
        """Databases written before chunk blocks kept a row per chunk in ``chunks``: move them into blocks."""
        con = self._w
        with self._wlock:
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunks'").fetchone():
                    cur = con.execute(
                        'SELECT span_id, idx, "offset", gap, kind, size, tokens, content FROM chunks'
                        " ORDER BY span_id, idx"
                    )
                    carry: list[tuple[Any, ...]] = []
                    while rows := cur.fetchmany(50_000):
                        groups = [list(g) for _, g in itertools.groupby(carry + rows, key=_first)]
                        carry = groups.pop()
                        con.executemany(_INSERT_BLOCK, [chunk_blocks.encode(g[0][0], g, None) for g in groups])
                    if carry:
                        con.execute(_INSERT_BLOCK, chunk_blocks.encode(carry[0][0], carry, None))
                    con.execute("DROP TABLE chunks")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _rollup(self, con: sqlite3.Connection, trace_ids: Sequence[str]) -> None:
        summaries = []
        for part in _batched(trace_ids):
            marks = ",".join("?" * len(part))
            heads: dict[str, list[SpanHead]] = {}
            for r in con.execute(
                "SELECT trace_id, span_id, parent_span_id, name, service, start_ns, end_ns, status_code,"
                f" session_id, user_id FROM spans WHERE trace_id IN ({marks})",
                part,
            ):
                heads.setdefault(r[0], []).append(SpanHead(*r[1:]))
            counts = dict(
                con.execute(
                    f"SELECT trace_id, count(*) FROM streams WHERE trace_id IN ({marks}) GROUP BY trace_id",
                    part,
                ).fetchall()
            )
            for trace_id, hs in heads.items():
                summary = rollup_trace(trace_id, hs, counts.get(trace_id, 0))
                if summary is not None:
                    summaries.append(_trace_row(summary))
        if summaries:
            con.executemany(_REPLACE_TRACE, summaries)

    def delete_before(self, cutoff_ns: int) -> int:
        with self._wlock:
            con = self._w
            con.execute("BEGIN IMMEDIATE")
            try:
                # streams in flight that went silent before the cutoff (their span never came), with their chunks
                con.execute(
                    "DELETE FROM chunk_blocks WHERE span_id IN (SELECT l.span_id FROM live l WHERE l.last_ns < ?"
                    " AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.span_id = l.span_id))",
                    (cutoff_ns,),
                )
                con.execute("DELETE FROM live WHERE last_ns < ?", (cutoff_ns,))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return self._delete_traces("SELECT trace_id FROM traces WHERE start_ns < ?", (cutoff_ns,))

    def delete_oldest(self, n: int) -> int:
        """Retention by size: drop the ``n`` oldest traces (by start) with everything they hold."""
        if n <= 0:
            return 0
        return self._delete_traces(
            "SELECT trace_id FROM traces ORDER BY start_ns, trace_id LIMIT ?", (int(n),)
        )

    def _delete_traces(self, select_sql: str, params: Sequence[Any]) -> int:
        with self._wlock:
            self._agg_cache.clear()
            con = self._w
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("CREATE TEMP TABLE IF NOT EXISTS old_traces (trace_id TEXT PRIMARY KEY)")
                con.execute("DELETE FROM old_traces")
                con.execute(f"INSERT INTO old_traces {select_sql}", params)
                n = con.execute("SELECT count(*) FROM old_traces").fetchone()[0]
                starts = [r[0] for r in con.execute(
                    "SELECT start_ns FROM streams WHERE trace_id IN (SELECT trace_id FROM old_traces)"
                )]  # fmt: skip
                con.execute(
                    "DELETE FROM chunk_blocks WHERE span_id IN (SELECT span_id FROM streams WHERE trace_id IN"
                    " (SELECT trace_id FROM old_traces))"
                )
                for table in ("streams", "spans", "traces"):
                    con.execute(f"DELETE FROM {table} WHERE trace_id IN (SELECT trace_id FROM old_traces)")
                self._recompute_aggregates(con, {agg.slot_of(t, agg.MINUTE) for t in starts})
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return int(n)

    def storage_bytes(self) -> int:
        """Bytes the database occupies on disk (main file + WAL). SQLite reuses freed pages; it does not shrink."""
        if self.path == ":memory:" or self.path.startswith("file::memory:"):
            con = self._r()
            return int(con.execute("PRAGMA page_count").fetchone()[0] * con.execute("PRAGMA page_size").fetchone()[0])
        total = 0
        for p in (self.path, self.path + "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(p)
        return total

    # -- aggregates ------------------------------------------------------------------------------
    def _new_streams(self, con: sqlite3.Connection, streams: Sequence[Stream]) -> list[Stream]:
        """The streams of a batch that ``INSERT OR IGNORE`` will store (first of each span id, not yet stored)."""
        first: dict[str, Stream] = {}
        for st in streams:
            first.setdefault(st.span_id, st)
        ids = list(first)
        for part in _batched(ids):
            marks = ",".join("?" * len(part))
            for (sid,) in con.execute(f"SELECT span_id FROM streams WHERE span_id IN ({marks})", part):
                first.pop(sid, None)
        return list(first.values())

    def _sync_cache(self, con: sqlite3.Connection) -> None:
        """Drop the decoded rows and seals if another connection wrote since (``PRAGMA data_version``)."""
        version = con.execute("PRAGMA data_version").fetchone()[0]
        if version != self._agg_version or len(self._agg_cache) > AGG_CACHE_ROWS or not self._seals:
            self._agg_cache.clear()
            self._seals = dict(con.execute("SELECT width, sealed_ns FROM stream_aggregate_seals"))
            self._agg_version = version

    def _add_aggregates(self, con: sqlite3.Connection, streams: Sequence[Stream]) -> None:
        """Merge new streams into their minute rows (and sealed coarser rows they fall in), then seal what
        became old enough. Current rows come from the write-through cache or from the table."""
        self._sync_cache(con)
        cache, seals = self._agg_cache, self._seals
        touched: dict[tuple[Any, ...], agg.AggState] = {}
        # coarser tiers only where some stream is late (its slot already sealed)
        tiers = [agg.MINUTE, *(w for w in agg.TIERS[1:] if any(agg.slot_of(st.start_ns, w) < seals[w]
                                                                for st in streams))]  # fmt: skip
        for (width, wslot, k), delta in agg.build(streams, tiers).items():
            if width != agg.MINUTE and wslot >= seals[width]:
                continue  # an unsealed slot: reads merge its minute rows
            pk = _agg_row(width, wslot, k)
            state = touched.get(pk)
            if state is None:
                state = cache.get(pk)
                if state is None:
                    old = con.execute(f"SELECT state FROM stream_aggregates WHERE {_AGG_KEY}", pk).fetchone()
                    state = agg.AggState.from_bytes(old[0]) if old is not None else agg.AggState()
                    cache[pk] = state
                touched[pk] = state
            state.merge(delta)  # in place: write() clears the cache if the transaction fails
        if touched:
            con.executemany(_AGG_REPLACE, [(*pk, st.n, st.to_bytes()) for pk, st in touched.items()])
        self._seal(con)

    def _seal(self, con: sqlite3.Connection) -> None:
        """Materialise the coarser rows of slots that ended SEAL_GRACE_S ago (finest tier first)."""
        now = self.clock() - SEAL_GRACE_S * agg.NS
        seals = self._seals
        finer = agg.MINUTE
        for width in agg.TIERS[1:]:
            target = agg.slot_of(now, width)
            if target > seals[width]:
                for rollup in agg.ROLLUPS:
                    rows = self._read_aggregates(con, finer, seals[width], target, None, rollup)
                    self._put_states(con, agg.rollup(rows, width))
                con.execute("UPDATE stream_aggregate_seals SET sealed_ns = ? WHERE width = ?", (target, width))
                seals[width] = target
            finer = width

    def _recompute_aggregates(self, con: sqlite3.Connection, minutes: set[int]) -> None:
        """Rebuild the aggregate rows of these minute slots (from streams) and of the sealed coarser slots
        holding them (from the finer rows)."""
        if not minutes:
            return
        self._sync_cache(con)
        width = agg.TIERS[0]
        step = width * agg.NS
        for slot in sorted(minutes):
            con.execute("DELETE FROM stream_aggregates WHERE width = ? AND slot_ns = ?", (width, slot))
            streams = [Stream(*r) for r in con.execute(
                f"SELECT {','.join(STREAM_COLUMNS)} FROM streams WHERE start_ns >= ? AND start_ns < ?",
                (slot, slot + step),
            )]  # fmt: skip
            self._put_states(con, agg.build(streams, (width,)))
        finer, slots = width, minutes
        for coarser in agg.TIERS[1:]:
            slots = {agg.slot_of(s, coarser) for s in slots}
            for slot in sorted(x for x in slots if x < self._seals[coarser]):
                con.execute("DELETE FROM stream_aggregates WHERE width = ? AND slot_ns = ?", (coarser, slot))
                for rollup in agg.ROLLUPS:
                    rows = self._read_aggregates(con, finer, slot, slot + coarser * agg.NS, None, rollup)
                    self._put_states(con, agg.rollup(rows, coarser))
            finer = coarser
        self._agg_cache.clear()

    @staticmethod
    def _put_states(con: sqlite3.Connection, states: dict[agg.RowKey, agg.AggState]) -> None:
        con.executemany(
            _AGG_REPLACE, [(*_agg_row(w, slot, key), st.n, st.to_bytes()) for (w, slot, key), st in states.items()]
        )

    @staticmethod
    def _read_aggregates(
        con: sqlite3.Connection,
        width: int,
        since_ns: int | None,
        until_ns: int | None,
        filters: Filters | None,
        rollup: int = 0,
    ) -> list[agg.Aggregate]:
        where = ["width = ?", "rollup = ?"]
        p: list[Any] = [width, rollup]
        if since_ns is not None:
            where.append("slot_ns >= ?")
            p.append(since_ns)
        if until_ns is not None:
            where.append("slot_ns < ?")
            p.append(until_ns)
        if filters is not None:
            for col in ("service", "model", "provider", "outcome"):
                val = getattr(filters, col)
                if val is not None:
                    where.append(f"{col} = ?")
                    p.append(val)
        sql = f"SELECT {_AGG_COLS} FROM stream_aggregates WHERE {' AND '.join(where)}"
        return list(map(agg.Aggregate._make, con.execute(sql, p)))

    def aggregates(self, width_s: int, filters: Filters, *, rollup: int = 0) -> list[agg.Aggregate]:
        """Aggregate rows of tier ``width_s`` whose slot starts in ``[since_ns, until_ns)`` and match the key filters."""
        agg.check_filters(filters)
        agg.check_rollup(filters, rollup)
        if width_s not in agg.TIERS:
            raise ValueError(f"no aggregate tier of {width_s} s (tiers: {agg.TIERS})")
        con = self._r()
        con.execute("BEGIN")  # one snapshot for the seal and the rows
        try:
            return self._tier_rows(con, width_s, filters.since_ns, filters.until_ns, filters, rollup)
        finally:
            con.execute("COMMIT")

    def _tier_rows(
        self, con: sqlite3.Connection, width: int, lo: int | None, hi: int | None, filters: Filters, rollup: int
    ) -> list[agg.Aggregate]:
        if width == agg.MINUTE:
            return self._read_aggregates(con, width, lo, hi, filters, rollup)
        (sealed,) = con.execute("SELECT sealed_ns FROM stream_aggregate_seals WHERE width = ?", (width,)).fetchone()
        rows = self._read_aggregates(con, width, lo, sealed if hi is None else min(hi, sealed), filters, rollup)
        if hi is None or hi > sealed:
            start = sealed if lo is None else max(lo, sealed)
            start -= start % (width * agg.NS)
            finer = agg.TIERS[agg.TIERS.index(width) - 1]
            merged = agg.rollup(self._tier_rows(con, finer, start, hi, filters, rollup), width)
            rows += [agg.Aggregate(w, slot, *key, st.to_bytes()) for (w, slot, key), st in merged.items()]
        return rows

    def rebuild_aggregates(self) -> None:
        """Recompute every aggregate row from the stored streams (upgrades of older databases, and tests)."""
        with self._wlock:
            self._agg_cache.clear()
            con = self._w
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("DELETE FROM stream_aggregates")
                con.execute("UPDATE stream_aggregate_seals SET sealed_ns = 0")
                self._seals = {w: 0 for w in agg.TIERS[1:]}
                states: dict[agg.RowKey, agg.AggState] = {}
                cur = con.execute(f"SELECT {','.join(STREAM_COLUMNS)} FROM streams")
                while rows := cur.fetchmany(10_000):
                    for rk, st in agg.build((Stream(*r) for r in rows), (agg.MINUTE,)).items():
                        old = states.get(rk)
                        if old is None:
                            states[rk] = st
                        else:
                            old.merge(st)
                self._put_states(con, states)
                self._seal(con)
                con.execute("COMMIT")
            except BaseException:
                self._seals = {}
                con.execute("ROLLBACK")
                raise
            finally:
                self._agg_cache.clear()

    # -- reading ---------------------------------------------------------------------------------
    @staticmethod
    def _search_clause(alias: str, needle: str, params: list[Any]) -> str:
        params.extend([ascii_lower(needle)] * 2)
        return f"(instr(lower({alias}.name), ?) > 0 OR instr(lower({alias}.attributes), ?) > 0)"

    def traces(self, filters: Filters, limit: int, cursor: Cursor | None = None) -> list[TraceSummary]:
        f = filters
        where: list[str] = []
        p: list[Any] = []
        for col, val in (("trace_id", f.trace_id), ("service", f.service), ("status", f.status),
                         ("session_id", f.session_id), ("user_id", f.user_id)):  # fmt: skip
            if val is not None:
                where.append(f"t.{col} = ?")
                p.append(val)
        if f.min_duration is not None:
            where.append("(t.end_ns - t.start_ns) / 1e9 >= ?")
            p.append(f.min_duration)
        if f.max_duration is not None:
            where.append("(t.end_ns - t.start_ns) / 1e9 <= ?")
            p.append(f.max_duration)
        if f.since_ns is not None:
            where.append("t.start_ns >= ?")
            p.append(f.since_ns)
        if f.until_ns is not None:
            where.append("t.start_ns < ?")
            p.append(f.until_ns)
        if f.model is not None:
            where.append("EXISTS (SELECT 1 FROM streams s WHERE s.trace_id = t.trace_id AND s.model = ?)")
            p.append(f.model)
        if f.outcome is not None:
            where.append("EXISTS (SELECT 1 FROM streams s WHERE s.trace_id = t.trace_id AND s.outcome = ?)")
            p.append(f.outcome)
        if f.provider is not None:
            where.append("EXISTS (SELECT 1 FROM streams s WHERE s.trace_id = t.trace_id AND s.provider = ?)")
            p.append(f.provider)
        if f.min_ttft is not None:
            where.append("EXISTS (SELECT 1 FROM streams s WHERE s.trace_id = t.trace_id AND s.ttft >= ?)")
            p.append(f.min_ttft)
        if f.search is not None:
            clause = self._search_clause("x", f.search, p)
            where.append(f"EXISTS (SELECT 1 FROM spans x WHERE x.trace_id = t.trace_id AND {clause})")
        if cursor is not None:
            where.append("(t.start_ns < ? OR (t.start_ns = ? AND t.trace_id < ?))")
            p.extend([cursor.start_ns, cursor.start_ns, cursor.key])
        sql = f"SELECT {', '.join('t.' + c for c in TRACE_COLUMNS)} FROM traces t"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT ?"
        p.append(int(limit))
        return [TraceSummary(*r[:-1], bool(r[-1])) for r in self._r().execute(sql, p)]

    def trace_spans(self, trace_id: str) -> list[Span]:
        rows = self._r().execute(f"SELECT {_SPAN_COLS} FROM spans WHERE trace_id = ?", (trace_id,))
        return [_row_span(r) for r in rows]

    def streams(self, filters: Filters, limit: int | None, cursor: Cursor | None = None) -> list[Stream]:
        f = filters
        where: list[str] = []
        p: list[Any] = []
        for col, val in (("trace_id", f.trace_id), ("service", f.service), ("model", f.model),
                         ("outcome", f.outcome), ("provider", f.provider)):  # fmt: skip
            if val is not None:
                where.append(f"s.{col} = ?")
                p.append(val)
        if f.status is not None:
            where.append("EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = s.trace_id AND t.status = ?)")
            p.append(f.status)
        if f.min_duration is not None:
            where.append("MAX(0, s.end_ns - s.start_ns) / 1e9 >= ?")
            p.append(f.min_duration)
        if f.max_duration is not None:
            where.append("MAX(0, s.end_ns - s.start_ns) / 1e9 <= ?")
            p.append(f.max_duration)
        if f.min_ttft is not None:
            where.append("s.ttft >= ?")
            p.append(f.min_ttft)
        if f.since_ns is not None:
            where.append("s.start_ns >= ?")
            p.append(f.since_ns)
        if f.until_ns is not None:
            where.append("s.start_ns < ?")
            p.append(f.until_ns)
        for col, val in (("session_id", f.session_id), ("user_id", f.user_id)):
            if val is not None:
                where.append(
                    f"(s.{col} = ? OR EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = s.trace_id AND t.{col} = ?))"
                )
                p.extend([val, val])
        if f.search is not None:
            clause = self._search_clause("x", f.search, p)
            where.append(
                f"EXISTS (SELECT 1 FROM spans x WHERE x.trace_id = s.trace_id AND x.span_id = s.span_id AND {clause})"
            )
        if cursor is not None:
            where.append("(s.start_ns < ? OR (s.start_ns = ? AND s.span_id < ?))")
            p.extend([cursor.start_ns, cursor.start_ns, cursor.key])
        sql = f"SELECT {', '.join('s.' + c for c in STREAM_COLUMNS)} FROM streams s"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.start_ns DESC, s.span_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            p.append(int(limit))
        return [Stream(*r) for r in self._r().execute(sql, p)]

    def stream(self, span_id: str) -> Stream | None:
        r = (
            self._r()
            .execute(f"SELECT {','.join(STREAM_COLUMNS)} FROM streams WHERE span_id = ?", (span_id,))
            .fetchone()
        )
        return Stream(*r) if r else None

    def chunks(self, span_id: str) -> list[Chunk]:
        blocks = self._r().execute(
            "SELECT lo, n, idx, offsets, gaps, kinds, sizes, tokens, contents FROM chunk_blocks WHERE span_id = ?",
            (span_id,),
        ).fetchall()
        out: list[Chunk] = []
        for r in blocks:
            out += chunk_blocks.decode(span_id, r)
        if len(blocks) > 1:
            out.sort(key=operator.attrgetter("index"))
        return out

    def live(self, since_ns: int, limit: int) -> list[LiveStream]:
        rows = self._r().execute(
            f"SELECT {', '.join('l.' + c for c in LIVE_COLUMNS)} FROM live l WHERE l.last_ns >= ?"
            " AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.span_id = l.span_id)"
            " ORDER BY l.start_ns DESC, l.span_id DESC LIMIT ?",
            (since_ns, int(limit)),
        )
        return [LiveStream(*r) for r in rows]

    def error_rows(self, filters: Filters, limit: int) -> list[ErrorRow]:
        return sqlite_views.error_rows(self._r(), filters, limit)

    def sessions(self, filters: Filters, limit: int) -> list[SessionSummary]:
        return sqlite_views.sessions(self._r(), filters, limit)

    def counts(self) -> dict[str, int]:
        con = self._r()
        sql = {t: f"SELECT count(*) FROM {t}" for t in ("spans", "streams", "traces")}
        sql["chunks"] = "SELECT coalesce(sum(n), 0) FROM chunk_blocks"
        return {t: con.execute(sql[t]).fetchone()[0] for t in ("spans", "streams", "chunks", "traces")}

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            cons, self._all = self._all, []
        for con in cons:
            con.close()
