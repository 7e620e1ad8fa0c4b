"""One loop, two colours: the raw openai wrappers give the same spans whether the app streams synchronously or
asynchronously, iterating (``for`` / ``async for``) or pulling (``next`` / ``anext``), for a completed, an
abandoned and a failed stream. The real ``openai`` client, sync and async, streams from the fake server over
loopback; spans are compared by name, attributes, events and status (times, ids and stack traces aside)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

import streamscope
from streamscope.testing import capture_spans
from streamscope.testing.fake_llm import FakeLLMServer

WORDS = ["One", " two", " three", " four", " five"]
SCENARIOS = {
    "colours": {"words": WORDS, "usage": {"prompt_tokens": 4, "completion_tokens": 5}},
    "colours-drop": {"words": WORDS, "drop_at": 2},
}
TIMING = ("time_to_", "gap", "offset", "tokens_per_second")
PER_CALL = ("streamscope.run.id", "gen_ai.response.id")  # the fake server makes a new response id per call


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(SCENARIOS, include_defaults=False) as srv:
        yield srv


def comparable(spans: Any) -> list[tuple[Any, ...]]:
    out = []
    for s in spans:
        attrs = {
            k: v
            for k, v in (s.attributes or {}).items()
            if not any(t in k for t in TIMING) and k not in PER_CALL
        }
        events = [
            (e.name, {k: v for k, v in (e.attributes or {}).items() if k != "exception.stacktrace"})
            for e in s.events
        ]
        out.append((s.name, attrs, events, s.status.status_code, s.status.description))
    return sorted(out, key=repr)


def stream_sync(base_url: str, model: str, style: str, stop_after: int | None) -> list[str]:
    client = OpenAI(base_url=base_url, api_key="x", max_retries=0)
    streamscope.instrument_openai(client)
    seen: list[str] = []
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    try:
        with stream:
            if style == "iterate":
                for chunk in stream:
                    seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
                    if stop_after is not None and len(seen) >= stop_after:
                        break
            else:
                while stop_after is None or len(seen) < stop_after:
                    try:
                        chunk = next(stream)
                    except StopIteration:
                        break
                    seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    except Exception as exc:
        seen.append(type(exc).__name__)
    finally:
        client.close()
    return seen


async def stream_async(base_url: str, model: str, style: str, stop_after: int | None) -> list[str]:
    client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    streamscope.instrument_openai(client)
    seen: list[str] = []
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    try:
        async with stream:
            if style == "iterate":
                async for chunk in stream:
                    seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
                    if stop_after is not None and len(seen) >= stop_after:
                        break
            else:
                while stop_after is None or len(seen) < stop_after:
                    try:
                        chunk = await stream.__anext__()
                    except StopAsyncIteration:
                        break
                    seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    except Exception as exc:
        seen.append(type(exc).__name__)
    finally:
        await client.close()
    return seen


@pytest.mark.parametrize("style", ["iterate", "pull"])
@pytest.mark.parametrize(("model", "stop_after", "outcome"), [
    ("colours", None, "completed"),
    ("colours", 2, "abandoned"),
    ("colours-drop", None, "error"),
])  # fmt: skip
def test_sync_and_async_streams_give_the_same_spans(
    server: FakeLLMServer, style: str, model: str, stop_after: int | None, outcome: str
) -> None:
    with capture_spans() as sync_spans:
        sync_seen = stream_sync(server.base_url, model, style, stop_after)
    with capture_spans() as async_spans:
        async_seen = asyncio.run(stream_async(server.base_url, model, style, stop_after))
    assert sync_seen == async_seen
    llm = [s for s in sync_spans if s.name.startswith("chat")]
    assert len(llm) == 1 and (llm[0].attributes or {})["streamscope.stream.outcome"] == outcome
    assert comparable(sync_spans) == comparable(async_spans)


def _broken_hide(item: Any) -> bool:
    raise RuntimeError("hide broke")


@pytest.mark.parametrize("style", ["iterate", "pull"])
@pytest.mark.parametrize("python_loop", [False, True])
def test_a_failing_hide_never_reaches_the_app_sync(
    server: FakeLLMServer, style: str, python_loop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamscope.instrumentation._openai_recording import start_recording
    from streamscope.instrumentation._openai_streams import TracedStream

    if python_loop:
        monkeypatch.setattr("streamscope.instrumentation._openai_streams._Recorder", None)
    client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    kwargs: dict[str, Any] = {
        "model": "colours",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    with capture_spans() as spans:
        stream = TracedStream(
            client.chat.completions.create(**kwargs),
            start_recording(client.chat.completions, kwargs),
            hide=_broken_hide,
        )
        got = list(stream) if style == "iterate" else list(iter(lambda: next(stream, None), None))
        client.close()
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "".join(WORDS)
    assert spans.llm_spans()[0].attributes["streamscope.stream.chunk_count"] == len(WORDS) + 2  # type: ignore[index]


@pytest.mark.parametrize("style", ["iterate", "pull"])
def test_a_failing_hide_never_reaches_the_app_async(server: FakeLLMServer, style: str) -> None:
    from streamscope.instrumentation._openai_recording import start_recording
    from streamscope.instrumentation._openai_streams import TracedAsyncStream

    async def main() -> list[Any]:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        kwargs: dict[str, Any] = {
            "model": "colours",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        }
        stream = TracedAsyncStream(
            await client.chat.completions.create(**kwargs),
            start_recording(client.chat.completions, kwargs),
            hide=_broken_hide,
        )
        got = []
        if style == "iterate":
            got = [c async for c in stream]
        else:
            with contextlib.suppress(StopAsyncIteration):
                while True:
                    got.append(await stream.__anext__())
        await client.close()
        return got

    with capture_spans() as spans:
        got = asyncio.run(main())
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "".join(WORDS)
    assert spans.llm_spans()[0].attributes["streamscope.stream.chunk_count"] == len(WORDS) + 2  # type: ignore[index]
