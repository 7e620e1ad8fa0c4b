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
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
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
    server = FakeLLMServer(loaded, host=host, port=port).bind()
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
