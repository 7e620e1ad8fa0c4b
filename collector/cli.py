"""``streamscope collector``: run the collector (registered through the ``streamscope.commands`` entry point)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from types import FrameType

import click

from streamscope.collector.cli_options import (
    api_keys_option,
    open_shared_store,
    retention_options,
    retention_seconds,
    store_option,
)
from streamscope.collector.gc_tuning import tune_gc
from streamscope.collector.ports import PortTaken, check_free
from streamscope.collector.pricing import DEFAULT_PRICES, load_prices
from streamscope.collector.server import CollectorServer
from streamscope.serving import DEFAULT_DATA_DIR, DEFAULT_DB, db_dir_problem, default_db, host_problem


@click.command("collector")
@click.option("--db", "db", default=None, envvar="STREAMSCOPE_DB",
              help="SQLite database file (created if missing) [default: $STREAMSCOPE_DB, else "
                   "streamscope-data/streamscope.db].")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--http-port", default=4318, show_default=True, type=click.IntRange(0, 65535),
              help="OTLP/HTTP, query API and /metrics port (0: pick a free port).")  # fmt: skip
@click.option("--grpc-port", default=4317, show_default=True, type=click.IntRange(0, 65535),
              help="OTLP/gRPC port (0: pick a free port).")  # fmt: skip
@click.option("--api-key", "api_keys", multiple=True, callback=api_keys_option,
              help="Require this API key on /v1 and /api and on gRPC (repeatable; an empty key is refused).")  # fmt: skip
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Answer HTTP requests whose Host header is this name (repeatable; see docs/security.md).")  # fmt: skip
@click.option("--prices", "prices_file", type=click.Path(exists=True, dir_okay=False),
              help="JSON model price table overriding the built-in one (cost is an estimate).")  # fmt: skip
@retention_options
@store_option
@click.option("--queue-size", default=100_000, show_default=True, type=click.IntRange(min=1),
              help="Spans and chunk rows the ingest queue holds before answering 503.")  # fmt: skip
def collector(
    db: str | None,
    host: str,
    http_port: int,
    grpc_port: int,
    api_keys: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    prices_file: str | None,
    retention_hours: float | None,
    max_db_bytes: int | None,
    store_url: str | None,
    queue_size: int,
) -> None:
    """Receive OTLP traces (HTTP and gRPC), store them, and serve the query API and /metrics."""
    problem = host_problem(host)
    if problem is not None:
        raise click.ClickException(problem)
    if store_url is None:  # SQLite: the shared data location unless --db says otherwise
        if db is None:
            db = default_db()
            if db == DEFAULT_DB:
                os.makedirs(DEFAULT_DATA_DIR, exist_ok=True)
        problem = db_dir_problem(db)
        if problem is not None:
            raise click.ClickException(problem)
    try:
        check_free(host, {"--http-port": http_port, "--grpc-port": grpc_port})
    except PortTaken as exc:
        raise click.ClickException(str(exc.strerror)) from None
    try:
        prices = load_prices(prices_file) if prices_file else DEFAULT_PRICES
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise click.BadParameter(f"{prices_file}: {exc}", param_hint="--prices") from None
    tune_gc()
    store = open_shared_store(store_url, retention_seconds(retention_hours)) if store_url else None
    try:
        server = CollectorServer(
            db, store=store, host=host, http_port=http_port, grpc_port=grpc_port, api_keys=api_keys,
            allowed_hosts=allowed_hosts, prices=prices, max_queue_rows=queue_size,
            retention_seconds=retention_seconds(retention_hours),
            max_db_bytes=max_db_bytes,
        )  # fmt: skip
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot open the database {db}: {exc}.") from None
    try:
        server.start()
    except (OSError, RuntimeError) as exc:  # lost a race for a port checked above, or a bad --host
        server.stop()
        raise click.ClickException(f"the collector cannot listen on {host}: {exc}.") from None
    for line in server.listening_lines():
        click.echo(line)
    if server.retention is not None:
        click.echo(server.retention.describe())
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(0.5):
        pass
    server.stop()
