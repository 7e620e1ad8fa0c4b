"""``with_listeners(on_start=, on_end=, on_error=)``: functions called with the bound runnable's own run."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from streamscope.engine.callbacks.base import BaseCallbackHandler
from streamscope.engine.config import RunnableConfig, merge_configs
from streamscope.engine.runnables.binding import RunnableBinding

__all__ = ["Run", "RunnableListeners"]

Listener = Callable[..., Any]


class Run:
    """What a listener gets: the run's ``id``, ``name``, ``run_type``, ``inputs`` / ``outputs`` (wrapped as
    ``{"input": ...}`` / ``{"output": ...}`` unless already dicts), ``error`` (the formatted exception),
    ``tags``, ``metadata``, ``start_time``, ``end_time``. The same object is updated as the run goes."""

    def __init__(
        self,
        run_id: UUID,
        name: str,
        run_type: str,
        inputs: Any,
        tags: list[str],
        metadata: dict[str, Any],
        parent_run_id: UUID | None,
    ) -> None:
        self.id = run_id
        self.name = name
        self.run_type = run_type
        self.inputs = _wrap(inputs, "input")
        self.outputs: dict[str, Any] | None = None
        self.error: str | None = None
        self.tags = tags
        self.metadata = metadata
        self.parent_run_id = parent_run_id
        self.start_time = datetime.now(timezone.utc)
        self.end_time: datetime | None = None


def _wrap(value: Any, key: str) -> dict[str, Any]:
    return value if isinstance(value, dict) else {key: value}


class _RootListener(BaseCallbackHandler):
    """Calls the listeners for the first run it sees (the bound runnable's) and ignores its children."""

    def __init__(
        self,
        config: RunnableConfig,
        on_start: Listener | None,
        on_end: Listener | None,
        on_error: Listener | None,
    ) -> None:
        self.config = config
        self.on_start, self.on_end, self.on_error = on_start, on_end, on_error
        self.root: Run | None = None

    def _call(self, listener: Listener | None, run: Run) -> None:
        if listener is None:
            return
        try:
            takes_config = len(inspect.signature(listener).parameters) > 1
        except (TypeError, ValueError):
            takes_config = False
        if takes_config:
            listener(run, self.config)
        else:
            listener(run)

    def _started(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str | None,
        run_type: str,
        inputs: Any,
        kwargs: dict[str, Any],
    ) -> None:
        if self.root is not None:
            return
        self.root = Run(
            run_id,
            name or "Unnamed",
            run_type,
            inputs,
            list(kwargs.get("tags") or []),
            dict(kwargs.get("metadata") or {}),
            parent_run_id,
        )
        self._call(self.on_start, self.root)

    def _ended(self, run_id: UUID, outputs: Any, error: BaseException | None, inputs: Any = None) -> None:
        run = self.root
        if run is None or run.id != run_id:
            return
        if inputs is not None:
            run.inputs = _wrap(inputs, "input")
        run.end_time = datetime.now(timezone.utc)
        if error is None:
            run.outputs = _wrap(outputs, "output")
            self._call(self.on_end, run)
        else:
            run.error = repr(error) + "".join(traceback.format_exception(error))
            self._call(self.on_error, run)

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        name: str | None = None,
        run_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._started(run_id, parent_run_id, name, run_type or "chain", inputs, kwargs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, inputs: Any = None, **kwargs: Any) -> None:
        self._ended(run_id, outputs, None, inputs)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, inputs: Any = None, **kwargs: Any
    ) -> None:
        self._ended(run_id, None, error, inputs)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._started(run_id, parent_run_id, name, "llm", {"messages": messages}, kwargs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, response, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, None, error)

    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._started(run_id, parent_run_id, name, "tool", input_str, kwargs)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, output, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, None, error)


class RunnableListeners(RunnableBinding):
    """``bound`` with a fresh listener handler in the config of every call (see ``Runnable.with_listeners``)."""

    def __init__(
        self,
        bound: Any,
        *,
        on_start: Listener | None = None,
        on_end: Listener | None = None,
        on_error: Listener | None = None,
        config: RunnableConfig | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(bound, config=config, kwargs=kwargs)
        self.listeners = (on_start, on_end, on_error)

    def _merge(self, config: RunnableConfig | None) -> RunnableConfig:
        merged = merge_configs(self.config, config)
        return merge_configs(merged, {"callbacks": [_RootListener(merged, *self.listeners)]})

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> RunnableBinding:
        extra: RunnableConfig = {**(config or {}), **kwargs}  # type: ignore[typeddict-item]
        return RunnableListeners(
            self.bound,
            on_start=self.listeners[0],
            on_end=self.listeners[1],
            on_error=self.listeners[2],
            config=merge_configs(self.config, extra),
            kwargs=self.kwargs,
        )

    def bind(self, **kwargs: Any) -> RunnableBinding:
        return RunnableListeners(
            self.bound,
            on_start=self.listeners[0],
            on_end=self.listeners[1],
            on_error=self.listeners[2],
            config=self.config,
            kwargs={**self.kwargs, **kwargs},
        )
