"""Instrumentation for third-party clients: raw ``openai`` chat completions (:func:`instrument_openai`).

The functions here import the client library only when called, so ``import streamscope`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai"]


def instrument_openai(client: Any = None, *, include_usage: bool = False) -> None:
    """Trace chat completions of every ``openai`` client, or of ``client`` only.

    See :mod:`streamscope.instrumentation.openai`; ``include_usage`` is off unless you turn it on.
    """
    from streamscope.instrumentation import openai

    openai.instrument_openai(client, include_usage=include_usage)


def uninstrument_openai(client: Any = None) -> None:
    """Undo :func:`instrument_openai` (for every client, or for ``client`` only)."""
    from streamscope.instrumentation import openai

    openai.uninstrument_openai(client)


def is_instrumented(client: Any = None) -> bool:
    """Whether chat completions of ``client`` (or of every client) are traced."""
    from streamscope.instrumentation import openai

    return openai.is_instrumented(client)
