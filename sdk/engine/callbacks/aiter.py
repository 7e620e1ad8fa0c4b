"""``AsyncIteratorCallbackHandler``: turn a model's tokens into an async iterator, with real backpressure.

Its queue is bounded (``maxsize``, default 64): when the consumer of :meth:`aiter` is slow, the model's
``on_llm_new_token`` awaits room in the queue, so the producer slows down instead of memory growing. It tracks
the set of running model runs, so two concurrent runs feeding one handler end the iterator only when both are
done (LangChain's version stops at the first run's end).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from streamscope.engine.callbacks.base import AsyncCallbackHandler

__all__ = ["AsyncIteratorCallbackHandler"]

_DONE = object()


class AsyncIteratorCallbackHandler(AsyncCallbackHandler):
    """Collect the non-empty tokens of every model run the handler is attached to."""

    def __init__(self, maxsize: int = 64) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)
        self.done = asyncio.Event()
        self._running: set[UUID] = set()
        self._started = False

    async def _run_started(self, run_id: UUID) -> None:
        self._running.add(run_id)
        self._started = True
        self.done.clear()

    async def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: UUID, **kwargs: Any) -> None:
        await self._run_started(run_id)

    async def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        await self._run_started(run_id)

    async def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        if isinstance(token, str) and token:
            await self.queue.put(token)

    async def _run_ended(self, run_id: UUID) -> None:
        self._running.discard(run_id)
        if not self._running:
            self.done.set()
            await self.queue.put(_DONE)

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        await self._run_ended(run_id)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        await self._run_ended(run_id)

    async def aiter(self) -> AsyncIterator[str]:
        """Yield tokens until every started run has ended."""
        while True:
            item = await self.queue.get()
            if item is _DONE:
                if self._running:
                    continue  # another run started after the last one ended
                return
            yield item
