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
