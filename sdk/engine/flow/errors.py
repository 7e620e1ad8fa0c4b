"""The error a flow timeout raises: a ``TimeoutError`` that keeps what arrived before it fired."""

from __future__ import annotations

from typing import Any, Literal

from streamscope.engine.flow.combine import combine_chunks

__all__ = ["StreamTimeoutError"]


class StreamTimeoutError(TimeoutError):
    """A per-chunk or whole-stream timeout fired.

    ``scope`` is ``"chunk"`` (no chunk arrived within ``limit`` seconds) or ``"stream"`` (the stream did not
    finish within ``limit`` seconds). ``chunks`` are the chunks that got through before the timeout, and
    ``partial`` is them combined (see :func:`combine_chunks`). ``reason`` is always ``"timeout"``, the
    engine's name for this ending.
    """

    reason = "timeout"

    def __init__(self, scope: Literal["chunk", "stream"], limit: float, chunks: list[Any]) -> None:
        what = "no chunk arrived within" if scope == "chunk" else "the stream did not finish within"
        super().__init__(f"flow timeout: {what} {limit:g} s (after {len(chunks)} chunks)")
        self.scope = scope
        self.limit = limit
        self.chunks = chunks

    @property
    def partial(self) -> Any:
        """The chunks received before the timeout, combined (``None`` if there were none)."""
        return combine_chunks(self.chunks)
