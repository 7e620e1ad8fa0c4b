"""A client-side read timeout mid-stream is the outcome ``timeout`` for every subject, not ``error``.

``openai.APITimeoutError`` (raised by the raw client and by both ChatOpenAI classes' underlying client) is not a
``TimeoutError`` subclass; the SDK still has to tell "waited too long" from "the provider failed".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from streamscope.testing import capture_spans
from streamscope.testing.fake_llm import FakeLLMServer

# The provider goes quiet for 3 s after two chunks; clients give up after 0.4 s without a byte.
STALL = {"words": ["One", " two", " three", " four"], "gap": 0.01, "stall_at": 2, "stall": 3.0}
READ_TIMEOUT = 0.4


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer({"stalls": STALL}, include_defaults=False) as srv:
        yield srv


def _openai(base_url: str) -> Iterator[Any]:
    import openai

    from streamscope.instrumentation import instrument_openai

    client = openai.OpenAI(base_url=base_url, api_key="t", max_retries=0, timeout=READ_TIMEOUT)
    instrument_openai(client)
    try:
        yield from client.chat.completions.create(
            model="stalls", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    finally:
        client.close()


def _engine(base_url: str) -> Iterator[Any]:
    import streamscope
    from streamscope.engine import ChatOpenAI

    model = ChatOpenAI(model="stalls", base_url=base_url, api_key="t", max_retries=0, timeout=READ_TIMEOUT)
    yield from model.stream("hi", config={"callbacks": [streamscope.TracingCallbackHandler()]})


def _langchain(base_url: str) -> Iterator[Any]:
    from langchain_openai import ChatOpenAI

    from streamscope.integrations.langchain import StreamscopeCallbackHandler

    model = ChatOpenAI(model="stalls", base_url=base_url, api_key="t", max_retries=0, timeout=READ_TIMEOUT)
    yield from model.stream("hi", config={"callbacks": [StreamscopeCallbackHandler()]})


@pytest.mark.parametrize("subject", [_openai, _engine, _langchain], ids=["openai", "engine", "langchain"])
def test_a_read_timeout_mid_stream_is_a_timeout(server: FakeLLMServer, subject: Any) -> None:
    got: list[Any] = []
    with capture_spans() as spans, pytest.raises(Exception) as info:
        for chunk in subject(server.base_url):
            got.append(chunk)
    assert "Timeout" in type(info.value).__name__ or "timed out" in str(info.value).lower(), repr(info.value)
    assert got  # the chunks before the stall reached the consumer
    (llm,) = [s for s in spans if s.name == "chat stalls"]
    attrs = dict(llm.attributes or {})
    assert attrs["streamscope.stream.outcome"] == "timeout"
    assert llm.status.status_code == StatusCode.ERROR
    assert attrs["error.type"]
    assert attrs["streamscope.stream.partial_output"].startswith("One two")
