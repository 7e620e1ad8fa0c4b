"""Instrumentation for third-party clients: raw ``openai`` streams (:func:`instrument_openai`)."""

from __future__ import annotations

from streamscope.instrumentation.openai import instrument_openai, is_instrumented, uninstrument_openai

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai"]
