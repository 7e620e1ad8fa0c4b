"""``streamscope dashboard``: serve the dashboard with waitress.

Example:
    $ streamscope dashboard --db streamscope.db --port 8000
    listening on http://127.0.0.1:8000 (dashboard)
"""

from __future__ import annotations

import signal
import socket
import sys
from types import FrameType

import click

from streamscope.collector.cli_options import open_shared_store, store_option


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


@click.command("dashboard")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None, envvar="STREAMSCOPE_DB",
              help="The collector's SQLite database.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: pick a free one).")
@store_option
def dashboard(db_path: str | None, host: str, port: int, store_url: str | None) -> None:
    """Serve the web dashboard over the collector's store."""
    from waitress.server import create_server

    from streamscope.dashboard import create_app

    if db_path is None and store_url is None:
        raise click.UsageError("Give the collector's database with --db PATH (or STREAMSCOPE_DB), or --store URL.")
    try:
        app = create_app(store=open_shared_store(store_url)) if store_url else create_app({"db_path": db_path})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound_host, bound_port = sock.getsockname()[:2]
    server = create_server(app, sockets=[sock], threads=8, ident="streamscope")
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
