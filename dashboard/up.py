"""``streamscope up``: the collector and the dashboard in one process, optionally with the demo workload.

    $ streamscope up --demo
    listening on http://127.0.0.1:4318
    listening on grpc://127.0.0.1:4317
    listening on http://127.0.0.1:8000 (dashboard)
    listening on http://127.0.0.1:8081 (fake LLM)

The collector writes SQLite under ``--data-dir``; the dashboard reads the same store object, so in-flight
streams show on /live as they land. With ``--demo`` the fake LLM server and the demo workload run as child
processes in their own process groups, so Ctrl-C reaches ``up`` alone and it stops everything in order: the
demo first (it flushes its traces), then the fake LLM, the dashboard, and last the collector (it drains its
queue, so every acknowledged span is on disk). Ports already taken are refused before anything starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from streamscope.collector.cli_options import (
    open_shared_store,
    retention_options,
    retention_seconds,
    store_option,
)
from streamscope.dashboard.cli import bind, serve

_LISTENING = re.compile(r"listening on (http://\S+)")


class _Child:
    """A child process in its own process group, stopped by its PID."""

    def __init__(self, args: list[str], name: str, *, capture: bool) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE if capture else None,
            stderr=None,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_for_url(self, timeout: float = 30.0) -> str:
        """The first ``listening on http://...`` line it prints; its other output is passed through."""
        stdout: IO[str] | None = self.proc.stdout
        assert stdout is not None
        found: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            for line in stdout:
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
                else:
                    sys.stdout.write(line)
            ready.set()

        threading.Thread(target=pump, name=f"up-{self.name}-out", daemon=True).start()
        if not ready.wait(timeout) or not found:
            self.stop(0)
            raise click.ClickException(f"the {self.name} did not start (exit code {self.proc.poll()}).")
        return found[0]

    def stop(self, grace: float, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class _Dashboard:
    """The dashboard app on the hardened HTTP server (``dashboard.cli.serve``), in a thread, on a bound socket."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.server: Any = serve(app, sock)
        self.thread = threading.Thread(target=self._run, name="up-dashboard", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # closed during shutdown
            self.server.run()

    def stop(self, grace: float = 5.0) -> None:
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=grace)
        self.server.close()
        for channel in list(self.server._map.values()):  # open keep-alive connections
            with contextlib.suppress(OSError):
                channel.close()
        self.thread.join(grace)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.command("up")
@click.option(
    "--data-dir",
    default="streamscope-data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the collector keeps its SQLite database.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface every server binds.")
@click.option(
    "--http-port",
    default=4318,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="OTLP/HTTP, query API and /metrics port (0: pick a free port).",
)
@click.option(
    "--grpc-port",
    default=4317,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="OTLP/gRPC port (0: pick a free port).",
)
@click.option(
    "--ui-port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Dashboard port (0: pick a free port).",
)
@click.option("--demo", is_flag=True, help="Also run the fake LLM server and the demo workload.")
@click.option(
    "--demo-rate",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=1000),
    help="With --demo: requests started per second.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="With --demo: the workload's seed.")
@retention_options
@store_option
def up(
    data_dir: str,
    host: str,
    http_port: int,
    grpc_port: int,
    ui_port: int,
    demo: bool,
    demo_rate: float,
    seed: int,
    retention_hours: float | None,
    max_db_bytes: int | None,
    store_url: str | None,
) -> None:
    """Run the collector and the dashboard together (and, with --demo, a demo workload feeding them)."""
    from streamscope.collector.gc_tuning import tune_gc
    from streamscope.collector.server import CollectorServer
    from streamscope.dashboard import create_app
    from streamscope.serving import port_problem

    directory = _preflight(
        host, {"--http-port": http_port, "--grpc-port": grpc_port, "--ui-port": ui_port}, data_dir
    )
    db = directory / "streamscope.db"

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    cleanups: list[Callable[[], None]] = []
    try:
        try:
            tune_gc()
            store = open_shared_store(store_url, retention_seconds(retention_hours)) if store_url else None
            collector = CollectorServer(
                str(db),
                store=store,
                host=host,
                http_port=http_port,
                grpc_port=grpc_port,
                retention_seconds=retention_seconds(retention_hours),
                max_db_bytes=max_db_bytes,
            )
            collector.start()
        except OSError as exc:
            raise click.ClickException(
                f"the collector cannot listen on {host}: {exc.strerror or exc}."
            ) from None
        cleanups.append(collector.stop)
        for line in collector.listening_lines():
            click.echo(line)
        if collector.retention is not None:
            click.echo(collector.retention.describe())
        collector_url = _url(host, int(collector.http_port or 0))

        try:
            sock = bind(host, ui_port)
        except OSError as exc:
            raise click.ClickException(port_problem(host, ui_port, "--ui-port", exc)) from None
        dashboard = _Dashboard(create_app({"bind_host": host}, store=collector.store), sock)
        cleanups.append(dashboard.stop)
        dashboard_url = _url(host, int(sock.getsockname()[1]))
        click.echo(f"listening on {dashboard_url} (dashboard)")

        demo_child = _start_demo(host, collector_url, demo_rate, seed, cleanups) if demo else None

        click.echo("")
        click.echo(f"streamscope is up; data in {directory}/")
        click.echo(f"  dashboard    {dashboard_url}")
        click.echo(f'  OTLP/HTTP    {collector_url}/v1/traces   (streamscope.init("{collector_url}"))')
        if collector.grpc_port is not None:
            click.echo(f"  OTLP/gRPC    {host}:{collector.grpc_port}")
        click.echo(f"  query API    {collector_url}/api/streams    metrics {collector_url}/metrics")
        if demo:
            click.echo(f"  demo         {demo_rate:g} requests/s from simulated users")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()

        reported = False
        while not stop.wait(0.5):
            if demo_child is not None and not reported and demo_child.proc.poll() is not None:
                click.echo(
                    f"the demo workload exited (code {demo_child.proc.returncode}); "
                    "the collector and dashboard keep running.",
                    err=True,
                )
                reported = True
        click.echo("stopping ...")
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # keep stopping the rest
                click.echo(f"while stopping: {exc!r}", err=True)
    time.sleep(0)  # let daemon threads observe the shutdown
    click.echo(f"stopped; data kept in {directory}/")


def _preflight(host: str, ports: dict[str, int], data_dir: str) -> Path:
    """Check the host and that the ports are free, and create the data directory (a one-line error if not)."""
    from streamscope.collector.ports import PortTaken, check_free
    from streamscope.serving import host_problem

    problem = host_problem(host)
    if problem is not None:
        raise click.ClickException(problem)
    try:
        check_free(host, ports)
    except PortTaken as exc:
        raise click.ClickException(str(exc.strerror)) from None
    directory = Path(data_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create the data directory {directory}: {exc.strerror}.") from None
    return directory


def _start_demo(
    host: str, collector_url: str, demo_rate: float, seed: int, cleanups: list[Callable[[], None]]
) -> _Child:
    """Start the fake LLM server and the demo workload feeding the collector (their stops go on ``cleanups``)."""
    python = [sys.executable, "-m", "streamscope"]
    llm = _Child([*python, "fake-llm", "--host", host, "--port", "0"], "fake LLM server", capture=True)
    cleanups.append(lambda: llm.stop(5))
    llm_url = llm.wait_for_url()
    click.echo(f"listening on {llm_url} (fake LLM)")
    args = [
        "--endpoint",
        collector_url,
        "--llm-url",
        f"{llm_url}/v1",
        "--rate",
        f"{demo_rate:g}",
        "--seed",
        str(seed),
    ]
    child = _Child([*python, "demo", *args], "demo workload", capture=False)
    cleanups.append(lambda: child.stop(30, signal.SIGINT))  # it finishes in-flight requests and flushes
    return child
