"""The ``streamscope`` command.

The SDK owns the command group and SDK-level commands. Server commands (``collector``,
``dashboard``, ``up``) live in higher layers and register themselves through the
``streamscope.commands`` entry-point group, so the SDK never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import click


class _PluginGroup(click.Group):
    """A click group that also offers commands registered by installed entry points."""

    def _plugins(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group="streamscope.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        plugin = self._plugins().get(cmd_name)
        if plugin is None:
            return None
        loaded = plugin.load()
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=_PluginGroup)
@click.version_option(package_name="streamscope")
def main() -> None:
    """streamscope: see what happens inside LLM streams, chunk by chunk."""


@main.command("fake-llm")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--scenarios",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="JSON file of scenarios keyed by model name (see docs/fake-llm.md).",
)
def fake_llm(host: str, port: int, scenarios: str | None) -> None:
    """Run the OpenAI-compatible fake LLM server (scripted text, tool calls and timing)."""
    import json
    import signal
    import sys
    import threading

    from streamscope.testing.fake_llm import FakeLLMServer, ScenarioError, load_scenarios

    loaded: dict[str, Any] = {}
    if scenarios is not None:
        try:
            with open(scenarios, encoding="utf-8") as fh:
                loaded = load_scenarios(json.load(fh))
        except (ValueError, ScenarioError) as exc:
            raise click.BadParameter(str(exc), param_hint="--scenarios") from exc
    from streamscope.serving import host_problem, port_problem

    problem = host_problem(host)
    if problem is not None:
        raise click.ClickException(problem)
    try:
        server = FakeLLMServer(loaded, host=host, port=port, keep_requests=100).bind()
    except OSError as exc:
        raise click.ClickException(port_problem(host, port, "--port", exc)) from None
    click.echo(f"listening on {server.url}")
    sys.stdout.flush()

    def _stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.interrupt, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command("demo")
@click.option(
    "--endpoint",
    default="http://127.0.0.1:4318",
    show_default=True,
    help="Collector to send traces to (OTLP/HTTP base URL).",
)
@click.option(
    "--llm-url",
    default=None,
    help="OpenAI-compatible base URL to stream from, e.g. http://127.0.0.1:8081/v1 "
    "(default: a fake LLM server started inside the demo).",
)
@click.option(
    "--rate",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=1000),
    help="Requests started per second, on average.",
)
@click.option(
    "--duration",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to run (0: until Ctrl-C).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same sequence of requests.")
@click.option(
    "--concurrency",
    default=32,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Most requests in flight at once.",
)
@click.option(
    "--service-name", default="streamscope-demo", show_default=True, help="service.name of the traces."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress line (default: when stdout is a terminal).",
)
def demo(
    endpoint: str,
    llm_url: str | None,
    rate: float,
    duration: float,
    seed: int,
    concurrency: int,
    service_name: str,
    progress: bool | None,
) -> None:
    """Run a demo workload: simulated users streaming from fake models (chains, an agent with tools, stalls,
    abandoned and cancelled streams, timeouts, errors), traced by the SDK and sent to a collector."""
    import asyncio
    import signal
    import sys
    import time

    from streamscope.demo import DemoConfig, DemoStats, run_demo

    config = DemoConfig(
        endpoint=endpoint,
        llm_url=llm_url,
        rate=rate,
        duration=duration or None,
        seed=seed,
        concurrency=concurrency,
        service_name=service_name,
    )
    tty = sys.stdout.isatty()
    show = tty if progress is None else progress
    last = [0.0]

    def render(stats: DemoStats) -> None:
        elapsed = time.monotonic() - stats.began
        if config.duration:
            done = min(1.0, elapsed / config.duration)
            bar = "#" * int(done * 20)
            head = f"[{bar:<20}] {min(elapsed, config.duration):4.0f}/{config.duration:.0f} s"
        else:
            head = f"{elapsed:5.0f} s"
        if tty:
            click.echo(f"\r{head}  {stats.line()}\x1b[K", nl=False)
        elif elapsed - last[0] >= 10 or stats.in_flight == 0:
            last[0] = elapsed
            click.echo(f"{head}  {stats.line()}")

    async def go() -> DemoStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_demo(config, stop=stop, progress=render if show else None)

    where = llm_url or "a built-in fake LLM server"
    click.echo(f"demo: {rate:g} requests/s from {where} to {endpoint} (Ctrl-C stops)")
    stats = asyncio.run(go())
    if show and tty:
        click.echo()
    click.echo(f"demo: finished: {stats.line()}")
