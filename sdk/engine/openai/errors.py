"""What ``ChatOpenAI`` raises: one clear engine error per failure, keeping the partial output.

The ``openai`` exception stays available as ``cause`` (and ``__cause__``). Classes double as the matching
builtin so generic handlers work: a dropped stream is a ``ConnectionError``, a timeout a ``TimeoutError``
(the engine then ends the run with ``reason="timeout"``).
"""

from __future__ import annotations

from typing import Any

from streamscope.engine.messages import AIMessageChunk

__all__ = [
    "ChatOpenAIConnectionError",
    "ChatOpenAIError",
    "ChatOpenAIMalformedChunkError",
    "ChatOpenAIStatusError",
    "ChatOpenAITimeoutError",
]


class ChatOpenAIError(RuntimeError):
    """A chat completion failed. ``partial`` is the merged output received before the failure (``None`` if
    nothing arrived), ``chunk_count`` how many chunks arrived, ``cause`` the ``openai`` exception."""

    def __init__(self, message: str, *, partial: AIMessageChunk | None = None, chunk_count: int = 0,
                 cause: BaseException | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.partial = partial
        self.chunk_count = chunk_count
        self.cause = cause

    @property
    def partial_text(self) -> str:
        return self.partial.text if self.partial is not None else ""


class ChatOpenAIStatusError(ChatOpenAIError):
    """The server answered with an HTTP error status (after the client's retries)."""

    def __init__(self, message: str, *, status_code: int, body: Any = None, retry_after: str | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after


class ChatOpenAIConnectionError(ChatOpenAIError, ConnectionError):
    """The connection failed or was cut off mid-stream."""


class ChatOpenAITimeoutError(ChatOpenAIError, TimeoutError):
    """The request or the stream exceeded ``timeout``."""


class ChatOpenAIMalformedChunkError(ChatOpenAIError):
    """The server sent a stream event that is not valid JSON."""
