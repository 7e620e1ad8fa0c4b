"""The shape every flow stage shares: one object that wraps sync and async chunk iterators alike."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar, overload

__all__ = ["FlowStage", "apply", "is_async_source"]

T = TypeVar("T")


def is_async_source(source: object) -> bool:
    """True when ``source`` is an async iterable (it has ``__aiter__``)."""
    return hasattr(source, "__aiter__")


class FlowStage:
    """A stage that turns an iterator of chunks into another one.

    ``stage(source)`` returns a sync iterator for a sync iterable and an async iterator for an async
    iterable. Subclasses implement :meth:`iter` and :meth:`aiter`; both must be lazy (nothing is pulled
    from ``source`` until the result is iterated) and must close ``source`` when they are closed early.
    """

    stage_name = "flow"

    @overload
    def __call__(self, source: AsyncIterable[T]) -> AsyncIterator[T]: ...

    @overload
    def __call__(self, source: Iterable[T]) -> Iterator[T]: ...

    def __call__(self, source: Any) -> Any:
        if hasattr(source, "__aiter__"):
            return self.aiter(source)
        return self.iter(source)

    def iter(self, source: Iterable[T]) -> Iterator[T]:
        """Wrap a sync iterable."""
        raise NotImplementedError

    def aiter(self, source: AsyncIterable[T]) -> AsyncIterator[T]:
        """Wrap an async iterable."""
        raise NotImplementedError


@overload
def apply(source: AsyncIterable[T], *stages: FlowStage) -> AsyncIterator[T]: ...


@overload
def apply(source: Iterable[T], *stages: FlowStage) -> Iterator[T]: ...


def apply(source: Any, *stages: FlowStage) -> Any:
    """Run ``source`` through ``stages`` left to right: ``apply(it, rechunk(chunk_size=8), guard())``."""
    out = source
    for stage in stages:
        out = stage(out)
    return out


def close_sync(it: object) -> None:
    """Close a sync iterator if it can be closed (generators, streams)."""
    close = getattr(it, "close", None)
    if close is not None:
        close()


async def close_async(it: object) -> None:
    """Close an async iterator if it can be closed (async generators)."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()
