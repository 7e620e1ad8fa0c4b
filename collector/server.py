"""An embeddable collector: HTTP (OTLP + query API + /metrics) and OTLP/gRPC in one process.

    server = CollectorServer(db="streamscope.db", http_port=0, grpc_port=0)
    http_port, grpc_port = server.start()
    ...
    server.stop()

``streamscope collector`` and ``streamscope up`` both use this class.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from streamscope.collector import auth
from streamscope.collector.grpc_server import GrpcServer, start_grpc
from streamscope.collector.hosts import HostCheck
from streamscope.collector.http_app import create_app
from streamscope.collector.http_edge import create_http_server
from streamscope.collector.limits import DEFAULT_LIMITS, Limits
from streamscope.collector.metrics import CollectorMetrics
from streamscope.collector.pipeline import Ingestor
from streamscope.collector.pricing import DEFAULT_PRICES, Prices
from streamscope.collector.receiver import Receiver
from streamscope.collector.retention import Retention
from streamscope.collector.store import SpanStore
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.collector.store.writer import SQLiteProcessStore

log = logging.getLogger(__name__)


class CollectorServer:
    def __init__(
        self,
        db: str | None = "streamscope.db",
        *,
        store: SpanStore | None = None,
        host: str = "127.0.0.1",
        http_port: int = 4318,
        grpc_port: int | None = 4317,
        api_keys: Sequence[str] = (),
        allowed_hosts: Sequence[str] = (),
        prices: Prices = DEFAULT_PRICES,
        max_queue_rows: int = 100_000,
        retention_seconds: float | None = None,
        max_db_bytes: int | None = None,
        retention: Retention | None = None,
        http_threads: int = 16,
        synchronous: str = "FULL",
        writer_process: bool = True,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        # checked before anything starts (a writer process, writer threads) that a refusal would leave running
        for key in api_keys:
            auth.check_key(key)
        if store is None:
            if db is None:
                raise ValueError("give a database path or a store")
            # writes in a child process by default: committing never waits for the receivers' GIL
            store = (SQLiteProcessStore if writer_process else SQLiteStore)(db, synchronous=synchronous)
        self.store = store
        self.host = host
        self.metrics = CollectorMetrics()
        # two writer threads when the store takes a batch while committing the last (the writer process); a store
        # whose writes may run side by side says how many (ClickHouse: each write is a few round trips)
        writers = getattr(store, "write_concurrency", 2 if isinstance(store, SQLiteProcessStore) else 1)
        self.ingestor = Ingestor(store, self.metrics, max_queue_rows=max_queue_rows, writers=writers,
                                 gather=getattr(store, "gather_writes", False),
                                 linger=getattr(store, "gather_linger_s", 0.0),
                                 linger_rows=getattr(store, "gather_rows", 0))  # fmt: skip
        self.limits = limits
        self.receiver = Receiver(self.ingestor, prices, tuple(api_keys), limits)
        self.app = create_app(self.receiver, api_keys=api_keys, hosts=HostCheck(host, allowed_hosts))
        self._http_port, self._grpc_port = http_port, grpc_port
        self._api_keys = tuple(api_keys)
        self._http_threads = http_threads
        if retention is None and (retention_seconds or max_db_bytes):
            retention = Retention(retention_seconds, max_db_bytes)
        self.retention = retention
        if retention is not None and retention.max_bytes is not None and isinstance(store, SQLiteStore):
            # a write waits for room (503 meanwhile); on ClickHouse, whose parts shrink only as they merge, the
            # size bound stays the background pass
            self.ingestor.admit = lambda: retention.admit(store)
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self._grpc: GrpcServer | None = None
        self._stop = threading.Event()
        self._http_stop = threading.Event()
        self._janitor: threading.Thread | None = None
        self.http_port: int | None = None
        self.grpc_port: int | None = None

    def start(self) -> tuple[int, int | None]:
        """Bind and serve; returns ``(http_port, grpc_port)`` (gRPC port None when disabled)."""
        closed = self.metrics.connections_closed
        self._http = create_http_server(self.app, self.host, self._http_port, self.limits, self._http_threads,
                                        on_close=lambda reason: closed.labels(reason).inc())  # fmt: skip
        self.http_port = int(self._http.effective_port)
        self._http_thread = threading.Thread(target=self._serve_http, name="collector-http", daemon=True)
        self._http_thread.start()
        if self._grpc_port is not None:
            self._grpc, self.grpc_port = start_grpc(self.receiver, self.host, self._grpc_port, self._api_keys)
        if self.retention is not None:
            self._janitor = threading.Thread(
                target=self._enforce_retention, name="collector-retention", daemon=True
            )
            self._janitor.start()
        return self.http_port, self.grpc_port

    def _serve_http(self) -> None:
        # waitress's own run() would sit in select() for up to asyncore_loop_timeout after a stop; this loop
        # returns after every wake-up, and stop() wakes it with the trigger.
        http = self._http
        with contextlib.suppress(OSError):  # closed during shutdown
            while not self._http_stop.is_set() and http._map:
                http.asyncore.loop(timeout=http.adj.asyncore_loop_timeout, map=http._map,
                                   use_poll=http.adj.asyncore_use_poll, count=1)  # fmt: skip

    def _enforce_retention(self) -> None:
        """Background retention (age and size); see ``collector/retention.py``."""
        assert self.retention is not None
        wake = self.retention.wake
        while True:
            wake.wait(self.retention.interval)  # the interval, or at once when a write was refused for room
            wake.clear()
            if self._stop.is_set():
                return
            try:
                removed = self.retention.enforce(self.store)
                if removed["age"]:
                    log.info("retention removed %d traces older than %.0f s", removed["age"],
                             self.retention.max_age_s)  # fmt: skip
            except Exception:
                log.exception("retention failed")

    def listening_lines(self) -> list[str]:
        lines = [f"listening on http://{self.host}:{self.http_port}"]
        if self.grpc_port is not None:
            lines.append(f"listening on grpc://{self.host}:{self.grpc_port}")
        return lines

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        if self.retention is not None:
            self.retention.wake.set()
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace)
        self.ingestor.close()  # drains the queue: requests waiting for their commit get answered
        if self._http is not None:
            self._http.task_dispatcher.shutdown(cancel_pending=True, timeout=grace)
            self._http_stop.set()
            with contextlib.suppress(OSError):
                self._http.pull_trigger()
            if self._http_thread is not None:
                self._http_thread.join(grace)
            self._http.close()
            for channel in list(self._http._map.values()):  # open keep-alive connections
                with contextlib.suppress(OSError):
                    channel.close()
        self.store.close()
