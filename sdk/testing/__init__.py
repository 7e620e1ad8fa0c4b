"""Test helpers for code instrumented with streamscope."""
