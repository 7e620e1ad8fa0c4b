"""The per-chunk fast paths record exactly what the general path does.

- Raw ``openai`` streams: iterating a traced stream with ``for`` records plain text chunks as their text (so the
  chunk objects are not kept alive); ``next(stream)`` records every chunk as it came, for ``classify`` to read
  later. Both must give the same spans.
- Engine runs: the tracing handler's token sink records a chunk the engine hands over as its text as that text;
  ``on_llm_new_token`` (what LangChain calls) records every chunk for the classifier. Both must give the same
  spans.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from openai import AsyncOpenAI

import streamscope
from streamscope.engine.callbacks import BaseCallbackHandler, TokenTakers
from streamscope.engine.messages import AIMessageChunk
from streamscope.engine.models import FakeStreamingChatModel
from streamscope.engine.outputs import ChatGenerationChunk
from streamscope.testing import capture_spans
from streamscope.tracing.handler import TracingCallbackHandler
from streamscope.tracing.streams import RAW


def _chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish: str | None = None,
    cid: str = "chatcmpl-1",
    model: str = "m-1",
    choices: int = 1,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [
            {"index": i, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
            for i in range(choices)
        ],
    }
    if usage is not None:
        body["choices"] = []
        body["usage"] = usage
    return body


CHUNKS = [
    _chunk({"role": "assistant", "content": "", "refusal": None}),
    _chunk({"content": "Hello"}),
    _chunk({"content": " world"}),
    _chunk({"content": " again"}, cid="chatcmpl-2"),  # a new id: must reach the response id
    _chunk({"content": "!"}, cid="chatcmpl-2", model="m-2"),  # a new model
    _chunk({"content": "x"}, cid="chatcmpl-2", model="m-2", choices=2),  # two choices
    _chunk({"content": "y"}, cid="chatcmpl-2", model="m-2", finish="length"),  # content and a finish reason
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a"'},
                }
            ]
        },
        cid="chatcmpl-2",
        model="m-2",
    ),
    _chunk({"content": None, "reasoning_content": "thinking"}, cid="chatcmpl-2", model="m-2"),
    _chunk({"content": "z"}, cid="chatcmpl-2", model="m-2"),
    _chunk({}, finish="stop", cid="chatcmpl-2", model="m-2"),
    _chunk(
        usage={"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}, cid="chatcmpl-2", model="m-2"
    ),
]


def _consume_with_for(stream: Any) -> list[Any]:
    return [item for item in stream]


def _consume_with_next(stream: Any) -> list[Any]:
    items = []
    while True:
        try:
            items.append(next(stream))
        except StopIteration:
            return items


@pytest.mark.parametrize("chunk_spans", [True, False])
def test_openai_for_loop_records_what_next_records(
    chunk_spans: bool, replay_openai: Any, comparable: Any
) -> None:
    client = replay_openai(CHUNKS)
    runs = []
    for consume in (_consume_with_for, _consume_with_next):
        with capture_spans(chunk_spans=chunk_spans) as spans:
            items = consume(
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "q"}], stream=True
                )
            )
        runs.append((len(items), comparable(spans)))
    assert runs[0][0] == len(CHUNKS)
    assert runs[0] == runs[1]
    llm = dict(runs[0][1])[next(name for name, _ in runs[0][1] if name.startswith("chat"))]
    assert llm["gen_ai.response.id"] == "chatcmpl-2"
    assert llm["gen_ai.response.model"] == "m-2"
    assert llm["gen_ai.response.finish_reasons"] == ("length", "stop")


def _async_client() -> AsyncOpenAI:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in CHUNKS) + b"data: [DONE]\n\n"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = AsyncOpenAI(
        base_url="http://test.invalid/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    streamscope.instrument_openai(client)
    return client


def test_async_openai_for_loop_records_what_anext_records(comparable: Any) -> None:
    async def consume(use_for: bool) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
        client = _async_client()
        with capture_spans() as spans:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "q"}], stream=True
            )
            items = []
            if use_for:
                async for item in stream:
                    items.append(item)
            else:
                while True:
                    try:
                        items.append(await stream.__anext__())
                    except StopAsyncIteration:
                        break
        return len(items), comparable(spans)

    fast, general = asyncio.run(consume(True)), asyncio.run(consume(False))
    assert fast[0] == len(CHUNKS)
    assert fast == general


def test_the_first_chunk_gives_the_response_id_and_model_even_when_it_is_text(replay_openai: Any) -> None:
    """No role delta, and the consumer breaks before the finish chunk: the id and model still come from the first
    chunk, which is always recorded as it came."""
    client = replay_openai([_chunk({"content": "Hi"}, cid="c-first", model="m-first"),
                         _chunk({"content": " there"}, cid="c-first", model="m-first"),
                         _chunk({"content": "!"}, cid="c-first", model="m-first")])  # fmt: skip
    with capture_spans() as spans:
        for i, _ in enumerate(client.chat.completions.create(model="m", messages=[], stream=True)):
            if i == 1:
                break
    (llm,) = [s for s in spans if s.name.startswith("chat")]
    assert llm.attributes["gen_ai.response.id"] == "c-first"
    assert llm.attributes["gen_ai.response.model"] == "m-first"
    assert llm.attributes["streamscope.stream.outcome"] == "abandoned"
    assert llm.attributes["streamscope.stream.chunk_count"] == 2


class _TokensOnly:
    """Forces the general path: the tracing handler without its token sink, so on_llm_new_token is called."""

    def __init__(self, inner: TracingCallbackHandler) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "token_sink":
            raise AttributeError(name)
        return getattr(self.inner, name)


def _script() -> list[Any]:
    return [
        AIMessageChunk(""),
        "Hello",
        " world",
        AIMessageChunk("", tool_call_chunks=[{"name": "f", "args": "{}", "id": "c1", "index": 0}]),
        AIMessageChunk("mid", response_metadata={"model_name": "fake-2"}),
        AIMessageChunk("", additional_kwargs={"reasoning_content": "hmm"}),
        "tail",
    ]


async def _aconsume(model: Any) -> str:
    return "".join([str(m.content) async for m in model.astream("q")])


@pytest.mark.parametrize("chunk_spans", [True, False])
@pytest.mark.parametrize("use_async", [False, True])
def test_engine_token_sink_records_what_on_llm_new_token_records(
    chunk_spans: bool, use_async: bool, comparable: Any
) -> None:
    """``stream`` and ``astream`` call the tracing handler's token sink directly (``astream`` without an awaited
    dispatch per chunk): the same spans as the general path, and the same messages to the consumer."""
    runs = []
    for general in (False, True):
        handler = TracingCallbackHandler()
        callback: Any = _TokensOnly(handler) if general else handler
        model = FakeStreamingChatModel(
            chunks=_script(), usage={"input_tokens": 2, "output_tokens": 5}, callbacks=[callback]
        )
        with capture_spans(chunk_spans=chunk_spans) as spans:
            text = (
                asyncio.run(_aconsume(model))
                if use_async
                else "".join(str(m.content) for m in model.stream("q"))
            )
        runs.append((text, comparable(spans)))
    assert runs[0] == runs[1]
    assert runs[0][0] == "Hello worldmidtail"


def test_empty_base_token_methods_are_not_called_and_sinks_are_used() -> None:
    class Silent(BaseCallbackHandler):
        pass

    class Loud(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            return None

    tracing = TracingCallbackHandler()
    silent, loud = Silent(), Loud()
    takers = TokenTakers([silent, loud], "r0")  # type: ignore[arg-type]
    assert [h for h, _ in takers.methods] == [loud] and not takers.sinks
    with capture_spans():
        tracing.on_chat_model_start({}, [[]], run_id="r1")  # type: ignore[arg-type]
        takers = TokenTakers([tracing], "r1")  # type: ignore[arg-type]
        assert not takers.methods
        ((_, sink),) = takers.sinks
        first = ChatGenerationChunk(AIMessageChunk("tok"))
        sink.chunk("tok", first)
        sink.text("tok")
        rec = tracing._llms["r1"].rec  # type: ignore[index]
        assert rec.payloads == [(RAW, ("tok", first)), "tok"]  # the chunk as it came, then the text
        assert len(rec.arrived) == 2
        tracing.on_llm_end(None, run_id="r1")  # type: ignore[arg-type]


def test_async_engine_stream_with_a_second_async_handler_still_awaits_it() -> None:
    """Two token takers (ours and an async one): every chunk goes through the awaited dispatch, both see all."""
    from streamscope.engine.callbacks import AsyncCallbackHandler

    seen: list[str] = []

    class Collect(AsyncCallbackHandler):
        async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            await asyncio.sleep(0)
            seen.append(token)

    model = FakeStreamingChatModel(chunks=["a", "b", "c"], callbacks=[TracingCallbackHandler(), Collect()])
    with capture_spans() as spans:
        assert asyncio.run(_aconsume(model)) == "abc"
    assert seen == ["a", "b", "c"]
    (llm,) = spans.llm_spans()
    assert [c.attributes["streamscope.chunk.content"] for c in spans.chunks_of(llm)] == ["a", "b", "c"]
