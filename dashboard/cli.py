"""``streamscope dashboard``: serve the dashboard on the collector's hardened HTTP server (collector/http_edge.py).

Example:
    $ streamscope dashboard --port 8000            # reads streamscope-data/streamscope.db
    listening on http://127.0.0.1:8000 (dashboard)
"""

from __future__ import annotations

import signal
import socket
import sys
from dataclasses import replace
from types import FrameType
from typing import Any

import click

from streamscope.collector.cli_options import open_shared_store, store_option
from streamscope.collector.http_edge import EdgeServer, create_http_server
from streamscope.collector.limits import DEFAULT_LIMITS, Limits
from streamscope.serving import DEFAULT_DB, default_db

#: the collector's connection limits (deadlines, per-client and total connections, header size, buffers); a
#: request body (only the login form sends one) is at most 64 KiB
DASHBOARD_LIMITS = replace(DEFAULT_LIMITS, max_body_bytes=64 * 1024)
DASHBOARD_THREADS = 8


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app: Any, sock: socket.socket, limits: Limits = DASHBOARD_LIMITS) -> EdgeServer:
    """The dashboard's HTTP server on an already bound socket: slow, idle and flooding connections are closed by
    the collector's limits, and a request carrying both Transfer-Encoding and Content-Length is refused."""
    host, port = sock.getsockname()[:2]
    return create_http_server(app, host, port, limits, DASHBOARD_THREADS, sock=sock)


@click.command("dashboard")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="STREAMSCOPE_DB",
    help="The collector's SQLite database [default: $STREAMSCOPE_DB, else streamscope-data/streamscope.db].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: pick a free one).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Answer requests whose Host header is this name (repeatable; see docs/security.md).",
)
@store_option
def dashboard(
    db_path: str | None, host: str, port: int, allowed_hosts: tuple[str, ...], store_url: str | None
) -> None:
    """Serve the web dashboard over the collector's store."""
    import os

    from streamscope.dashboard import create_app
    from streamscope.serving import host_problem, port_problem

    problem = host_problem(host)
    if problem is not None:
        raise click.ClickException(problem)
    settings = {"bind_host": host, "allowed_hosts": allowed_hosts}
    if store_url is None:
        if db_path is None:
            db_path = default_db()
        if not os.path.isfile(db_path):
            raise click.ClickException(
                f"no database at {db_path}: start the collector first (streamscope collector writes "
                f"{DEFAULT_DB}), or give --db PATH (or STREAMSCOPE_DB), or --store URL."
            )
    try:
        if store_url:
            app = create_app(settings, store=open_shared_store(store_url))
        else:
            app = create_app({**settings, "db_path": db_path})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise click.ClickException(port_problem(host, port, "--port", exc)) from None
    bound_host, bound_port = sock.getsockname()[:2]
    server = serve(app, sock)
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"listening on http://{shown}:{bound_port} (dashboard)")
    sys.stdout.flush()

    def _stop(signum: int, frame: FrameType | None) -> None:
        server.close()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
