"""``dispatch_custom_event``: report a named event from inside a running step."""

from __future__ import annotations

from typing import Any

from streamscope.engine.callbacks.manager import CallbackManager
from streamscope.engine.config import RunnableConfig, ensure_config

__all__ = ["adispatch_custom_event", "dispatch_custom_event"]


def _manager(config: RunnableConfig | None) -> CallbackManager:
    callbacks = ensure_config(config).get("callbacks")
    if not isinstance(callbacks, CallbackManager) or callbacks.parent_run_id is None:
        raise RuntimeError("Custom events can only be dispatched inside a run (no enclosing run found).")
    return callbacks


def dispatch_custom_event(name: str, data: Any, *, config: RunnableConfig | None = None) -> None:
    """Send ``on_custom_event(name, data, run_id=<enclosing run>)`` to the enclosing run's handlers."""
    _manager(config).on_custom_event(name, data)


async def adispatch_custom_event(name: str, data: Any, *, config: RunnableConfig | None = None) -> None:
    await _manager(config).aon_custom_event(name, data)
