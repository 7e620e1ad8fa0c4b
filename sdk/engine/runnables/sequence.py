"""``RunnableSequence``: steps piped output-to-input; streamed, every step's ``transform`` feeds the next."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, ensure_config, patch_config
from streamscope.engine.runnables.base import Runnable, coerce_to_runnable
from streamscope.engine.runnables.batching import BatchRuns

__all__ = ["RunnableSequence"]


class RunnableSequence(Runnable[Any, Any]):
    """``RunnableSequence(a, b, c)``, ``RunnableSequence([a, b, c])`` or ``a | b | c``.

    Streaming pulls from the last step; each step's run starts when its first input chunk arrives. Steps that
    cannot stream (plain functions, prompts) block: they wait for all of their input and emit one chunk.
    """

    streams_natively = True

    def __init__(self, *steps: Any, name: str | None = None) -> None:
        if len(steps) == 1 and isinstance(steps[0], (list, tuple)):
            steps = tuple(steps[0])
        flat: list[Runnable[Any, Any]] = []
        for step in steps:
            runnable = coerce_to_runnable(step)
            if isinstance(runnable, RunnableSequence) and runnable.name is None:
                flat.extend(runnable.steps)
            else:
                flat.append(runnable)
        if not flat:
            raise ValueError("A RunnableSequence needs at least one step.")
        self.steps: list[Runnable[Any, Any]] = flat
        self.name = name

    @property
    def first(self) -> Runnable[Any, Any]:
        return self.steps[0]

    @property
    def last(self) -> Runnable[Any, Any]:
        return self.steps[-1]

    def __repr__(self) -> str:
        return " | ".join(repr(s) for s in self.steps)

    def __or__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(*self.steps, coerce_to_runnable(other), name=self.name)

    def __ror__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(coerce_to_runnable(other), *self.steps, name=self.name)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        cfg = ensure_config(config)
        rm = self._start_run(cfg, input)
        value = input
        try:
            for i, step in enumerate(self.steps):
                step_config = patch_config(cfg, callbacks=rm.get_child(f"seq:step:{i + 1}"))
                value = step.invoke(value, step_config, **(kwargs if i == 0 else {}))
        except BaseException as exc:
            rm.on_chain_error(exc, inputs=input)
            raise
        rm.on_chain_end(value, inputs=input)
        return value

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        cfg = ensure_config(config)
        rm = await self._astart_run(cfg, input)
        value = input
        try:
            for i, step in enumerate(self.steps):
                step_config = patch_config(cfg, callbacks=rm.get_child(f"seq:step:{i + 1}"))
                value = await step.ainvoke(value, step_config, **(kwargs if i == 0 else {}))
        except BaseException as exc:
            await rm.aon_chain_error(exc, inputs=input)
            raise
        await rm.aon_chain_end(value, inputs=input)
        return value

    def batch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """As LangChain: one run per input; each step's own ``batch`` over the inputs that have not failed."""
        if not inputs:
            return []
        runs = BatchRuns.start(self, inputs, config)
        values = dict(enumerate(inputs))
        errors: dict[int, BaseException] = {}
        try:
            for n, step in enumerate(self.steps):
                live = [i for i in range(len(inputs)) if i not in errors]
                if not live:
                    break
                outputs = step.batch(
                    [values[i] for i in live],
                    [runs.child(i, f"seq:step:{n + 1}") for i in live],
                    return_exceptions=return_exceptions,
                    **(kwargs if n == 0 else {}),
                )
                _collect(live, outputs, values, errors)
        except BaseException as exc:
            runs.fail(exc)
            raise
        return runs.finish(values, errors, return_exceptions)

    async def abatch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        if not inputs:
            return []
        runs = await BatchRuns.astart(self, inputs, config)
        values = dict(enumerate(inputs))
        errors: dict[int, BaseException] = {}
        try:
            for n, step in enumerate(self.steps):
                live = [i for i in range(len(inputs)) if i not in errors]
                if not live:
                    break
                outputs = await step.abatch(
                    [values[i] for i in live],
                    [runs.child(i, f"seq:step:{n + 1}") for i in live],
                    return_exceptions=return_exceptions,
                    **(kwargs if n == 0 else {}),
                )
                _collect(live, outputs, values, errors)
        except BaseException as exc:
            await runs.afail(exc)
            raise
        return await runs.afinish(values, errors, return_exceptions)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        stream: Iterator[Any] = input
        for i, step in enumerate(self.steps):
            step_config = patch_config(config, callbacks=run_manager.get_child(f"seq:step:{i + 1}"))
            stream = step.transform(stream, step_config, **(kwargs if i == 0 else {}))
        yield from stream

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        stream: AsyncIterator[Any] = input
        for i, step in enumerate(self.steps):
            step_config = patch_config(config, callbacks=run_manager.get_child(f"seq:step:{i + 1}"))
            stream = step.atransform(stream, step_config, **(kwargs if i == 0 else {}))
        try:
            async for chunk in stream:
                yield chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


def _collect(
    live: list[int], outputs: list[Any], values: dict[int, Any], errors: dict[int, BaseException]
) -> None:
    for i, output in zip(live, outputs, strict=True):
        if isinstance(output, Exception):
            errors[i] = output
        else:
            values[i] = output
