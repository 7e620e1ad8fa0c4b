"""``RunnablePassthrough`` (+ ``assign``) and ``RunnablePick``: streaming steps over dict chunks."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.runnables.base import Runnable, aclose_quietly, close_quietly
from streamscope.engine.runnables.lambda_ import call_func
from streamscope.engine.runnables.parallel import RunnableParallel
from streamscope.engine.runnables.utils import AddableDict

__all__ = ["RunnableAssign", "RunnablePassthrough", "RunnablePick"]


class RunnablePassthrough(Runnable[Any, Any]):
    """Pass the input through unchanged, chunk by chunk (``func``, if given, is called with the whole input)."""

    streams_natively = True

    def __init__(self, func: Callable[..., Any] | None = None, *, name: str | None = None) -> None:
        self.func = func
        self.name = name

    @classmethod
    def assign(cls, **kwargs: Any) -> RunnableAssign:  # type: ignore[override]
        """Add keys computed from the (dict) input: ``RunnablePassthrough.assign(n=lambda d: len(d["q"]))``."""
        return RunnableAssign(RunnableParallel(kwargs))

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: RunManager, config: RunnableConfig, **kwargs: Any) -> Any:
        if self.func is not None:
            if inspect.iscoroutinefunction(self.func):
                raise TypeError("A coroutine passthrough function needs ainvoke/astream.")
            call_func(self.func, value, config, None, kwargs)
        return value

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def run(value: Any, run_manager: RunManager, config: RunnableConfig, **kw: Any) -> Any:
            if self.func is not None:
                result = call_func(self.func, value, config, None, kw)
                if inspect.isawaitable(result):
                    await result
            return value

        return await self._acall_with_config(run, input, config, **kwargs)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        if self.func is None:
            yield from input
            return
        chunks: list[Any] = []
        for chunk in input:
            chunks.append(chunk)
            yield chunk
        from streamscope.engine.runnables.utils import fold

        call_func(self.func, fold(chunks), config, None, kwargs)

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        chunks: list[Any] = []
        async for chunk in input:
            if self.func is not None:
                chunks.append(chunk)
            yield chunk
        if self.func is not None:
            from streamscope.engine.runnables.utils import fold

            result = call_func(self.func, fold(chunks), config, None, kwargs)
            if inspect.isawaitable(result):
                await result


class RunnableAssign(Runnable[dict[str, Any], dict[str, Any]]):
    """The input dict plus the outputs of ``mapper``. Streamed: the input's chunks first (without the
    assigned keys), then ``{key: chunk}`` for each chunk of the mapper."""

    streams_natively = True

    def __init__(self, mapper: RunnableParallel) -> None:
        self.mapper = mapper

    def get_name(self, suffix: str | None = None) -> str:
        name = self.name or f"RunnableAssign<{','.join(self.mapper.steps__)}>"
        return f"{name}{suffix}" if suffix else name

    def _check(self, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(f"assign() needs a dict input, got {type(value).__name__}.")
        return value

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        def run(value: Any, run_manager: RunManager, config: RunnableConfig) -> dict[str, Any]:
            mapped = self.mapper.invoke(self._check(value), _child(run_manager, config))
            return {**value, **mapped}

        return self._call_with_config(run, input, config)

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        async def run(value: Any, run_manager: RunManager, config: RunnableConfig) -> dict[str, Any]:
            mapped = await self.mapper.ainvoke(self._check(value), _child(run_manager, config))
            return {**value, **mapped}

        return await self._acall_with_config(run, input, config)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        keys = set(self.mapper.steps__)
        chunks: list[Any] = []
        for chunk in input:
            chunks.append(self._check(chunk))
            kept = AddableDict({k: v for k, v in chunk.items() if k not in keys})
            if kept:
                yield kept
        mapped = self.mapper.transform(iter(chunks), _child(run_manager, config))
        try:
            yield from mapped
        finally:
            close_quietly(mapped)

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        keys = set(self.mapper.steps__)
        chunks: list[Any] = []
        async for chunk in input:
            chunks.append(self._check(chunk))
            kept = AddableDict({k: v for k, v in chunk.items() if k not in keys})
            if kept:
                yield kept

        async def replay() -> AsyncIterator[Any]:
            for c in chunks:
                yield c

        mapped = self.mapper.atransform(replay(), _child(run_manager, config))
        try:
            async for out in mapped:
                yield out
        finally:
            await aclose_quietly(mapped)


def _child(run_manager: RunManager, config: RunnableConfig) -> RunnableConfig:
    from streamscope.engine.config import patch_config

    return patch_config(config, callbacks=run_manager.get_child())


class RunnablePick(Runnable[dict[str, Any], Any]):
    """Keep only ``keys`` of each dict chunk (a single key string unwraps the value)."""

    streams_natively = True

    def __init__(self, keys: str | list[str]) -> None:
        self.keys = keys

    def get_name(self, suffix: str | None = None) -> str:
        keys = [self.keys] if isinstance(self.keys, str) else self.keys
        name = self.name or f"RunnablePick<{','.join(keys)}>"
        return f"{name}{suffix}" if suffix else name

    def _pick(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"pick() needs dict chunks, got {type(value).__name__}.")
        if isinstance(self.keys, str):
            return value.get(self.keys)
        picked = AddableDict({k: value[k] for k in self.keys if k in value})
        return picked or None

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(lambda v, rm, cfg: self._pick(v), input, config)

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        async def pick(value: Any, rm: RunManager, cfg: RunnableConfig) -> Any:
            return self._pick(value)

        return await self._acall_with_config(pick, input, config)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        for chunk in input:
            picked = self._pick(chunk)
            if picked is not None:
                yield picked

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in input:
            picked = self._pick(chunk)
            if picked is not None:
                yield picked
