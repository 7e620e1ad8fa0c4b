"""Callbacks: handlers with LangChain's method names, managers with the run tree, a global handler hook."""

from streamscope.engine.callbacks.aiter import AsyncIteratorCallbackHandler
from streamscope.engine.callbacks.base import AsyncCallbackHandler, BaseCallbackHandler
from streamscope.engine.callbacks.custom import adispatch_custom_event, dispatch_custom_event
from streamscope.engine.callbacks.dispatch import reason_for
from streamscope.engine.callbacks.manager import (
    CallbackManager,
    RunManager,
    add_global_handler,
    get_global_handlers,
    remove_global_handler,
)
from streamscope.engine.callbacks.stdout import StreamingStdOutCallbackHandler

__all__ = [
    "AsyncCallbackHandler",
    "AsyncIteratorCallbackHandler",
    "BaseCallbackHandler",
    "CallbackManager",
    "RunManager",
    "StreamingStdOutCallbackHandler",
    "add_global_handler",
    "adispatch_custom_event",
    "dispatch_custom_event",
    "get_global_handlers",
    "reason_for",
    "remove_global_handler",
]
