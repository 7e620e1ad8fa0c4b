"""``RunnableLambda``: a plain function, generator, coroutine or async generator as a step.

A lambda blocks in a stream: it waits for all of its input (folded with ``+``), then emits its result once,
or each item when the function is a generator. If the function returns a runnable, that runnable's output is
streamed. Nested runnables called inside the function without a config join the run tree (ContextVar).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, child_config_var, patch_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly, context_for
from streamscope.engine.runnables.utils import fold

__all__ = ["RunnableLambda", "call_func", "chain"]

_END = object()


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def call_func(
    func: Callable[..., Any],
    value: Any,
    config: RunnableConfig,
    run_manager: RunManager | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """``func(value, **kwargs)``, plus ``config=`` / ``run_manager=`` when its signature names them (as
    LangChain: call and ``bind`` keywords are always passed on)."""
    extra = dict(kwargs) if kwargs else {}
    if _accepts(func, "config"):
        extra["config"] = config
    if run_manager is not None and _accepts(func, "run_manager"):
        extra["run_manager"] = run_manager
    return func(value, **extra)


def _recursion_config(owner: Runnable[Any, Any], value: Any, config: RunnableConfig) -> RunnableConfig:
    """The config for a runnable that ``owner``'s function returned: one level less of ``recursion_limit``
    (LangChain's ``RecursionError`` when none is left)."""
    limit = config.get("recursion_limit", 25)
    if limit <= 0:
        raise RecursionError(f"Recursion limit reached when invoking {owner} with input {value}.")
    return patch_config(config, recursion_limit=limit - 1)


def _next_in(config: RunnableConfig, iterator: Iterator[Any]) -> Any:
    token = child_config_var.set(config)
    try:
        return next(iterator, _END)
    finally:
        child_config_var.reset(token)


async def _anext_in(config: RunnableConfig, iterator: AsyncIterator[Any]) -> Any:
    token = child_config_var.set(config)
    try:
        return await anext(iterator, _END)
    finally:
        child_config_var.reset(token)


def _pull(iterator: Iterator[Any]) -> Any:
    return next(iterator, _END)


class RunnableLambda(Runnable[Any, Any]):
    """Wrap ``func`` (and optionally a separate async ``afunc``)."""

    streams_natively = True

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        afunc: Callable[..., Any] | None = None,
        name: str | None = None,
    ) -> None:
        if func is not None and (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
            func, afunc = None, func
        if func is None and afunc is None:
            raise TypeError("RunnableLambda needs a function.")
        self.func = func
        self.afunc = afunc
        named = func or afunc
        fn_name = getattr(named, "__name__", None)
        self.name = name or (fn_name if fn_name and fn_name != "<lambda>" else None)

    def __repr__(self) -> str:
        return f"RunnableLambda({self.get_name()})"

    def _call(
        self,
        func: Callable[..., Any],
        value: Any,
        config: RunnableConfig,
        run_manager: RunManager | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        return call_func(func, value, config, run_manager, kwargs)

    # -- invoke ---------------------------------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: RunManager, config: RunnableConfig, **kwargs: Any) -> Any:
        if self.func is None:
            raise TypeError(f"{self.get_name()} is async only; use ainvoke/astream.")
        if inspect.isgeneratorfunction(self.func):
            return fold(list(self._call(self.func, value, config, run_manager, kwargs)))
        output = self._call(self.func, value, config, run_manager, kwargs)
        if isinstance(output, Runnable):
            return output.invoke(value, _recursion_config(self, value, config))
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    async def _ainvoke(
        self, value: Any, run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Any:
        afunc = self.afunc
        if afunc is None:
            assert self.func is not None
            loop = asyncio.get_running_loop()
            ctx = context_for(config)
            if inspect.isgeneratorfunction(self.func):
                return await loop.run_in_executor(
                    None, lambda: ctx.run(self._invoke, value, run_manager, config, **kwargs)
                )
            func = self.func
            output = await loop.run_in_executor(
                None, lambda: ctx.run(self._call, func, value, config, run_manager, kwargs)
            )
        elif inspect.isasyncgenfunction(afunc):
            return fold([c async for c in self._call(afunc, value, config, run_manager, kwargs)])
        else:
            output = await self._call(afunc, value, config, run_manager, kwargs)
        if isinstance(
            output, Runnable
        ):  # (a runnable returned by a sync function runs on the async path too)
            return await output.ainvoke(value, _recursion_config(self, value, config))
        return output

    # -- stream ----------------------------------------------------------------------------------------------
    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        value = fold(list(input))
        if self.func is None:
            raise TypeError(f"{self.get_name()} is async only; use astream.")
        if inspect.isgeneratorfunction(self.func):
            token = child_config_var.set(config)
            try:
                iterator = iter(self._call(self.func, value, config, run_manager, kwargs))
            finally:
                child_config_var.reset(token)
            try:
                while (item := _next_in(config, iterator)) is not _END:
                    yield item
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            return
        token = child_config_var.set(config)
        try:
            output = self._call(self.func, value, config, run_manager, kwargs)
        finally:
            child_config_var.reset(token)
        if isinstance(output, Runnable):
            yield from output.stream(value, _recursion_config(self, value, config))
        else:
            yield output

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        value = fold([c async for c in input])
        afunc = self.afunc
        if afunc is None:
            assert self.func is not None
            loop = asyncio.get_running_loop()
            if inspect.isgeneratorfunction(self.func):
                ctx = context_for(config)
                iterator = iter(ctx.run(self._call, self.func, value, config, run_manager, kwargs))
                try:
                    while (item := await loop.run_in_executor(None, ctx.run, _pull, iterator)) is not _END:
                        yield item
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                return
            output = await loop.run_in_executor(
                None, context_for(config).run, self._call, self.func, value, config, run_manager, kwargs
            )
        elif inspect.isasyncgenfunction(afunc):
            token = child_config_var.set(config)
            try:
                aiterator = self._call(afunc, value, config, run_manager, kwargs)
            finally:
                child_config_var.reset(token)
            try:
                while (item := await _anext_in(config, aiterator)) is not _END:
                    yield item
            finally:
                await aiterator.aclose()
            return
        else:
            token = child_config_var.set(config)
            try:
                output = await self._call(afunc, value, config, run_manager, kwargs)
            finally:
                child_config_var.reset(token)
        if isinstance(output, Runnable):
            stream = output.astream(value, _recursion_config(self, value, config))
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                await aclose_quietly(stream)
        else:
            yield output


def chain(func: Callable[..., Any]) -> RunnableLambda:
    """``@chain``: the decorated function as a ``RunnableLambda`` named after it (LangChain's decorator)."""
    return RunnableLambda(func)
