"""Token usage per model across runs: ``UsageMetadataCallbackHandler`` and ``get_usage_metadata_callback``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypedDict

from streamscope.engine.callbacks.base import BaseCallbackHandler
from streamscope.engine.callbacks.manager import scoped_handler
from streamscope.engine.messages import AIMessage, add_usage

__all__ = [
    "InputTokenDetails",
    "OutputTokenDetails",
    "UsageMetadata",
    "UsageMetadataCallbackHandler",
    "get_usage_metadata_callback",
]


class InputTokenDetails(TypedDict, total=False):
    audio: int
    cache_creation: int
    cache_read: int


class OutputTokenDetails(TypedDict, total=False):
    audio: int
    reasoning: int


class _UsageRequired(TypedDict):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class UsageMetadata(_UsageRequired, total=False):
    """A message's ``usage_metadata`` (LangChain's shape)."""

    input_token_details: InputTokenDetails
    output_token_details: OutputTokenDetails


class UsageMetadataCallbackHandler(BaseCallbackHandler):
    """Sums the ``usage_metadata`` of every chat model run that ends, keyed by the ``model_name`` in the final
    message's ``response_metadata`` (runs without both are skipped, as in LangChain)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage_metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return str(self.usage_metadata)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        generations = getattr(response, "generations", None)
        try:
            message = generations[0][0].message if generations else None
        except (IndexError, AttributeError):
            message = None
        if not isinstance(message, AIMessage):
            return
        usage = message.usage_metadata
        model_name = message.response_metadata.get("model_name")
        if usage and model_name:
            with self._lock:
                known = self.usage_metadata.get(model_name)
                self.usage_metadata[model_name] = (
                    dict(usage) if known is None else add_usage(known, dict(usage))
                )


@contextmanager
def get_usage_metadata_callback(
    name: str = "usage_metadata_callback",
) -> Iterator[UsageMetadataCallbackHandler]:
    """``with get_usage_metadata_callback() as cb:``: every model run inside the block adds to ``cb``."""
    with scoped_handler(UsageMetadataCallbackHandler()) as handler:
        yield handler
