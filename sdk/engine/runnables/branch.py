"""``RunnableBranch``: the first branch whose condition holds runs (else the default); streamed, it streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, patch_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly, coerce_to_runnable
from streamscope.engine.runnables.utils import fold

__all__ = ["RunnableBranch"]


class RunnableBranch(Runnable[Any, Any]):
    """``RunnableBranch((cond1, r1), (cond2, r2), default)``. As in LangChain, each condition is invoked with
    the input in a child run tagged ``condition:N``; the chosen runnable runs tagged ``branch:N`` (or
    ``branch:default``). Streamed, the step waits for its whole input, then streams the chosen runnable."""

    streams_natively = True

    def __init__(self, *branches: Any) -> None:
        if len(branches) < 2:
            raise ValueError("RunnableBranch requires at least two branches")
        *pairs, default = branches
        self.branches: list[tuple[Runnable[Any, Any], Runnable[Any, Any]]] = []
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"RunnableBranch branches must be (condition, runnable) pairs; got {pair!r}.")
            self.branches.append((coerce_to_runnable(pair[0]), coerce_to_runnable(pair[1])))
        self.default = coerce_to_runnable(default)

    def _choose(
        self, value: Any, run_manager: RunManager, config: RunnableConfig
    ) -> tuple[Runnable[Any, Any], str]:
        for index, (condition, runnable) in enumerate(self.branches, start=1):
            child = patch_config(config, callbacks=run_manager.get_child(f"condition:{index}"))
            if condition.invoke(value, child):
                return runnable, f"branch:{index}"
        return self.default, "branch:default"

    async def _achoose(
        self, value: Any, run_manager: RunManager, config: RunnableConfig
    ) -> tuple[Runnable[Any, Any], str]:
        for index, (condition, runnable) in enumerate(self.branches, start=1):
            child = patch_config(config, callbacks=run_manager.get_child(f"condition:{index}"))
            if await condition.ainvoke(value, child):
                return runnable, f"branch:{index}"
        return self.default, "branch:default"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            runnable, tag = self._choose(value, run_manager, cfg)
            return runnable.invoke(value, patch_config(cfg, callbacks=run_manager.get_child(tag)), **kwargs)

        return self._call_with_config(run, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            runnable, tag = await self._achoose(value, run_manager, cfg)
            return await runnable.ainvoke(
                value, patch_config(cfg, callbacks=run_manager.get_child(tag)), **kwargs
            )

        return await self._acall_with_config(run, input, config)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        value = fold(list(input))
        runnable, tag = self._choose(value, run_manager, config)
        yield from runnable.stream(
            value, patch_config(config, callbacks=run_manager.get_child(tag)), **kwargs
        )

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        value = fold([c async for c in input])
        runnable, tag = await self._achoose(value, run_manager, config)
        stream = runnable.astream(value, patch_config(config, callbacks=run_manager.get_child(tag)), **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_quietly(stream)
