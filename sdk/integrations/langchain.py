"""Real LangChain apps: the same spans and rollups as our engine, from LangChain's own callbacks.

Install the optional extra (``pip install streamscope[langchain]``), then either pass the handler per call::

    from streamscope.integrations.langchain import StreamscopeCallbackHandler
    chain.invoke(question, config={"callbacks": [StreamscopeCallbackHandler()]})

or attach it to every LangChain run through LangChain's public ``register_configure_hook``::

    from streamscope.integrations.langchain import enable_langchain
    enable_langchain()

Time to first token comes from ``on_llm_new_token``. A stream the consumer abandons arrives from LangChain as
``on_llm_error(GeneratorExit)`` and is recorded as outcome ``abandoned`` (not an error); ``CancelledError`` is
``cancelled``. This module imports ``langchain_core``; ``import streamscope`` never does.
"""

from __future__ import annotations

from contextvars import ContextVar

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from streamscope.tracing.handler import TracingCallbackHandler

__all__ = ["StreamscopeCallbackHandler", "disable_langchain", "enable_langchain"]


class StreamscopeCallbackHandler(TracingCallbackHandler, BaseCallbackHandler):  # type: ignore[misc]
    """A LangChain ``BaseCallbackHandler`` running streamscope's tracing core inline (``run_inline=True``)."""

    raise_error = False
    run_inline = True

    def __init__(self) -> None:
        TracingCallbackHandler.__init__(self)


_handler_var: ContextVar[StreamscopeCallbackHandler | None] | None = None
_global: StreamscopeCallbackHandler | None = None


def enable_langchain() -> StreamscopeCallbackHandler:
    """Trace every LangChain run from now on, in every thread and task (idempotent); returns the handler.

    The hook's context variable defaults to the shared handler, so runs started anywhere pick it up; LangChain
    deduplicates it with a handler passed per call.
    """
    global _handler_var, _global
    if _global is None:
        _global = StreamscopeCallbackHandler()
    if _handler_var is None:
        _handler_var = ContextVar("streamscope_langchain", default=_global)
        register_configure_hook(_handler_var, inheritable=True)
    else:
        _handler_var.set(_global)
    return _global


def disable_langchain() -> None:
    """Stop tracing LangChain runs started from the current context (thread/task and its children)."""
    if _handler_var is not None:
        _handler_var.set(None)
