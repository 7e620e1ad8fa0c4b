"""``instrument_openai(include_usage=...)``: usage is asked for only when the option says so, the usage-only chunk
that the option adds is recorded but never shown to the user, and a caller's own ``stream_options`` win.

Real ``openai`` clients against the fake server; every way of consuming a stream (``for`` with the C loop and
with the Python loop, ``next()``, ``async for``) must show the user exactly what an uninstrumented client shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from streamscope.instrumentation import _openai_streams, instrument_openai
from streamscope.testing import capture_spans
from streamscope.testing.fake_llm import FakeLLMServer

WORDS = ["Usage", " is", " counted", "."]
MESSAGES = [{"role": "user", "content": "q"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer({"usage-model": {"words": WORDS, "gap": 0.001}}, include_defaults=False) as srv:
        yield srv


def _for(stream: Any) -> list[Any]:
    return [chunk for chunk in stream]


def _for_python_loop(stream: Any) -> list[Any]:
    saved, _openai_streams._Recorder = _openai_streams._Recorder, None
    try:
        return [chunk for chunk in stream]
    finally:
        _openai_streams._Recorder = saved


def _next(stream: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(next(stream))
        except StopIteration:
            return out


CONSUMERS: dict[str, Callable[[Any], list[Any]]] = {
    "for": _for,
    "for-python-loop": _for_python_loop,
    "next": _next,
}


def _shape(chunks: list[Any]) -> list[tuple[bool, bool, str | None]]:
    """What the user saw, chunk by chunk: has choices, has usage, content."""
    return [
        (bool(c.choices), c.usage is not None, c.choices[0].delta.content if c.choices else None)
        for c in chunks
    ]


def _sync(
    server: FakeLLMServer,
    consume: Callable[[Any], list[Any]],
    *,
    instrument: dict[str, Any] | None,
    **create: Any,
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    if instrument is not None:
        instrument_openai(client, **instrument)
    try:
        with capture_spans() as spans:
            seen = consume(
                client.chat.completions.create(model="usage-model", messages=MESSAGES, stream=True, **create)
            )
        llm = spans.llm_spans()
        return seen, dict(server.received[-1]), dict(llm[0].attributes or {}) if llm else {}
    finally:
        client.close()


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_include_usage_asks_for_usage_and_hides_the_chunk_it_adds(
    server: FakeLLMServer, consumer: str
) -> None:
    consume = CONSUMERS[consumer]
    plain, plain_request, _ = _sync(server, consume, instrument=None)
    seen, request, attrs = _sync(server, consume, instrument={"include_usage": True})
    assert "stream_options" not in plain_request
    assert request["stream_options"] == {"include_usage": True}
    assert _shape(seen) == _shape(plain)  # the usage-only chunk the option added is not shown
    assert attrs["streamscope.usage.source"] == "provider"
    assert attrs["gen_ai.usage.output_tokens"] == len(WORDS) and attrs["gen_ai.usage.input_tokens"] > 0
    assert attrs["streamscope.stream.chunk_count"] == len(seen) + 1  # ... but it is recorded


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_without_the_option_nothing_is_injected(server: FakeLLMServer, consumer: str) -> None:
    seen, request, attrs = _sync(server, CONSUMERS[consumer], instrument={})
    assert "stream_options" not in request
    assert not any(c.usage is not None for c in seen)
    assert attrs["streamscope.usage.source"] == "estimate"


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_the_callers_own_stream_options_win_and_their_usage_chunk_is_shown(
    server: FakeLLMServer, consumer: str
) -> None:
    own = {"include_usage": True}
    plain, _, _ = _sync(server, CONSUMERS[consumer], instrument=None, stream_options=own)
    seen, request, attrs = _sync(
        server, CONSUMERS[consumer], instrument={"include_usage": True}, stream_options=own
    )
    assert request["stream_options"] == own
    assert _shape(seen) == _shape(plain) and seen[-1].usage is not None  # the caller asked: they see it
    assert attrs["streamscope.usage.source"] == "provider"
    no_usage, request, _ = _sync(
        server,
        CONSUMERS[consumer],
        instrument={"include_usage": True},
        stream_options={"include_usage": False},
    )
    assert request["stream_options"] == {"include_usage": False}
    assert not any(c.usage is not None for c in no_usage)


def test_async_streams_hide_the_added_usage_chunk_too(server: FakeLLMServer) -> None:
    async def run(instrumented: bool, use_for: bool) -> tuple[list[Any], dict[str, Any]]:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        if instrumented:
            instrument_openai(client, include_usage=True)
        try:
            with capture_spans() as spans:
                stream = await client.chat.completions.create(
                    model="usage-model", messages=MESSAGES, stream=True
                )
                seen = []
                if use_for:
                    async for chunk in stream:
                        seen.append(chunk)
                else:
                    while True:
                        try:
                            seen.append(await stream.__anext__())
                        except StopAsyncIteration:
                            break
            llm = spans.llm_spans()
            return seen, dict(llm[0].attributes or {}) if llm else {}
        finally:
            await client.close()

    plain, _ = asyncio.run(run(False, True))
    for use_for in (True, False):
        seen, attrs = asyncio.run(run(True, use_for))
        assert _shape(seen) == _shape(plain)
        assert attrs["streamscope.usage.source"] == "provider"
        assert attrs["gen_ai.usage.output_tokens"] == len(WORDS)
