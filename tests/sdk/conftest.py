"""Fixtures shared by the SDK's tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from openai import OpenAI

import streamscope


def _replay(bodies: list[dict[str, Any]]) -> OpenAI:
    events = [b"data: " + json.dumps(b).encode() + b"\n\n" for b in bodies] + [b"data: [DONE]\n\n"]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=iter(events))

    client = OpenAI(base_url="http://test.invalid/v1", api_key="x", max_retries=0,
                    http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))  # fmt: skip
    streamscope.instrument_openai(client)
    return client


@pytest.fixture
def replay_openai() -> Callable[[list[dict[str, Any]]], OpenAI]:
    """Makes instrumented ``OpenAI`` clients whose every request streams the given chunk bodies, one SSE event
    each, through the client's own in-process ``httpx`` transport (no server)."""
    return _replay


def _comparable(spans: Any) -> list[tuple[str, dict[str, Any]]]:
    timing = ("time_to_", "gap", "offset", "tokens_per_second")
    return [
        (
            s.name,
            {
                k: v
                for k, v in s.attributes.items()
                if not any(t in k for t in timing) and k != "streamscope.run.id"
            },
        )
        for s in spans
    ]


@pytest.fixture
def comparable() -> Callable[[Any], list[tuple[str, dict[str, Any]]]]:
    """Span names and attributes, minus what differs between any two runs (ids and times)."""
    return _comparable
