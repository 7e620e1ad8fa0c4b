"""Test helpers for code instrumented with streamscope."""

from __future__ import annotations

from streamscope.testing.capture import SpanList, capture_spans

__all__ = ["SpanList", "capture_spans"]
