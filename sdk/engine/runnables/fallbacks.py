"""``with_fallbacks``: try alternatives in order; streamed, switch only before the first chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, patch_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly, close_quietly
from streamscope.engine.runnables.batching import BatchRuns

__all__ = ["RunnableWithFallbacks"]


class RunnableWithFallbacks(Runnable[Any, Any]):
    """``runnable.with_fallbacks([a, b])``: on a handled exception, the next candidate runs.

    With ``exception_key`` set (dict inputs), later candidates get the previous exception under that key.
    A streamed candidate that fails after yielding a chunk is not replaced: the error propagates.
    """

    streams_natively = True

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        fallbacks: list[Runnable[Any, Any]],
        *,
        exceptions_to_handle: tuple[type[BaseException], ...] = (Exception,),
        exception_key: str | None = None,
    ) -> None:
        self.runnable = runnable
        self.fallbacks = fallbacks
        self.exceptions_to_handle = exceptions_to_handle
        self.exception_key = exception_key

    @property
    def runnables(self) -> list[Runnable[Any, Any]]:
        return [self.runnable, *self.fallbacks]

    def get_name(self, suffix: str | None = None) -> str:
        return self.name or f"RunnableWithFallbacks<{self.runnable.get_name()}>"

    def _input(self, value: Any, last: BaseException | None) -> Any:
        if self.exception_key is not None and last is not None:
            if not isinstance(value, dict):
                raise TypeError("exception_key needs a dict input.")
            return {**value, self.exception_key: last}
        return value

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            first_error: BaseException | None = None
            last: BaseException | None = None
            for candidate in self.runnables:
                try:
                    child = patch_config(cfg, callbacks=run_manager.get_child())
                    return candidate.invoke(self._input(value, last), child, **kwargs)
                except self.exceptions_to_handle as exc:
                    first_error = first_error or exc
                    last = exc
            assert first_error is not None
            raise first_error

        return self._call_with_config(run, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            first_error: BaseException | None = None
            last: BaseException | None = None
            for candidate in self.runnables:
                try:
                    child = patch_config(cfg, callbacks=run_manager.get_child())
                    return await candidate.ainvoke(self._input(value, last), child, **kwargs)
                except self.exceptions_to_handle as exc:
                    first_error = first_error or exc
                    last = exc
            assert first_error is not None
            raise first_error

        return await self._acall_with_config(run, input, config)

    def batch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """As LangChain: one run per input; each candidate's own ``batch`` over the inputs still failing with a
        handled exception; an input that fails every candidate gets the last candidate's error."""
        if not inputs:
            return []
        runs = BatchRuns.start(self, inputs, config)
        state = _FallbackBatch(self, inputs)
        try:
            for candidate in self.runnables:
                pending = state.pending()
                outputs = candidate.batch(
                    [state.next_input[i] for i in pending],
                    [runs.child(i) for i in pending],
                    return_exceptions=True,
                    **kwargs,
                )
                if state.collect(pending, outputs, return_exceptions):
                    break
        except BaseException as exc:
            runs.fail(exc)
            raise
        return runs.finish(state.results, state.errors, return_exceptions)

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
        state = _FallbackBatch(self, inputs)
        try:
            for candidate in self.runnables:
                pending = state.pending()
                outputs = await candidate.abatch(
                    [state.next_input[i] for i in pending],
                    [runs.child(i) for i in pending],
                    return_exceptions=True,
                    **kwargs,
                )
                if state.collect(pending, outputs, return_exceptions):
                    break
        except BaseException as exc:
            await runs.afail(exc)
            raise
        return await runs.afinish(state.results, state.errors, return_exceptions)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        from streamscope.engine.runnables.utils import fold

        value = fold(list(input))
        first_error: BaseException | None = None
        last: BaseException | None = None
        for candidate in self.runnables:
            child = patch_config(config, callbacks=run_manager.get_child())
            stream = candidate.stream(self._input(value, last), child, **kwargs)
            try:
                first = next(stream)
            except StopIteration:
                return
            except self.exceptions_to_handle as exc:
                close_quietly(stream)
                first_error = first_error or exc
                last = exc
                continue
            try:
                yield first
                yield from stream
            finally:
                close_quietly(stream)
            return
        assert first_error is not None
        raise first_error

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        from streamscope.engine.runnables.utils import fold

        value = fold([c async for c in input])
        first_error: BaseException | None = None
        last: BaseException | None = None
        for candidate in self.runnables:
            child = patch_config(config, callbacks=run_manager.get_child())
            stream = candidate.astream(self._input(value, last), child, **kwargs)
            try:
                first = await anext(stream)
            except StopAsyncIteration:
                return
            except self.exceptions_to_handle as exc:
                await aclose_quietly(stream)
                first_error = first_error or exc
                last = exc
                continue
            try:
                yield first
                async for chunk in stream:
                    yield chunk
            finally:
                await aclose_quietly(stream)
            return
        assert first_error is not None
        raise first_error


class _FallbackBatch:
    """Which inputs of a fallback batch are done, failed for good, or go to the next candidate (and with what)."""

    def __init__(self, owner: RunnableWithFallbacks, inputs: Sequence[Any]) -> None:
        self.owner = owner
        self.inputs = list(inputs)
        self.next_input: dict[int, Any] = dict(enumerate(inputs))
        self.results: dict[int, Any] = {}
        self.errors: dict[int, BaseException] = {}

    def pending(self) -> list[int]:
        return sorted(self.next_input)

    def collect(self, pending: list[int], outputs: list[Any], return_exceptions: bool) -> bool:
        """Record one candidate's outputs; ``True`` when no input needs another candidate."""
        for i, output in zip(pending, outputs, strict=True):
            if isinstance(output, self.owner.exceptions_to_handle):
                self.errors[i] = output
                self.next_input[i] = self.owner._input(self.inputs[i], output)
            elif isinstance(output, Exception):
                if not return_exceptions:
                    raise output
                self.errors[i] = output
                del self.next_input[i]
            else:
                self.results[i] = output
                self.errors.pop(i, None)
                del self.next_input[i]
        return not self.next_input
