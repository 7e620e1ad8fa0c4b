"""Calling handlers: errors are logged and swallowed unless ``handler.raise_error`` is set.

Sync handler methods always run inline (on the caller's thread, in order). Coroutine methods are awaited in
order on the async path, and run to completion on a private event loop on the sync path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

from streamscope.engine.messages import get_buffer_string

__all__ = [
    "TIMEOUT_CANCEL_MESSAGE",
    "ahandle_event",
    "handle_event",
    "reason_for",
    "run_coroutine",
    "unexpected_handler_error",
]

logger = logging.getLogger("streamscope.engine.callbacks")

_IGNORE: dict[str, str] = {
    "on_llm_start": "ignore_llm",
    "on_chat_model_start": "ignore_chat_model",
    "on_llm_new_token": "ignore_llm",
    "on_llm_end": "ignore_llm",
    "on_llm_error": "ignore_llm",
    "on_chain_start": "ignore_chain",
    "on_chain_end": "ignore_chain",
    "on_chain_error": "ignore_chain",
    "on_tool_start": "ignore_agent",
    "on_tool_end": "ignore_agent",
    "on_tool_error": "ignore_agent",
    "on_agent_action": "ignore_agent",
    "on_agent_finish": "ignore_agent",
    "on_retry": "ignore_retry",
    "on_retriever_start": "ignore_retriever",
    "on_retriever_end": "ignore_retriever",
    "on_retriever_error": "ignore_retriever",
    "on_custom_event": "ignore_custom_event",
}


TIMEOUT_CANCEL_MESSAGE = "streamscope.flow.timeout"
"""The message of the ``CancelledError`` an async upstream sees when a flow timeout interrupts it."""


def reason_for(error: BaseException) -> str:
    """The stream ending an exception means: ``cancelled``, ``timeout`` or ``error``.

    A ``CancelledError`` sent by a flow timeout (its message is :data:`TIMEOUT_CANCEL_MESSAGE`) is a timeout:
    the stream upstream of the timeout stage ended because the limit passed, not because anyone cancelled.
    """
    if isinstance(error, asyncio.CancelledError):
        return "timeout" if error.args and error.args[0] == TIMEOUT_CANCEL_MESSAGE else "cancelled"
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    return "error"


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # reported below on the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="streamscope-async-callback")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _fallback_args(event: str, args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    serialized, messages = args
    return "on_llm_start", (serialized, [get_buffer_string(m) for m in messages])


def unexpected_handler_error(handler: Any, event: str, exc: Exception) -> None:
    """Log and swallow a handler's exception, or re-raise it when the handler set ``raise_error``."""
    if getattr(handler, "raise_error", False):
        raise exc
    logger.warning("Error in %s.%s callback: %r", type(handler).__name__, event, exc)


_report = unexpected_handler_error


def handle_event(handlers: Sequence[Any], event: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Call ``event`` on every handler (sync path)."""
    ignore = _IGNORE.get(event)
    for handler in handlers:
        try:
            if ignore is not None and getattr(handler, ignore, False):
                continue
            method = getattr(handler, event, None)
            if method is None:
                continue
            try:
                result = method(*args, **kwargs)
                if result is not None and asyncio.iscoroutine(result):
                    run_coroutine(result)
            except NotImplementedError:
                if event != "on_chat_model_start":
                    raise
                name, fargs = _fallback_args(event, args)
                result = getattr(handler, name)(*fargs, **kwargs)
                if result is not None and asyncio.iscoroutine(result):
                    run_coroutine(result)
        except Exception as exc:
            _report(handler, event, exc)


async def ahandle_event(
    handlers: Sequence[Any], event: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Call ``event`` on every handler (async path): coroutines are awaited one after the other."""
    ignore = _IGNORE.get(event)
    for handler in handlers:
        try:
            if ignore is not None and getattr(handler, ignore, False):
                continue
            method = getattr(handler, event, None)
            if method is None:
                continue
            try:
                result = method(*args, **kwargs)
                if result is not None and asyncio.iscoroutine(result):
                    await result
            except NotImplementedError:
                if event != "on_chat_model_start":
                    raise
                name, fargs = _fallback_args(event, args)
                result = getattr(handler, name)(*fargs, **kwargs)
                if result is not None and asyncio.iscoroutine(result):
                    await result
        except Exception as exc:
            _report(handler, event, exc)
