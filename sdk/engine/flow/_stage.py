"""The shape every flow stage shares: one object that wraps sync and async chunk iterators alike."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar, overload

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.runnables.base import Runnable

__all__ = ["FlowStage", "apply", "is_async_source"]

T = TypeVar("T")


def is_async_source(source: object) -> bool:
    """True when ``source`` is an async iterable (it has ``__aiter__``)."""
    return hasattr(source, "__aiter__")


class FlowStage(Runnable[Any, Any]):
    """A stage that turns an iterator of chunks into another one, and a runnable that does so in a pipeline.

    ``stage(source)`` returns a sync iterator for a sync iterable and an async iterator for an async
    iterable. Subclasses implement :meth:`iter` and :meth:`aiter`; both must be lazy (nothing is pulled
    from ``source`` until the result is iterated) and must close ``source`` when they are closed early.

    As a runnable (``prompt | model | flow.rechunk(chunk_size=20) | parser``) the stage is one streamed
    chain run, started when its first output chunk is ready. The stage wraps the upstream iterator itself,
    so a timeout also covers the wait for the first chunk. ``invoke`` runs one value through the stage.
    """

    streams_natively = True
    name = "flow"

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

    def __repr__(self) -> str:
        return f"flow.{self.get_name()}()"

    # -- as a runnable ------------------------------------------------------------------------------------
    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self._transform_stream_with_config(self.iter(input), _passthrough, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        stream = self._atransform_stream_with_config(self.aiter(input), _apassthrough, config, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:  # (as ``yield from`` does for ``transform``: closed with this stream, not left to the loop)
            await stream.aclose()

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        return self.iter(input)

    def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        return self.aiter(input)


def _passthrough(
    source: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
) -> Iterator[Any]:
    return source


def _apassthrough(
    source: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
) -> AsyncIterator[Any]:
    return source


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
