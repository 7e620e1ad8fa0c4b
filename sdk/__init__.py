"""streamscope: observability and tracing for LLM streams.

The streaming runnable engine lives in :mod:`streamscope.engine`; tracing is attached to it
through its public callback API.

Public tracing API: :func:`init`, :func:`trace`, :class:`context`, :class:`TracingCallbackHandler`,
:func:`redact_patterns` (a ready-made ``redact=`` for :func:`init`);
test helpers in :mod:`streamscope.testing`; the LangChain adapter in :mod:`streamscope.integrations.langchain`.
"""

from __future__ import annotations

from streamscope.instrumentation import instrument_openai as instrument_openai
from streamscope.tracing.context import context
from streamscope.tracing.decorator import trace
from streamscope.tracing.handler import TracingCallbackHandler
from streamscope.tracing.redaction import redact_patterns
from streamscope.tracing.setup import Tracing, init

__version__ = "0.1.0"

__all__ = [
    "Tracing",
    "TracingCallbackHandler",
    "__version__",
    "context",
    "init",
    "instrument_openai",
    "redact_patterns",
    "trace",
]
