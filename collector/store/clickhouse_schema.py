"""ClickHouse schema: table layouts, templated engines and versioned, idempotent migrations.

Every table is a ``ReplacingMergeTree`` whose sorting key is the identity of a row, so a re-delivered row
collapses into the stored one (at read time with ``FINAL``, for good at merge time). The version column
``ver`` decides which copy survives: for spans, streams, chunks and live reports the *first* write wins
(``ver`` falls with time), for trace summaries and aggregate rows the latest fold wins (``ver`` grows).

Day partitions and a TTL (``--retention``) on every table whose rows carry a time; bloom filters on ids.
With a cluster name each table becomes ``<name>_local`` (``Replicated*`` when ``replicated``) plus a
``Distributed`` table ``<name>`` sharded by trace id (span id where a row has no trace id), and DDL runs
``ON CLUSTER`` when ``on_cluster``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# table -> (columns, sorting key, partition expression, ttl time expression or None, sharding key)
_DAY = "toDate(fromUnixTimestamp64Nano({col}))"
_SECS = "toDateTime(intDiv({col}, 1000000000))"

TABLES: dict[str, tuple[str, str, str, str | None, str]] = {
    "spans": (
        """trace_id String, span_id String, parent_span_id Nullable(String), name String CODEC(ZSTD(1)),
    kind Int32, start_ns Int64 CODEC(Delta(8), ZSTD(1)), end_ns Int64 CODEC(Delta(8), ZSTD(1)),
    status_code Int32, status_message String CODEC(ZSTD(1)), service LowCardinality(String),
    attributes String CODEC(ZSTD(3)), events Nullable(String) CODEC(ZSTD(3)), resource Nullable(String) CODEC(ZSTD(3)),
    scope LowCardinality(String), session_id Nullable(String), user_id Nullable(String), ver UInt64,
    INDEX idx_span span_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_ver ver TYPE minmax GRANULARITY 1""",
        "(trace_id, span_id)",
        _DAY.format(col="start_ns"),
        _SECS.format(col="start_ns"),
        "cityHash64(trace_id)",
    ),
    "streams": (
        """trace_id String, span_id String, start_ns Int64 CODEC(Delta(8), ZSTD(1)), end_ns Int64,
    service LowCardinality(String), model LowCardinality(String), provider LowCardinality(String),
    operation LowCardinality(String), outcome LowCardinality(String),
    ttft Nullable(Float64), time_to_first_chunk Nullable(Float64), time_to_first_byte Nullable(Float64),
    time_to_first_tool_call Nullable(Float64), time_to_first_reasoning_token Nullable(Float64),
    chunk_count Nullable(Int64), gap_p50 Nullable(Float64), gap_p95 Nullable(Float64), gap_max Nullable(Float64),
    stall_count Nullable(Int64), output_tokens Nullable(Int64), input_tokens Nullable(Int64),
    output_tokens_per_second Nullable(Float64), usage_source Nullable(String), ttft_source Nullable(String),
    error_type Nullable(String),
    cost_usd Nullable(Float64), session_id Nullable(String), user_id Nullable(String), name String,
    dialect LowCardinality(String), ver UInt64,
    INDEX idx_span span_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_ver ver TYPE minmax GRANULARITY 1""",
        "(start_ns, span_id)",
        _DAY.format(col="start_ns"),
        _SECS.format(col="start_ns"),
        "cityHash64(trace_id)",
    ),
    "chunks": (
        """span_id String, idx Int64, offset Float64, gap Nullable(Float64), kind LowCardinality(String),
    size Int64, tokens Nullable(Int64), content Nullable(String) CODEC(ZSTD(3)), day Date DEFAULT today(),
    ver UInt64""",
        "(span_id, idx)",
        "day",
        "toDateTime(day)",
        "cityHash64(span_id)",
    ),
    "traces": (
        """trace_id String, root_name String, service LowCardinality(String), start_ns Int64, end_ns Int64,
    status LowCardinality(String), span_count Int64, stream_count Int64, session_id Nullable(String),
    user_id Nullable(String), waiting_for_root Bool, ver UInt64,
    INDEX idx_start start_ns TYPE minmax GRANULARITY 1,
    INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 1""",
        "(trace_id)",
        _DAY.format(col="start_ns"),
        _SECS.format(col="start_ns"),
        "cityHash64(trace_id)",
    ),
    "live": (
        """span_id String, trace_id String, service LowCardinality(String), model LowCardinality(String),
    provider LowCardinality(String), operation LowCardinality(String), start_ns Int64, last_ns Int64,
    chunk_count Int64, last_offset Float64, ver UInt64""",
        "(span_id, chunk_count)",
        _DAY.format(col="start_ns"),
        _SECS.format(col="last_ns"),
        "cityHash64(span_id)",
    ),
    "aggregates": (
        """width UInt32, rollup UInt8, slot_ns Int64, service LowCardinality(String), model LowCardinality(String),
    provider LowCardinality(String), operation LowCardinality(String), outcome LowCardinality(String),
    n UInt64, state String, ver UInt64""",
        "(width, rollup, slot_ns, service, model, provider, operation, outcome)",
        _DAY.format(col="slot_ns"),
        _SECS.format(col="slot_ns"),
        "cityHash64(slot_ns, model)",
    ),
    # One session's trace summaries as one range of the sorting key (clickhouse_sessions): a copy of each trace
    # summary that names a session, written with it; ``gone`` marks a trace that left the session. One partition
    # (a session's traces span days: day partitions would make every lookup read a granule of each day), so the
    # retention TTL drops rows as parts merge (TABLE_SETTINGS), and small granules keep a lookup's read small.
    "session_traces": (
        """session_id String, trace_id String, root_name String, service LowCardinality(String), start_ns Int64,
    end_ns Int64, status LowCardinality(String), span_count Int64, stream_count Int64, user_id Nullable(String),
    waiting_for_root Bool, gone UInt8, ver UInt64,
    INDEX idx_trace trace_id TYPE bloom_filter(0.001) GRANULARITY 1""",
        "(session_id, trace_id)",
        "tuple()",
        _SECS.format(col="start_ns"),
        "cityHash64(trace_id)",  # beside the trace's summary: a shard's summaries fill its copies (migration 5)
    ),
    # every stored stream's span id, sorted by it, filled by a materialized view on ``streams`` (migration 6):
    # the write path's check for stored streams is a primary-key look-up here instead of reading the span-id
    # bloom filter of every granule of ``streams`` (sorted by start time), which grows with the store
    "stream_ids": (
        "span_id String, trace_id String, start_ns Int64, ver UInt64",
        "(span_id)",
        _DAY.format(col="start_ns"),
        _SECS.format(col="start_ns"),
        "cityHash64(trace_id)",
    ),
}
# Look-up tables whose every hit is confirmed in the table they index: their parts are not fsynced (~1 us of
# server CPU per chunk span at writes of 8 requests). A look-up row lost with the machine's power can never make
# a write skip or lose a row; it lets a re-delivery of its stream be inserted again, which collapses with the
# stored row as every retry of the same batch does (same start, same day partition).
HINTS = frozenset({"stream_ids"})
# the tables of migration 1 (later migrations create their own)
FIRST_TABLES = ("spans", "streams", "chunks", "traces", "live", "aggregates")

# Table settings other than the default (``ttl_only_drop_parts = 1``: TTL drops whole day partitions).
TABLE_SETTINGS: dict[str, str] = {"session_traces": "ttl_only_drop_parts = 0, index_granularity = 1024"}

# The tables every write inserts into: a part each per write, so their merges cost the server most.
INGEST_TABLES = frozenset({"spans", "streams", "chunks", "stream_ids"})
# Part storage and merge settings that cut the server's CPU per write (migration 7); a server that does not know
# one (an older release than the 26.9 tested here) gets the table without it (``Layout.tuned``, probed on start):
# * ``min_bytes_for_full_part_storage``: a part under 10 MiB (every part a write inserts) is stored packed, one
#   file instead of ~13, each created and fsynced (~1 ms of server CPU per part, the same durability: the packed
#   file and the part's directory are fsynced as before); merged parts past the size are stored in full;
# * ``merge_selector_base``: merge when ~10 parts of a size have gathered, not ~5, so a row of the tables
#   written by every request is rewritten fewer times (merges were ~2.5 us of server CPU per chunk span, 1.4
#   at 10) for ~1.4x the active parts between merges (reads: no change beyond the noise).
TUNING: dict[str, dict[str, str]] = {
    name: {"min_bytes_for_full_part_storage": "10485760"}
    | ({"merge_selector_base": "10"} if name in INGEST_TABLES else {})
    for name in TABLES
}
TUNING_NAMES = frozenset(k for settings in TUNING.values() for k in settings)


@dataclass(frozen=True)
class Layout:
    """Where and how the tables live: database, optional cluster, retention."""

    database: str = "streamscope"
    cluster: str | None = None
    replicated: bool = False  # Replicated* engines (needs Keeper); only with a cluster
    on_cluster: bool = True  # run DDL ON CLUSTER (needs Keeper's distributed DDL queue); only with a cluster
    ttl_seconds: int | None = None
    fsync: bool = (
        True  # fsync every inserted part before the insert returns (what an acknowledgement promises)
    )
    async_insert: bool = False  # the server batches small inserts (waits for the flush before answering)
    tuned: frozenset[str] = TUNING_NAMES  # the TUNING settings the server knows (ClickHouseStore narrows it)

    def table(self, name: str) -> str:
        """The table queries and inserts use (the Distributed one on a cluster)."""
        return f"`{self.database}`.`{name}`"

    def local(self, name: str) -> str:
        """The table that stores the rows (``<name>_local`` on a cluster)."""
        return f"`{self.database}`.`{name}_local`" if self.cluster else self.table(name)

    @property
    def _on(self) -> str:
        return f" ON CLUSTER `{self.cluster}`" if self.cluster and self.on_cluster else ""

    def _engine(self, name: str) -> str:
        if self.cluster and self.replicated:
            return f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{self.database}/{name}', '{{replica}}', ver)"
        return "ReplacingMergeTree(ver)"

    def create_database(self) -> str:
        return f"CREATE DATABASE IF NOT EXISTS `{self.database}`{self._on}"

    def create_table(self, name: str) -> list[str]:
        cols, order, partition, ttl_time, shard = TABLES[name]
        fsync = int(self.fsync and name not in HINTS)
        ttl = (
            f"\nTTL {ttl_time} + INTERVAL {self.ttl_seconds} SECOND" if self.ttl_seconds and ttl_time else ""
        )
        out = [
            f"CREATE TABLE IF NOT EXISTS {self.local(name)}{self._on} (\n    {cols}\n) ENGINE = {self._engine(name)}"
            f"\nPARTITION BY {partition}\nORDER BY {order}{ttl}\nSETTINGS {TABLE_SETTINGS.get(name, 'ttl_only_drop_parts = 1')}"
            f", fsync_after_insert = {fsync}, fsync_part_directory = {fsync}"
            + "".join(f", {k} = {v}" for k, v in self.tuning(name).items())
        ]
        if self.cluster:
            out.append(
                f"CREATE TABLE IF NOT EXISTS {self.table(name)}{self._on} AS {self.local(name)}"
                f" ENGINE = Distributed(`{self.cluster}`, `{self.database}`, `{name}_local`, {shard})"
            )
        return out

    def tuning(self, name: str) -> dict[str, str]:
        """The TUNING settings of this table that the server knows."""
        return {k: v for k, v in TUNING[name].items() if k in self.tuned}

    def set_ttl(self, name: str) -> list[str]:
        """Apply the current retention to a stored table (a changed ``--retention`` on start)."""
        ttl_time = TABLES[name][3]
        if not ttl_time:
            return []
        if not self.ttl_seconds:
            return [f"ALTER TABLE {self.local(name)}{self._on} REMOVE TTL"]
        return [
            f"ALTER TABLE {self.local(name)}{self._on} MODIFY TTL {ttl_time} + INTERVAL {self.ttl_seconds} SECOND"
        ]


class Executor(Protocol):
    def command(self, cmd: str) -> object: ...


def _create_tables(layout: Layout) -> list[str]:
    return [stmt for name in FIRST_TABLES for stmt in layout.create_table(name)]


def _ver_indexes(layout: Layout) -> list[str]:
    """A min-max index on the insert version of spans and streams: the deriver's sweep reads recent inserts."""
    return [f"ALTER TABLE {layout.local(name)}{layout._on} ADD INDEX IF NOT EXISTS idx_ver ver TYPE minmax GRANULARITY 1"
            for name in ("spans", "streams")]  # fmt: skip


