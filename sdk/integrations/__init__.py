"""Adapters for third-party frameworks (optional extras; nothing here is imported by ``import streamscope``)."""
