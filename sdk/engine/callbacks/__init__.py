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
    scoped_handler,
)
from streamscope.engine.callbacks.stdout import StreamingStdOutCallbackHandler
from streamscope.engine.callbacks.tokens import TokenSink, TokenSinkSource, TokenTakers
from streamscope.engine.callbacks.usage import (
    InputTokenDetails,
    OutputTokenDetails,
    UsageMetadata,
    UsageMetadataCallbackHandler,
    get_usage_metadata_callback,
)

__all__ = [
    "AsyncCallbackHandler",
    "AsyncIteratorCallbackHandler",
    "BaseCallbackHandler",
    "CallbackManager",
    "InputTokenDetails",
    "OutputTokenDetails",
    "RunManager",
    "StreamingStdOutCallbackHandler",
    "TokenSink",
    "TokenSinkSource",
    "TokenTakers",
    "UsageMetadata",
    "UsageMetadataCallbackHandler",
    "add_global_handler",
    "adispatch_custom_event",
    "dispatch_custom_event",
    "get_global_handlers",
    "get_usage_metadata_callback",
    "reason_for",
    "remove_global_handler",
    "scoped_handler",
]
