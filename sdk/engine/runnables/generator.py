"""``RunnableGenerator``: a chunk-to-chunk stage from a generator over the input iterator."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, child_config_var
from streamscope.engine.runnables.base import Runnable

__all__ = ["RunnableGenerator"]

_END = object()


def _is_async_generator(fn: Any) -> bool:
    """An async generator function, or an object whose ``__call__`` is one (as LangChain accepts)."""
    return inspect.isasyncgenfunction(fn) or (callable(fn) and inspect.isasyncgenfunction(type(fn).__call__))


class RunnableGenerator(Runnable[Any, Any]):
    """``RunnableGenerator(fn)`` where ``fn(chunks: Iterator[A]) -> Iterator[B]`` (or the async versions; ``fn``
    may also be an object whose ``__call__`` is an async generator).

    It streams without buffering: each output chunk can leave before the next input chunk arrives.
    """

    streams_natively = True

    def __init__(
        self,
        transform: Callable[..., Any],
        atransform: Callable[..., Any] | None = None,
        name: str | None = None,
    ) -> None:
        if _is_async_generator(transform):
            self._fn: Callable[..., Any] | None = None
            self._afn: Callable[..., Any] | None = transform
        else:
            self._fn, self._afn = transform, atransform
        named = self._fn or self._afn
        self.name = name or getattr(named, "__name__", None) or "RunnableGenerator"

    def _call(self, fn: Callable[..., Any], source: Any, config: RunnableConfig) -> Any:
        try:
            takes_config = "config" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            takes_config = False
        return fn(source, config=config) if takes_config else fn(source)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        if self._fn is None:
            raise NotImplementedError(
                f"{self.get_name()} has only an async generator; use astream/atransform."
            )
        iterator = iter(self._call(self._fn, input, config))
        try:
            while True:
                token = child_config_var.set(config)
                try:
                    item = next(iterator, _END)
                finally:
                    child_config_var.reset(token)
                if item is _END:
                    return
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if self._afn is None:
            raise NotImplementedError(f"{self.get_name()} has only a sync generator; use stream/transform.")
        iterator = self._call(self._afn, input, config)
        try:
            while True:
                token = child_config_var.set(config)
                try:
                    item = await anext(iterator, _END)
                finally:
                    child_config_var.reset(token)
                if item is _END:
                    return
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