def _start_indexes(layout: Layout) -> list[str]:
    """A min-max index on the start time of spans: newest-first reads (search, failed spans) skip other days.

    The sorting key of spans is their identity, so without it a time window reads every part; the index is
    built for the parts already stored in the background (a mutation), so the start of a big store is not held up.
    """
    spans = layout.local("spans")
    return [f"ALTER TABLE {spans}{layout._on} ADD INDEX IF NOT EXISTS idx_start start_ns TYPE minmax GRANULARITY 1",
            f"ALTER TABLE {spans}{layout._on} MATERIALIZE INDEX idx_start"]  # fmt: skip


def _tune(layout: Layout) -> list[str]:
    """The TUNING settings on the tables created before them (new parts and merges follow them from now on)."""
    out = []
    for name in TABLES:
        settings = layout.tuning(name)
        if settings:
            listed = ", ".join(f"{k} = {v}" for k, v in settings.items())
            out.append(f"ALTER TABLE {layout.local(name)}{layout._on} MODIFY SETTING {listed}")
    return out


SESSION_COLUMNS = ("session_id", "trace_id", "root_name", "service", "start_ns", "end_ns", "status", "span_count",
                   "stream_count", "user_id", "waiting_for_root", "gone")  # fmt: skip


def backfill_sessions(layout: Layout) -> str:
    """Copy the stored trace summaries that name a session into ``session_traces`` (each with its own ``ver``, so
    a copy the derive pass writes meanwhile, with a newer ``ver``, wins; running it twice stores copies that
    collapse). On a cluster both tables are sharded by trace id, so each shard's summaries are copied on that
    shard: through the ``Distributed`` tables when DDL runs ``ON CLUSTER`` (every shard has the tables), else on
    the shard whose collector runs the migration (one collector per shard starts once)."""
    copied = ", ".join(SESSION_COLUMNS[1:-1])  # between the session id and ``gone``
    table = layout.table if layout.on_cluster else layout.local
    settings = " SETTINGS distributed_foreground_insert = 1" if layout.cluster and layout.on_cluster else ""
    return (f"INSERT INTO {table('session_traces')} ({', '.join(SESSION_COLUMNS)}, ver)"
            f" SELECT assumeNotNull(session_id), {copied}, 0, ver FROM {table('traces')} FINAL"
            f" WHERE session_id IS NOT NULL{settings}")  # fmt: skip


