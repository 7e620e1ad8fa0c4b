"""Runnables made from a runnable: ``map()``, ``with_listeners``, ``configurable_fields`` /
``configurable_alternatives``, and the completion-ordered batches (a mixin of ``Runnable``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from streamscope.engine.config import RunnableConfig

if TYPE_CHECKING:
    from streamscope.engine.runnables.base import Runnable
    from streamscope.engine.runnables.binding import RunnableBinding

__all__ = ["DerivedRunnables"]


class DerivedRunnables:
    """The methods of ``Runnable`` that wrap it into another runnable."""

    def batch_as_completed(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> Iterator[tuple[int, Any]]:
        """``(index, output)`` pairs in the order the invocations finish."""
        from streamscope.engine.runnables.batching import batch_as_completed

        return batch_as_completed(self._runnable(), inputs, config, return_exceptions, kwargs)

    def abatch_as_completed(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[tuple[int, Any]]:
        from streamscope.engine.runnables.batching import abatch_as_completed

        return abatch_as_completed(self._runnable(), inputs, config, return_exceptions, kwargs)

    def with_listeners(
        self,
        *,
        on_start: Callable[..., Any] | None = None,
        on_end: Callable[..., Any] | None = None,
        on_error: Callable[..., Any] | None = None,
    ) -> RunnableBinding:
        """Call ``on_start(run)`` / ``on_end(run)`` / ``on_error(run)`` (or ``(run, config)``) for this runnable's
        own run in every call."""
        from streamscope.engine.runnables.listeners import RunnableListeners

        return RunnableListeners(self._runnable(), on_start=on_start, on_end=on_end, on_error=on_error)

    def configurable_fields(self, **fields: Any) -> Runnable[Any, Any]:
        """Attributes set per call from ``config["configurable"]`` (``model.configurable_fields(temperature=
        ConfigurableField(id="t"))``)."""
        from streamscope.engine.runnables.configurable import RunnableConfigurableFields

        return RunnableConfigurableFields(self._runnable(), fields)

    def configurable_alternatives(
        self, which: Any, *, default_key: str = "default", prefix_keys: bool = False, **kwargs: Any
    ) -> Runnable[Any, Any]:
        """This runnable, or the alternative named by ``config["configurable"][which.id]``."""
        from streamscope.engine.runnables.configurable import RunnableConfigurableAlternatives

        return RunnableConfigurableAlternatives(
            self._runnable(), which, default_key=default_key, prefix_keys=prefix_keys, alternatives=kwargs
        )

    def map(self) -> Runnable[Any, list[Any]]:
        """A runnable that batches this one over a list input (``RunnableEach``)."""
        from streamscope.engine.runnables.each import RunnableEach

        return RunnableEach(self._runnable())

    def _runnable(self) -> Runnable[Any, Any]:
        from streamscope.engine.runnables.base import Runnable

        assert isinstance(self, Runnable)
        return self
