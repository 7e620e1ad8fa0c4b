"""``RunnableEach`` (``runnable.map()``): the bound runnable's ``batch`` over a list input."""

from __future__ import annotations

from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.runnables.base import Runnable

__all__ = ["RunnableEach"]


class RunnableEach(Runnable[Any, list[Any]]):
    """One run (named ``RunnableEach<bound>``) whose child runs are ``bound.batch(input)``."""

    def __init__(self, bound: Runnable[Any, Any]) -> None:
        self.bound = bound

    def get_name(self, suffix: str | None = None) -> str:
        return self.name or f"RunnableEach<{self.bound.get_name()}>"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> list[Any]:
        def run(values: Any, run_manager: RunManager, cfg: RunnableConfig) -> list[Any]:
            return self.bound.batch(list(values), cfg, **kwargs)

        return self._call_with_config(run, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> list[Any]:
        async def run(values: Any, run_manager: RunManager, cfg: RunnableConfig) -> list[Any]:
            return await self.bound.abatch(list(values), cfg, **kwargs)

        result: list[Any] = await self._acall_with_config(run, input, config)
        return result
