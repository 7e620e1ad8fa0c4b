"""Batches as LangChain runs them for composites: one run per input, each step's own ``batch`` over the inputs
still going (sequence steps, retry attempts, fallback candidates), failures kept per input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, patch_config

if TYPE_CHECKING:
    from streamscope.engine.runnables.base import Runnable

__all__ = ["BatchRuns"]


class BatchRuns:
    """The runs of one batch call of ``owner``: ``child(i, tag)`` is the config for input ``i``'s sub-call,
    ``finish`` ends every run with its result or error and returns the results in input order (raising the
    first input's error unless ``return_exceptions``)."""

    def __init__(self, inputs: Sequence[Any], configs: list[RunnableConfig], managers: list[RunManager]) -> None:
        self.inputs = list(inputs)
        self.configs = configs
        self.managers = managers

    @classmethod
    def start(cls, owner: Runnable[Any, Any], inputs: Sequence[Any], config: Any) -> BatchRuns:
        from streamscope.engine.runnables.base import _per_input_configs

        configs = _per_input_configs(config, len(inputs))
        return cls(inputs, configs, [owner._start_run(c, x) for c, x in zip(configs, inputs, strict=True)])

    @classmethod
    async def astart(cls, owner: Runnable[Any, Any], inputs: Sequence[Any], config: Any) -> BatchRuns:
        from streamscope.engine.runnables.base import _per_input_configs

        configs = _per_input_configs(config, len(inputs))
        managers = [await owner._astart_run(c, x) for c, x in zip(configs, inputs, strict=True)]
        return cls(inputs, configs, managers)

    def child(self, index: int, tag: str | None = None) -> RunnableConfig:
        return patch_config(self.configs[index], callbacks=self.managers[index].get_child(tag))

    def _outcome(self, results: dict[int, Any], errors: dict[int, BaseException], return_exceptions: bool) -> list[Any]:
        if errors and not return_exceptions:
            raise errors[min(errors)]
        return [errors[i] if i in errors else results.get(i) for i in range(len(self.inputs))]

    def finish(self, results: dict[int, Any], errors: dict[int, BaseException], return_exceptions: bool) -> list[Any]:
        for i, (rm, value) in enumerate(zip(self.managers, self.inputs, strict=True)):
            if i in errors:
                rm.on_chain_error(errors[i], inputs=value)
            else:
                rm.on_chain_end(results.get(i), inputs=value)
        return self._outcome(results, errors, return_exceptions)

    async def afinish(
        self, results: dict[int, Any], errors: dict[int, BaseException], return_exceptions: bool
    ) -> list[Any]:
        for i, (rm, value) in enumerate(zip(self.managers, self.inputs, strict=True)):
            if i in errors:
                await rm.aon_chain_error(errors[i], inputs=value)
            else:
                await rm.aon_chain_end(results.get(i), inputs=value)
        return self._outcome(results, errors, return_exceptions)

    def fail(self, exc: BaseException) -> None:
        for rm, value in zip(self.managers, self.inputs, strict=True):
            rm.on_chain_error(exc, inputs=value)

    async def afail(self, exc: BaseException) -> None:
        for rm, value in zip(self.managers, self.inputs, strict=True):
            await rm.aon_chain_error(exc, inputs=value)
