"""streamscope: observability and tracing for LLM streams.

The streaming runnable engine lives in :mod:`streamscope.engine`; tracing is attached to it
through its public callback API.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