def _sessions_table(layout: Layout) -> list[str]:
    """The per-session copy of the trace summaries, filled from the summaries already stored."""
    return [*layout.create_table("session_traces"), backfill_sessions(layout)]


def _stream_ids(layout: Layout) -> list[str]:
    """The span-id look-up of stored streams: its table, the view that fills it on every insert into
    ``streams`` (on each shard's local table), and the streams stored before (a copy; a row that both copy
    and view write collapses like any re-delivered row). On a cluster the copy is of the shard the migrating
    collector is connected to (its shard's rows, into its shard's look-up): a shard no collector migrates lacks
    the look-up of the streams it stored before version 6, so only a re-delivery of one of those, from another
    day, would be stored again."""
    cols = "span_id, trace_id, start_ns, ver"
    view = f"`{layout.database}`.`stream_ids_mv`"
    return [*layout.create_table("stream_ids"),
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view}{layout._on} TO {layout.local('stream_ids')}"
            f" AS SELECT {cols} FROM {layout.local('streams')}",
            f"INSERT INTO {layout.local('stream_ids')} ({cols}) SELECT {cols} FROM {layout.local('streams')}"]  # fmt: skip


# Versioned migrations: (version, description, statements for a layout). Every statement is idempotent
# (IF NOT EXISTS), so two collectors that start at once both run them safely; the version rows only say what
# has been applied. Add new versions at the end; never change an applied one.
MIGRATIONS: tuple[tuple[int, str, Callable[[Layout], list[str]]], ...] = (
    (1, "spans, streams, chunks, traces, live, aggregates", _create_tables),
    (2, "min-max index on the insert version of spans and streams", _ver_indexes),
    (4, "min-max index on the start time of spans", _start_indexes),
    (5, "session_traces: trace summaries by session, backfilled from traces", _sessions_table),
    (6, "span-id look-up of stored streams", _stream_ids),
    (7, "packed small parts, and a merge base of 10 on the tables every write inserts into", _tune),
)


def _migration_table(layout: Layout) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS `{layout.database}`.`schema_migrations`{layout._on}"
        " (version UInt32, description String, applied_at DateTime64(3)) ENGINE = ReplacingMergeTree"
        " ORDER BY version"
    )


def migrate(client: Executor, layout: Layout, applied: set[int]) -> list[int]:
    """Apply the migrations not in ``applied`` (read by the caller from ``schema_migrations``); return them."""
    done = []
    for version, description, statements in MIGRATIONS:
        if version in applied:
            continue
        for stmt in statements(layout):
            client.command(stmt)
        client.command(
            f"INSERT INTO `{layout.database}`.`schema_migrations` VALUES"
            f" ({version}, '{description}', fromUnixTimestamp64Milli({time.time_ns() // 1_000_000}))"
        )
        done.append(version)
    return done


def bootstrap(client: Executor, layout: Layout) -> list[str]:
    """The statements that must exist before migrations can be read."""
    del client
    return [layout.create_database(), _migration_table(layout)]
