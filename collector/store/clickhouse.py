"""ClickHouse SpanStore: the scale-out store behind ``--store clickhouse://[USER:PASSWORD@]HOST:PORT/DB``.

Stateless collectors share one ClickHouse (a server or a cluster) for ingest, the query API, the dashboard and
Grafana. Every SQL detail of this dialect stays in the ``clickhouse*`` modules: the schema and its migrations
(``clickhouse_schema``), the write path (``clickhouse_writer``) and the read path (``clickhouse_queries``).

``write`` is idempotent and convergent rather than atomic: see ``clickhouse_writer`` and docs/scale-out.md. Trace
summaries and aggregates follow a write once the deriver's next pass ran (``clickhouse_derive``; :meth:`settle`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

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
)
from streamscope.collector.store import StoreUnavailable
from streamscope.collector.store.clickhouse_derive import Deriver
from streamscope.collector.store.clickhouse_queries import Queries
from streamscope.collector.store.clickhouse_schema import TABLES, TUNING_NAMES, Layout, bootstrap, migrate
from streamscope.collector.store.clickhouse_writer import Client, Writer, parts

SCHEMES = ("clickhouse", "clickhouses")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Target:
    """A parsed ``clickhouse://`` URL."""

    host: str
    port: int
    secure: bool
    username: str
    password: str
    layout: Layout

    def redacted(self) -> str:
        scheme = "clickhouses" if self.secure else "clickhouse"
        return f"{scheme}://{self.host}:{self.port}/{self.layout.database}"


def is_url(text: str | None) -> bool:
    return bool(text) and urlsplit(text or "").scheme in SCHEMES


def parse_url(url: str) -> Target:
    """``clickhouse[s]://[USER:PASSWORD@]HOST:PORT/DB[?cluster=NAME&replicated=1&on_cluster=1&fsync=1&async_insert=0]``.

    Raises:
        ValueError: with a one-sentence reason for anything else.
    """
    u = urlsplit(url)
    if u.scheme not in SCHEMES:
        raise ValueError(
            f"{u.scheme or url!r} is not a store URL scheme; use clickhouse:// or clickhouses://."
        )
    try:
        port = u.port
    except ValueError:
        raise ValueError(f"the port in {url!r} is not a number.") from None
    if not u.hostname:
        raise ValueError(f"{url!r} names no host; use clickhouse://HOST:PORT/DB.")
    database = u.path.strip("/") or "streamscope"
    if not database.replace("_", "").isalnum():
        raise ValueError(f"database name {database!r} may hold only letters, digits and underscores.")
    q = {k: v[-1] for k, v in parse_qs(u.query).items()}
    unknown = set(q) - {"cluster", "replicated", "on_cluster", "fsync", "async_insert"}
    if unknown:
        raise ValueError(f"unknown store URL option {sorted(unknown)[0]!r};"
                         " use cluster, replicated, on_cluster, fsync or async_insert.")  # fmt: skip
    cluster = q.get("cluster") or None
    layout = Layout(
        database=database,
        cluster=cluster,
        replicated=q.get("replicated", "1" if cluster else "0").lower() in _TRUE,
        on_cluster=q.get("on_cluster", "1").lower() in _TRUE,
        fsync=q.get("fsync", "1").lower() in _TRUE,
        async_insert=q.get("async_insert", "0").lower() in _TRUE,
    )
    secure = u.scheme == "clickhouses"
    return Target(u.hostname, port or (8443 if secure else 8123), secure, unquote(u.username or "default"),
                  unquote(u.password or ""), layout)  # fmt: skip


def connect(target: Target) -> Client:
    """A clickhouse-connect HTTP client (Native format) that many threads may share."""
    import clickhouse_connect  # the optional `clickhouse` extra

    client: Client = clickhouse_connect.get_client(
        host=target.host, port=target.port, username=target.username, password=target.password,
        secure=target.secure, autogenerate_session_id=False, compress="lz4",
        connect_timeout=5, send_receive_timeout=60,
        # on a cluster, IN (subquery) over Distributed tables runs the subquery once and ships its result
        settings={"distributed_product_mode": "global"} if target.layout.cluster else None,
    )  # fmt: skip
    return client


def without_dataframes() -> None:
    """Tell clickhouse-connect that pandas is absent, unless this process has imported it already.

    Its insert checks every block for a pandas DataFrame and, where pandas is installed, imports it for that at
    the first insert: ~0.3 s of CPU in the middle of ingest (more on a busy machine) and ~75 MB per process (pandas
    brings pyarrow), for a check that is always false here (the store inserts Python column lists). This is the
    state clickhouse-connect is in when pandas is not installed. For processes streamscope runs (the CLI's
    ``open_shared_store``), not for an application that embeds the store and may insert DataFrames itself."""
    if "pandas" in sys.modules:
        return
    from clickhouse_connect.driver import options

    vars(options).update(pd=None, pd_time_test=None)


