"""Shared fixtures for engine tests: a handler that records every callback in order."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import pytest

from streamscope.engine import BaseCallbackHandler


class Recorder(BaseCallbackHandler):
    """Records ``(event, payload, kwargs)`` for every callback; ``names()`` gives a compact order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def _add(self, event: str, payload: Any, kwargs: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event, payload, kwargs))

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self._add("chain_start", inputs, kwargs)

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self._add("chain_end", outputs, kwargs)

    def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
        self._add("chain_error", error, kwargs)

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._add("chat_model_start", messages, kwargs)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self._add("new_token", token, kwargs)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._add("llm_end", response, kwargs)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._add("llm_error", error, kwargs)

    def on_retry(self, retry_state: Any, **kwargs: Any) -> None:
        self._add("retry", retry_state, kwargs)

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self._add("custom_event", (name, data), kwargs)

    def names(self) -> list[str]:
        return [e[0] for e in self.events]

    def of(self, event: str) -> list[tuple[Any, dict[str, Any]]]:
        return [(p, k) for e, p, k in self.events if e == event]

    def ends(self) -> dict[UUID, list[str]]:
        """run id -> the ending callbacks it received (must be exactly one each)."""
        out: dict[UUID, list[str]] = {}
        for event, _, kwargs in self.events:
            if event.endswith("_start"):
                out.setdefault(kwargs["run_id"], [])
            if event.endswith(("_end", "_error")):
                out.setdefault(kwargs["run_id"], []).append(f"{event}:{kwargs.get('reason')}")
        return out

    def name_of(self, run_id: UUID) -> str | None:
        for event, _, kwargs in self.events:
            if event.endswith("_start") and kwargs["run_id"] == run_id:
                return str(kwargs.get("name"))
        return None


@pytest.fixture
def rec() -> Recorder:
    return Recorder()
