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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from streamscope.collector import aggregates as agg
from streamscope.collector import chunk_columns, codec
from streamscope.collector.chunk_columns import Groups
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
)
from streamscope.collector.rollup import ascii_lower
from streamscope.collector.store import chunk_blocks, sqlite_origins, sqlite_views, trace_rollups
from streamscope.collector.store.sqlite_aggregates import AGG_SCHEMA, AggregateRows, _batched
from streamscope.collector.store.sqlite_tx import BUSY_TIMEOUT_S, busy_timeout, configure, write_transaction

WAL_SIZE_LIMIT = 64 * 1024 * 1024
WAL_TRUNCATE_WAIT_S = 0.2  # size retention truncates the WAL; ingest waits at most this long for it
STREAM_COLUMNS = tuple(f.name for f in dataclasses.fields(Stream))
TRACE_COLUMNS = tuple(f.name for f in dataclasses.fields(TraceSummary))

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, name TEXT NOT NULL,
    kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL, status_message TEXT NOT NULL, service TEXT NOT NULL,
    attributes TEXT NOT NULL, events TEXT, resource TEXT, scope TEXT NOT NULL,
    session_id TEXT, user_id TEXT, origin INTEGER
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
CREATE INDEX IF NOT EXISTS streams_session ON streams(session_id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS streams_user ON streams(user_id) WHERE user_id IS NOT NULL;
"""

LIVE_COLUMNS = tuple(f.name for f in dataclasses.fields(LiveStream))

# -- chunk rows are kept in blocks, one row per stream per write (collector/store/chunk_blocks.py)
_INSERT_BLOCK = "INSERT INTO chunk_blocks VALUES (?,?,?,?,?,?,?,?,?,?)"
_first = operator.itemgetter(0)

_stream_row = operator.attrgetter(*STREAM_COLUMNS)  # dataclasses.astuple deep-copies every field: slow

# A span row holds its origin's id (span_origins); _INSERT_SPAN_INLINE: a row keeping its resource and scope itself
_INSERT_SPAN = "INSERT OR IGNORE INTO spans VALUES (" + ",".join("?" * 12) + ",NULL,'',?,?,?)"
_INSERT_SPAN_INLINE = "INSERT OR IGNORE INTO spans VALUES (" + ",".join("?" * 17) + ")"
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
# A span's resource and scope: its row's own for rows from before span_origins (or a collision), else its origin's
_SPAN_COLS = (
    "s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, s.status_code,"
    " s.status_message, s.service, s.attributes, s.events,"
    " CASE WHEN s.origin IS NULL THEN s.resource ELSE o.resource END,"
    " CASE WHEN s.origin IS NULL THEN s.scope ELSE o.scope END, s.session_id, s.user_id"
)
_SPANS_OF_TRACE = (
    f"SELECT {_SPAN_COLS} FROM spans s LEFT JOIN span_origins o ON o.id = s.origin WHERE s.trace_id = ?"
)

#: A span as the writer inserts it: trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
#: status_message, service, attributes, events, session_id, user_id, and the id of its (resource, scope) origin.
SpanRow = tuple[Any, ...]


class SpanRows(NamedTuple):
    """A batch's span rows and the origins they refer to (each once, by id). A row whose pair's id is taken by
    another pair of the batch (a hash collision) holds the pair itself instead of an id; ``inline`` says so."""

    rows: list[SpanRow]
    origins: dict[int, sqlite_origins.Origin]
    inline: bool = False


def span_rows(spans: Iterable[Span]) -> SpanRows:
    """The rows of ``spans`` and their origins. Spans of one resource share its map (the decoder gives them one):
    it is encoded once."""
    ids: dict[tuple[int, str], int | sqlite_origins.Origin] = {}
    origins: dict[int, sqlite_origins.Origin] = {}
    inline = False
    rows = []
    for s in spans:
        r = s.resource
        oid = ids.get((id(r), s.scope))
        if oid is None:
            pair = (codec.dumps(dict(r)) if r else None, s.scope)
            oid = sqlite_origins.origin_id(*pair)
            if origins.setdefault(oid, pair) != pair:
                oid, inline = pair, True
            ids[(id(r), s.scope)] = oid
        rows.append(_span_row(s, oid))
    return SpanRows(rows, origins, inline)


_row_head = operator.attrgetter("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns",
                                "status_code", "status_message", "service")  # fmt: skip
_row_tail = operator.attrgetter("session_id", "user_id")


def _span_row(s: Span, origin: int | sqlite_origins.Origin) -> SpanRow:
    events = (
        codec.dumps(
            [{"name": e.name, "time_ns": e.time_ns, "attributes": dict(e.attributes)} for e in s.events]
        )
        if s.events
        else None
    )
    attributes = codec.dumps(a if type(a := s.attributes) is dict else dict(a))
    return (*_row_head(s), attributes, events, *_row_tail(s), origin)


def _inline(rows: Sequence[SpanRow], origins: Mapping[int, sqlite_origins.Origin]) -> list[SpanRow]:
    """Rows of the spans table's full width, for rows whose origin must stay in the row (a hash collision)."""
    return [(*r[:12], *(r[14] if type(r[14]) is tuple else origins[r[14]]), r[12], r[13], None) for r in rows]


def _row_span(r: Sequence[Any]) -> Span:
    events = tuple(
        SpanEvent(e["name"], e["time_ns"], e.get("attributes") or {}) for e in (codec.loads(r[11]) or [])
    )
    return Span(
        trace_id=r[0], span_id=r[1], parent_span_id=r[2], name=r[3], kind=r[4], start_ns=r[5], end_ns=r[6],
        status_code=r[7], status_message=r[8], service=r[9], attributes=codec.loads(r[10]), events=events,
        resource=codec.loads(r[12]), scope=r[13], session_id=r[14], user_id=r[15],
    )  # fmt: skip


class SQLiteStore(AggregateRows):
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
        self._seals: dict[
            int, int
        ] = {}  # width -> first unsealed slot (writer's copy, checked like the cache)
        self.clock = time.time_ns  # the writer's clock for sealing (tests move it)
        self._origins = sqlite_origins.OriginTable()
        self._w = self._connect()
        self._w.execute("PRAGMA journal_mode=WAL")
        self._w.execute(
            f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}"
        )  # the WAL shrinks back after checkpoints
        had_aggregates = self._w.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stream_aggregates'"
        ).fetchone()
        had_rollups = self._w.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trace_rollups'"
        ).fetchone()
        self._w.executescript(SCHEMA)
        sqlite_origins.migrate(self._w)  # a database written before span_origins
        if "waiting_for_root" not in {r[1] for r in self._w.execute("PRAGMA table_info(traces)")}:
            # a database written before traces knew whether their root had arrived (only new rollups set it)
            self._w.execute("ALTER TABLE traces ADD COLUMN waiting_for_root INTEGER NOT NULL DEFAULT 0")
        self._w.executescript(AGG_SCHEMA)
        self._w.executescript(trace_rollups.SCHEMA)
        if not had_rollups and self._w.execute("SELECT 1 FROM spans LIMIT 1").fetchone():
            with (
                self._wlock,
                write_transaction(self._w),
            ):  # a database written before incremental trace rollups
                trace_rollups.rebuild(self._w)
        self._w.executemany(
            "INSERT OR IGNORE INTO stream_aggregate_seals VALUES (?, 0)", [(w,) for w in agg.TIERS[1:]]
        )
        if not had_aggregates and self._w.execute("SELECT 1 FROM streams LIMIT 1").fetchone():
            self.rebuild_aggregates()  # a database written before aggregates existed
        self._migrate_chunks()
        self._migrate_stream_columns()

    def _migrate_stream_columns(self) -> None:
        """Databases written before a stream field existed (``ttft_source``) get its column, empty (NULL)."""
        have = {row[1] for row in self._w.execute("PRAGMA table_info(streams)")}
        with self._wlock:
            for column in STREAM_COLUMNS:
                if column not in have:
                    self._w.execute(f"ALTER TABLE streams ADD COLUMN {column}")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
        )
        con.execute(f"PRAGMA synchronous={self._sync}")
        configure(con)
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
    def write(self, batch: IngestBatch, rows: SpanRows | None = None, chunks: Groups | None = None) -> None:
        """``rows``: the rows of the batch's spans made already (:func:`span_rows`), in place of ``batch.spans``;
        ``chunks``: its chunk rows by stream as columns (``chunk_columns.by_stream``), in place of
        ``batch.chunks`` (the writer process gets both so)."""
        rows = span_rows(batch.spans) if rows is None else rows
        chunks = chunk_columns.by_stream(chunk_columns.from_rows(batch.chunks)) if chunks is None else chunks
        if not len(batch) and not rows.rows and not chunks:
            return
        with self._wlock:
            con = self._w
            with self._writing(con):
                prepared = trace_rollups.prepare(con, rows.rows)  # before the insert: which spans are new
                if rows.rows:
                    self._insert_spans(con, rows)
                new_streams: list[Stream] = []
                if batch.streams:
                    new_streams = self._new_streams(con, batch.streams)
                    con.executemany(_INSERT_STREAM, map(_stream_row, batch.streams))
                    self._add_aggregates(con, new_streams)
                if chunks:
                    self._write_chunks(con, chunks)
                if batch.live:
                    con.executemany(
                        _UPSERT_LIVE, [(*dataclasses.astuple(lv), lv.span_id) for lv in batch.live]
                    )
                if batch.streams:
                    con.executemany(
                        "DELETE FROM live WHERE span_id = ?", [(st.span_id,) for st in batch.streams]
                    )
                self._rollup(con, prepared, new_streams)

    def _insert_spans(self, con: sqlite3.Connection, rows: SpanRows) -> None:
        collided = self._origins.store(con, rows.origins)
        if not collided and not rows.inline:
            con.executemany(_INSERT_SPAN, rows.rows)
            return

        def mapped(r: SpanRow) -> bool:
            return type(r[14]) is int and r[14] not in collided

        for ok, run in itertools.groupby(rows.rows, key=mapped):  # in order: the first row of an id wins
            part = list(run)
            if ok:
                con.executemany(_INSERT_SPAN, part)
            else:
                con.executemany(_INSERT_SPAN_INLINE, _inline(part, rows.origins))

    @contextmanager
    def _writing(self, con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction on the writer connection (the caller holds ``_wlock``). A failed one drops the
        decoded aggregate rows and seals: they may hold its merges, which were rolled back."""
        try:
            with write_transaction(con):
                yield con
        except BaseException:
            self._agg_cache.clear()
            self._seals = {}
            self._origins.forget()
            raise

    def _write_chunks(self, con: sqlite3.Connection, groups: Groups) -> None:
        have: dict[str, set[int]] = {}
        for part in _batched(list(groups)):
            marks = ",".join("?" * len(part))
            for sid, lo, n, idx in con.execute(
                f"SELECT span_id, lo, n, idx FROM chunk_blocks WHERE span_id IN ({marks})", part
            ):
                have.setdefault(sid, set()).update(chunk_blocks.indices(lo, n, idx))
        rows = [
            b
            for sid, group in groups.items()
            if (b := chunk_blocks.encode_columns(sid, group, have.get(sid))) is not None
        ]
        con.executemany(_INSERT_BLOCK, rows)

    def _migrate_chunks(self) -> None:
        """Databases written before chunk blocks kept a row per chunk in ``chunks``: move them into blocks."""
        con = self._w
        with self._wlock, self._writing(con):
            if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunks'").fetchone():
                cur = con.execute(
                    'SELECT span_id, idx, "offset", gap, kind, size, tokens, content FROM chunks'
                    " ORDER BY span_id, idx"
                )
                carry: list[tuple[Any, ...]] = []
                while rows := cur.fetchmany(50_000):
                    groups = [list(g) for _, g in itertools.groupby(carry + rows, key=_first)]
                    carry = groups.pop()
                    blocks = [chunk_blocks.encode(g[0][0], g, None) for g in groups]
                    con.executemany(_INSERT_BLOCK, [b for b in blocks if b is not None])
                if carry and (b := chunk_blocks.encode(carry[0][0], carry, None)):
                    con.execute(_INSERT_BLOCK, b)
                con.execute("DROP TABLE chunks")

    def _rollup(
        self, con: sqlite3.Connection, prepared: trace_rollups.Prepared, new_streams: Sequence[Stream]
    ) -> None:
        """Fold the batch into its traces' summaries (incremental: collector/store/trace_rollups.py)."""
        trace_rollups.apply(con, prepared, new_streams)

    def delete_before(self, cutoff_ns: int) -> int:
        with self._wlock:
            con = self._w
            with self._writing(con):
                # streams in flight that went silent before the cutoff (their span never came), with their chunks
                con.execute(
                    "DELETE FROM chunk_blocks WHERE span_id IN (SELECT l.span_id FROM live l WHERE l.last_ns < ?"
                    " AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.span_id = l.span_id))",
                    (cutoff_ns,),
                )
                con.execute("DELETE FROM live WHERE last_ns < ?", (cutoff_ns,))
        return self._delete_traces("SELECT trace_id FROM traces WHERE start_ns < ?", (cutoff_ns,))

    def delete_oldest(self, n: int) -> int:
        """Retention by size: drop the ``n`` oldest traces (by start) with everything they hold."""
        if n <= 0:
            return 0
        deleted = self._delete_traces(
            "SELECT trace_id FROM traces ORDER BY start_ns, trace_id LIMIT ?", (int(n),)
        )
        self._truncate_wal()
        return deleted

    def _truncate_wal(self) -> None:
        """Give the WAL's bytes back (the size bound counts them): checkpoint and truncate it, waiting at most
        WAL_TRUNCATE_WAIT_S for readers and writers (a checkpoint that cannot finish now is skipped)."""
        if self.path == ":memory:" or self.path.startswith("file::memory:"):
            return
        with self._wlock:
            con = self._w
            with busy_timeout(con, WAL_TRUNCATE_WAIT_S), contextlib.suppress(sqlite3.Error):
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _delete_traces(self, select_sql: str, params: Sequence[Any]) -> int:
        with self._wlock:
            self._agg_cache.clear()
            con = self._w
            with self._writing(con):
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
                for table in ("streams", "spans", "traces", *trace_rollups.TABLES):
                    con.execute(f"DELETE FROM {table} WHERE trace_id IN (SELECT trace_id FROM old_traces)")
                self._recompute_aggregates(con, {agg.slot_of(t, agg.MINUTE) for t in starts})
            return int(n)

    def storage_bytes(self) -> int:
        """Bytes the database occupies on disk (main file + WAL). SQLite reuses freed pages; it does not shrink."""
        if self.path == ":memory:" or self.path.startswith("file::memory:"):
            con = self._r()
            return int(
                con.execute("PRAGMA page_count").fetchone()[0] * con.execute("PRAGMA page_size").fetchone()[0]
            )
        total = 0
        for p in (self.path, self.path + "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(p)
        return total

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
        return [TraceSummary(*(*r[:-1], bool(r[-1]))) for r in self._r().execute(sql, p)]

    def trace_spans(self, trace_id: str) -> list[Span]:
        return [_row_span(r) for r in self._r().execute(_SPANS_OF_TRACE, (trace_id,))]

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
            if val is not None:  # its own or its trace's; two index lookups, not a check of every stream
                where.append(
                    f"s.rowid IN (SELECT rowid FROM streams WHERE {col} = ? UNION SELECT x.rowid FROM"
                    f" traces t JOIN streams x ON x.trace_id = t.trace_id WHERE t.{col} = ?)"
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
        blocks = (
            self._r()
            .execute(
                "SELECT lo, n, idx, offsets, gaps, kinds, sizes, tokens, contents FROM chunk_blocks WHERE span_id = ?",
                (span_id,),
            )
            .fetchall()
        )
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

    def sessions(
        self, filters: Filters, limit: int, after: tuple[int, str] | None = None
    ) -> list[SessionSummary]:
        return sqlite_views.sessions(self._r(), filters, limit, after)

    def counts(self) -> dict[str, int]:
        con = self._r()
        sql = {t: f"SELECT count(*) FROM {t}" for t in ("spans", "streams", "traces")}
        sql["chunks"] = "SELECT coalesce(sum(n), 0) FROM chunk_blocks"
        return {t: con.execute(sql[t]).fetchone()[0] for t in ("spans", "streams", "chunks", "traces")}

    def settle(self) -> None:
        """Nothing to wait for: trace summaries and aggregates are written with the batch."""

    def close(self) -> None:
        """Close every connection, after the write in flight (retention on its thread, say): closing a connection
        another thread is using crashes the process."""
        self._closed = True
        with self._wlock, self._all_lock:
            cons, self._all = self._all, []
            for con in cons:
                con.close()