F = TypeVar("F", bound=Callable[..., Any])


def _unavailable(method: F) -> F:
    """Connection failures of the driver become :class:`StoreUnavailable` (servers answer 503, not 500)."""

    @functools.wraps(method)
    def call(self: ClickHouseStore, *args: Any, **kw: Any) -> Any:
        try:
            return method(self, *args, **kw)
        except Exception as e:
            from clickhouse_connect.driver.exceptions import OperationalError

            if isinstance(e, (OperationalError, ConnectionError)) and not isinstance(e, StoreUnavailable):
                raise StoreUnavailable(f"the ClickHouse store {self.name} cannot be reached.") from e
            raise

    return call  # type: ignore[return-value]


def _row_span(r: tuple[Any, ...]) -> Span:
    events = tuple(
        SpanEvent(e["name"], e["time_ns"], e.get("attributes") or {}) for e in (codec.loads(r[11]) or [])
    )
    return Span(
        trace_id=r[0], span_id=r[1], parent_span_id=r[2], name=r[3], kind=r[4], start_ns=r[5], end_ns=r[6],
        status_code=r[7], status_message=r[8], service=r[9], attributes=codec.loads(r[10]), events=events,
        resource=codec.loads(r[12]), scope=r[13], session_id=r[14], user_id=r[15],
    )  # fmt: skip


