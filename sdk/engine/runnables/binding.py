"""``RunnableBinding``: a runnable with a fixed config (``with_config``) and/or kwargs (``bind``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamscope.engine.config import RunnableConfig, merge_configs
from streamscope.engine.runnables.base import Runnable, aclose_quietly

__all__ = ["RunnableBinding"]


class RunnableBinding(Runnable[Any, Any]):
    """Delegates every call to ``bound`` with ``config`` merged under the caller's and ``kwargs`` added."""

    def __init__(
        self,
        bound: Runnable[Any, Any],
        *,
        config: RunnableConfig | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.bound = bound
        self.config: RunnableConfig = config or {}
        self.kwargs: dict[str, Any] = kwargs or {}
        self.streams_natively = bound.streams_natively

    def get_name(self, suffix: str | None = None) -> str:
        return self.bound.get_name(suffix)

    def __repr__(self) -> str:
        return f"RunnableBinding({self.bound!r})"

    def __getattr__(self, name: str) -> Any:
        if name == "bound":
            raise AttributeError(name)
        return getattr(self.bound, name)

    def _merge(self, config: RunnableConfig | None) -> RunnableConfig:
        return merge_configs(self.config, config)

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> RunnableBinding:
        extra: RunnableConfig = {**(config or {}), **kwargs}  # type: ignore[typeddict-item]
        return RunnableBinding(self.bound, config=merge_configs(self.config, extra), kwargs=self.kwargs)

    def bind(self, **kwargs: Any) -> RunnableBinding:
        return RunnableBinding(self.bound, config=self.config, kwargs={**self.kwargs, **kwargs})

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.bound.invoke(input, self._merge(config), **{**self.kwargs, **kwargs})

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self.bound.ainvoke(input, self._merge(config), **{**self.kwargs, **kwargs})

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self.bound.stream(input, self._merge(config), **{**self.kwargs, **kwargs})

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        stream = self.bound.astream(input, self._merge(config), **{**self.kwargs, **kwargs})
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_quietly(stream)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self.bound.transform(input, self._merge(config), **{**self.kwargs, **kwargs})

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        stream = self.bound.atransform(input, self._merge(config), **{**self.kwargs, **kwargs})
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_quietly(stream)

    def _merge_batch(self, config: Any) -> Any:
        if isinstance(config, (list, tuple)):
            return [self._merge(c) for c in config]
        return self._merge(config)

    def batch(
        self, inputs: Any, config: Any = None, *, return_exceptions: bool = False, **kwargs: Any
    ) -> list[Any]:
        """The bound runnable's own ``batch`` (as LangChain), with the bound config and keywords."""
        return self.bound.batch(
            inputs,
            self._merge_batch(config),
            return_exceptions=return_exceptions,
            **{**self.kwargs, **kwargs},
        )

    async def abatch(
        self, inputs: Any, config: Any = None, *, return_exceptions: bool = False, **kwargs: Any
    ) -> list[Any]:
        return await self.bound.abatch(
            inputs,
            self._merge_batch(config),
            return_exceptions=return_exceptions,
            **{**self.kwargs, **kwargs},
        )