class ClickHouseStore:
    """A SpanStore over a clickhouse-connect client (HTTP, or chdb's in-process engine in tests)."""

    # Writes are idempotent inserts, a few statements each, and each statement has a fixed cost on both sides
    # (client CPU, and on the server a part per table, its merges and its fsync): the collector runs two writer
    # threads that gather (pipeline.Ingestor), so one write is in flight while the next gathers every request
    # queued meanwhile and starts when the first ends. Two small writes side by side cost the server about twice
    # one of both (bench/clickhouse_ingest_phases.py: CPU per span against requests per write).
    write_concurrency = 2
    gather_writes = True
    # and a write of fewer rows waits up to 20 ms for more once the last write ended (pipeline.Ingestor): the
    # requests that write answered come back meanwhile, so a write holds about all of them instead of half
    gather_linger_s = 0.02
    gather_rows = 10_000

    def __init__(
        self, client: Client, layout: Layout | None = None, *, retention_s: float | None = None
    ) -> None:
        layout = layout or Layout()
        if retention_s:
            layout = replace(layout, ttl_seconds=max(1, int(retention_s)))
        self.layout = layout
        self.client = client
        self.name = f"database {layout.database}"
        self._prepare()
        self._w = Writer(client, self.layout)
        self._derive = Deriver(self._w)
        self._q = Queries(client, self.layout.table)

    @classmethod
    def from_url(cls, url: str, *, retention_s: float | None = None) -> ClickHouseStore:
        target = parse_url(url)
        store = cls(connect(target), target.layout, retention_s=retention_s)
        store.name = target.redacted()
        return store

    def _prepare(self) -> None:
        """Create or migrate the schema (idempotent; safe when several collectors start at once)."""
        for stmt in bootstrap(self.client, self.layout):
            self.client.command(stmt)
        known = {name for (name,) in self.client.query(
            "SELECT name FROM system.merge_tree_settings WHERE name IN {names:Array(String)}",
            parameters={"names": sorted(TUNING_NAMES)}).result_rows}  # fmt: skip
        self.layout = replace(self.layout, tuned=self.layout.tuned & known)
        applied = {int(v) for (v,) in self.client.query(
            f"SELECT version FROM `{self.layout.database}`.`schema_migrations`").result_rows}  # fmt: skip
        migrate(self.client, self.layout, applied)
        if self.layout.ttl_seconds:
            # Only a changed retention alters a table, and without rewriting its parts (a start of every
            # collector would otherwise run a mutation over all stored rows): parts get the new TTL as they merge.
            shown = f"toIntervalSecond({self.layout.ttl_seconds})"
            for name in TABLES:
                local = self.layout.local(name).split(".")[-1].strip("`")
                rows = self.client.query(
                    "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                    parameters={"db": self.layout.database, "t": local},
                ).result_rows
                if rows and shown in rows[0][0]:
                    continue
                for stmt in self.layout.set_ttl(name):
                    self.client.command(stmt, settings={"materialize_ttl_after_modify": 0})

    # -- writing -----------------------------------------------------------------------------------------------
    @_unavailable
    def write(self, batch: IngestBatch) -> None:
        self._derive.mark(*self._w.write(batch))

    @_unavailable
    def settle(self) -> None:
        self._derive.settle()

    @_unavailable
    def delete_before(self, cutoff_ns: int) -> int:
        t = self.layout.table
        gone = [sid for (sid,) in self.client.query(
            f"SELECT span_id FROM {t('live')} GROUP BY span_id HAVING max(last_ns) < {{cut:Int64}}"
            f" AND span_id NOT IN (SELECT span_id FROM {t('streams')})", parameters={"cut": cutoff_ns},
        ).result_rows]  # fmt: skip
        for part in parts(gone):
            self._w.delete("chunks", "span_id IN {ids:Array(String)}", {"ids": part})
            self._w.delete("live", "span_id IN {ids:Array(String)}", {"ids": part})
        old = [tid for (tid,) in self.client.query(
            f"SELECT trace_id FROM {t('traces')} FINAL WHERE start_ns < {{cut:Int64}}", parameters={"cut": cutoff_ns},
        ).result_rows]  # fmt: skip
        return self._delete_traces(old)

    @_unavailable
    def delete_oldest(self, n: int) -> int:
        if n <= 0:
            return 0
        old = [tid for (tid,) in self.client.query(
            f"SELECT trace_id FROM {self.layout.table('traces')} FINAL ORDER BY start_ns, trace_id LIMIT {int(n)}"
        ).result_rows]  # fmt: skip
        return self._delete_traces(old)

    def _delete_traces(self, trace_ids: list[str]) -> int:
        t = self.layout.table
        minutes: set[int] = set()
        for part in parts(trace_ids):
            ids = {"ids": part}
            streams = self.client.query(
                f"SELECT span_id, start_ns FROM {t('streams')} FINAL WHERE trace_id IN {{ids:Array(String)}}",
                parameters=ids,
            ).result_rows
            for sids in parts(r[0] for r in streams):
                self._w.delete("chunks", "span_id IN {sids:Array(String)}", {"sids": sids})
            for table in ("streams", "stream_ids", "spans", "session_traces", "traces"):
                self._w.delete(table, "trace_id IN {ids:Array(String)}", ids)
            minutes.update(agg.slot_of(start, agg.MINUTE) for _, start in streams)
        self._w.fold(minutes, forget=True)
        return len(trace_ids)

    # -- reading -----------------------------------------------------------------------------------------------
    @_unavailable
    def traces(self, filters: Filters, limit: int, cursor: Cursor | None = None) -> list[TraceSummary]:
        return self._q.traces(filters, limit, cursor)

    @_unavailable
    def trace_spans(self, trace_id: str) -> list[Span]:
        return [_row_span(r) for r in self._q.trace_spans(trace_id)]

    @_unavailable
    def streams(self, filters: Filters, limit: int | None, cursor: Cursor | None = None) -> list[Stream]:
        return self._q.streams(filters, limit, cursor)

    @_unavailable
    def stream(self, span_id: str) -> Stream | None:
        return self._q.stream(span_id)

    @_unavailable
    def chunks(self, span_id: str) -> list[Chunk]:
        return self._q.chunks(span_id)

    @_unavailable
    def error_rows(self, filters: Filters, limit: int) -> list[ErrorRow]:
        return [ErrorRow.of_span(_row_span(r)) for r in self._q.error_spans(filters, limit)]

    @_unavailable
    def sessions(
        self, filters: Filters, limit: int, after: tuple[int, str] | None = None
    ) -> list[SessionSummary]:
        return self._q.sessions(filters, limit, after)

    @_unavailable
    def live(self, since_ns: int, limit: int) -> list[LiveStream]:
        return self._q.live(since_ns, limit)

    @_unavailable
    def counts(self) -> dict[str, int]:
        return self._q.counts()

    @_unavailable
    def aggregates(self, width_s: int, filters: Filters, *, rollup: int = 0) -> list[agg.Aggregate]:
        agg.check_filters(filters)
        agg.check_rollup(filters, rollup)
        if width_s not in agg.TIERS:
            raise ValueError(f"no aggregate tier of {width_s} s (tiers: {agg.TIERS})")
        return self._q.aggregates(width_s, filters, rollup)

    @_unavailable
    def storage_bytes(self) -> int:
        rows = self.client.query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active",
            parameters={"db": self.layout.database},
        ).result_rows
        return int(rows[0][0] or 0)

    def close(self) -> None:
        self._derive.close()
        self._w.close()
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
