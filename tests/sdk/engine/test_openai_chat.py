"""ChatOpenAI on the real ``openai`` client against the fake server over loopback: chunks, callbacks, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from streamscope.engine import (
    AIMessage,
    AIMessageChunk,
    BaseCallbackHandler,
    ChatPromptTemplate,
    HumanMessage,
    StreamingStdOutCallbackHandler,
    StrOutputParser,
    SystemMessage,
    ToolMessage,
)
from streamscope.engine.openai import (
    FIRST_BYTE_EVENT,
    ChatOpenAI,
    ChatOpenAIConnectionError,
    ChatOpenAIMalformedChunkError,
    ChatOpenAIStatusError,
    ChatOpenAITimeoutError,
)
from streamscope.engine.tools import tool
from streamscope.testing.fake_llm import FakeLLMServer


class Recorder(BaseCallbackHandler):
    """Records the LLM callbacks a tracer would see, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, dict[str, Any]]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.events.append(("start", messages, kw))

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.events.append(("token", token, kw))

    def on_custom_event(self, name: str, data: Any, **kw: Any) -> None:
        self.events.append(("custom", (name, data), kw))

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.events.append(("end", response, kw))

    def on_llm_error(self, error: BaseException, **kw: Any) -> None:
        self.events.append(("error", error, kw))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.events]

    def tokens(self) -> list[str]:
        return [t for k, t, _ in self.events if k == "token"]

    def one(self, kind: str) -> tuple[Any, dict[str, Any]]:
        found = [(p, kw) for k, p, kw in self.events if k == kind]
        assert len(found) == 1, self.kinds()
        return found[0]


SCENARIOS = {
    "text": {"text": "Hello brave world", "usage": {"prompt_tokens": 9, "completion_tokens": 3}},
    "tools": {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 40}, "id": "call_1"}]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(SCENARIOS, include_defaults=False) as srv:
        yield srv


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def make(server: FakeLLMServer, model: str = "text", **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("max_retries", 0)
    return ChatOpenAI(model=model, base_url=server.base_url, api_key="test", **kwargs)


def test_stream_yields_every_chunk_and_reports_each_to_callbacks(
    server: FakeLLMServer, rec: Recorder
) -> None:
    with make(server, callbacks=[rec]) as llm:
        chunks = list(llm.stream("hi"))
    # the provider's last chunk (usage) is marked last: no synthetic empty chunk follows
    assert [c.content for c in chunks] == ["", "Hello", " brave", " world", "", ""]
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata is not None
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert chunks[4].response_metadata["finish_reason"] == "stop"
    assert chunks[5].usage_metadata == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
    assert all(c.usage_metadata is None for c in chunks[:5])
    assert rec.kinds() == ["start", "custom", *["token"] * 6, "end"]
    assert rec.tokens() == ["", "Hello", " brave", " world", "", ""]
    _, start = rec.one("start")
    assert start["metadata"]["ls_provider"] == "openai"
    assert start["metadata"]["ls_model_name"] == "text"
    assert start["metadata"]["ls_model_type"] == "chat"
    assert start["invocation_params"]["model"] == "text" and start["invocation_params"]["stream"] is True
    (name, data), custom = rec.one("custom")
    assert name == FIRST_BYTE_EVENT and isinstance(data["time_ns"], int)
    assert custom["run_id"] == start["run_id"]
    token_chunks = [kw["chunk"] for k, _, kw in rec.events if k == "token"]
    assert token_chunks[-1].message.usage_metadata["output_tokens"] == 3
    response, end = rec.one("end")
    assert end["reason"] == "completed" and end["run_id"] == start["run_id"]
    message = response.generations[0][0].message
    assert message.content == "Hello brave world"
    assert message.usage_metadata == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
    assert message.id.startswith("chatcmpl-")
    assert server.received[-1]["stream_options"] == {"include_usage": True}


def test_astream(server: FakeLLMServer, rec: Recorder) -> None:
    async def run() -> list[str]:
        async with make(server, callbacks=[rec]) as llm:
            return [c.content async for c in llm.astream([HumanMessage("hi")])]

    assert asyncio.run(run()) == ["", "Hello", " brave", " world", "", ""]
    assert rec.kinds() == ["start", "custom", *["token"] * 6, "end"]


def test_stream_usage_off_sends_no_stream_options(server: FakeLLMServer) -> None:
    with make(server, stream_usage=False) as llm:
        chunks = list(llm.stream("hi"))
    assert len(chunks) == 5 and all(c.usage_metadata is None for c in chunks)
    assert "stream_options" not in server.received[-1]


def test_streaming_invoke_prints_tokens_like_the_brief(
    server: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with make(server, streaming=True, callbacks=[StreamingStdOutCallbackHandler()]) as chat:
        answer = chat.invoke("Tell me a story")
    assert capsys.readouterr().out == "Hello brave world"
    assert isinstance(answer, AIMessage) and answer.content == "Hello brave world"
    assert server.received[-1]["stream"] is True


def test_invoke_without_streaming_uses_one_completion(server: FakeLLMServer, rec: Recorder) -> None:
    with make(server, callbacks=[rec], temperature=0.2) as llm:
        answer = llm.invoke("hi")
    assert answer.content == "Hello brave world"
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
    assert "stream" not in server.received[-1] and server.received[-1]["temperature"] == 0.2
    assert rec.kinds() == ["start", "custom", "end"]
    _, start = rec.one("start")
    assert start["invocation_params"]["temperature"] == 0.2 and start["metadata"]["ls_temperature"] == 0.2


def test_ainvoke(server: FakeLLMServer) -> None:
    async def run() -> Any:
        async with make(server) as llm:
            return await llm.ainvoke("hi")

    assert asyncio.run(run()).content == "Hello brave world"


def test_messages_are_sent_in_openai_shape(server: FakeLLMServer) -> None:
    history = [
        SystemMessage("be brief"),
        HumanMessage("add 2 and 40"),
        AIMessage(
            "", tool_calls=[{"name": "add", "args": {"a": 2, "b": 40}, "id": "call_1", "type": "tool_call"}]
        ),
        ToolMessage("42", tool_call_id="call_1"),
    ]
    with make(server) as llm:
        llm.invoke(history)
    assert server.received[-1]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "add 2 and 40"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 40}'},
                }
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
    ]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_call_stream_with_bind_tools(server: FakeLLMServer, rec: Recorder) -> None:
    with make(server, model="tools", callbacks=[rec]) as llm:
        chunks = list(llm.bind_tools([add], tool_choice="add").stream("add 2 and 40"))
    sent = server.received[-1]
    assert sent["tools"] == [add.to_openai_tool()]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    deltas = [c.tool_call_chunks for c in chunks]
    assert deltas[0] == []  # role-only
    assert deltas[1] == [{"name": "add", "args": "", "id": "call_1", "index": 0, "type": "tool_call_chunk"}]
    fragments = [d[0]["args"] for d in deltas[2:] if d]
    assert len(fragments) >= 2 and "".join(fragments) == '{"a": 2, "b": 40}'
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.tool_calls == [
        {"name": "add", "args": {"a": 2, "b": 40}, "id": "call_1", "type": "tool_call"}
    ]
    assert merged.response_metadata["finish_reason"] == "tool_calls"
    assert rec.tokens() == [""] * len(chunks)  # tool-call chunks still reach on_llm_new_token
    token_chunks = [kw["chunk"].message.tool_call_chunks for k, _, kw in rec.events if k == "token"]
    assert token_chunks == deltas


def test_non_streaming_tool_calls(server: FakeLLMServer) -> None:
    with make(server, model="tools") as llm:
        answer = llm.bind_tools([add]).invoke("add")
    assert answer.tool_calls == [
        {"name": "add", "args": {"a": 2, "b": 40}, "id": "call_1", "type": "tool_call"}
    ]


def test_429_then_success_with_client_retry(server: FakeLLMServer, rec: Recorder) -> None:
    scenario = {"text": "ok now", "error_status": 429, "retry_after": 0.01, "error_count": 1}
    before = len(server.received)
    with make(server, max_retries=2, callbacks=[rec]) as llm:
        chunks = list(llm.stream("hi", extra_body={"scenario": scenario}))
    assert "".join(c.content for c in chunks) == "ok now"
    assert len(server.received) - before == 2
    assert rec.kinds()[-1] == "end" and rec.one("end")[1]["reason"] == "completed"


def test_429_without_retries_is_a_status_error(server: FakeLLMServer, rec: Recorder) -> None:
    scenario = {"error_status": 429, "retry_after": 3}
    with make(server, callbacks=[rec]) as llm, pytest.raises(ChatOpenAIStatusError) as info:
        list(llm.stream("hi", extra_body={"scenario": scenario}))
    err = info.value
    assert err.status_code == 429 and err.retry_after == "3" and err.partial is None
    assert str(err) == (
        f"Model 'text' at {server.base_url} answered HTTP 429 (rate_limit_exceeded): "
        "Rate limit reached for requests (scripted by the fake LLM scenario)."
    )
    error, kw = rec.one("error")
    assert error is err and kw["reason"] == "error"
    assert rec.kinds() == ["start", "error"]  # no first byte: the stream never started


def test_500_on_invoke(server: FakeLLMServer) -> None:
    with make(server) as llm, pytest.raises(ChatOpenAIStatusError) as info:
        llm.invoke("hi", extra_body={"scenario": {"error_status": 500}})
    assert info.value.status_code == 500 and info.value.body["type"] == "server_error"


def test_dropped_stream_raises_connection_error_with_partial_output(
    server: FakeLLMServer, rec: Recorder
) -> None:
    seen: list[str] = []
    with make(server, callbacks=[rec]) as llm, pytest.raises(ChatOpenAIConnectionError) as info:
        for chunk in llm.stream("hi", extra_body={"scenario": {"text": "one two three", "drop_at": 1}}):
            seen.append(chunk.content)
    err = info.value
    assert seen == ["", "one", " two"]
    assert isinstance(err, ConnectionError)
    assert err.partial_text == "one two" and err.chunk_count == 3
    assert "was cut off after 3 chunks" in str(err)
    error, kw = rec.one("error")
    assert error is err and kw["reason"] == "error"
    assert kw["response"].generations[0][0].message.content == "one two"


def test_dropped_stream_is_caught_by_the_briefs_connection_handler(server: FakeLLMServer) -> None:
    outcome = []
    with make(server) as chat:
        try:
            for chunk in chat.stream("x", extra_body={"scenario": {"text": "a b", "drop_at": 0}}):
                outcome.append(chunk.content)
        except ConnectionError:
            outcome.append("Stream connection lost")
    assert outcome == ["", "a", "Stream connection lost"]


def test_malformed_chunk(server: FakeLLMServer, rec: Recorder) -> None:
    with make(server, callbacks=[rec]) as llm, pytest.raises(ChatOpenAIMalformedChunkError) as info:
        list(llm.stream("hi", extra_body={"scenario": {"text": "x y z", "malformed_at": 2}}))
    assert info.value.partial_text == "x y"
    assert rec.one("error")[1]["reason"] == "error"


def test_stall_longer_than_timeout_ends_with_timeout_not_a_hang(server: FakeLLMServer, rec: Recorder) -> None:
    scenario = {"text": "slow words here", "stall_at": 1, "stall": 30}
    with make(server, callbacks=[rec], timeout=0.3) as llm, pytest.raises(ChatOpenAITimeoutError) as info:
        list(llm.stream("hi", extra_body={"scenario": scenario}))
    assert isinstance(info.value, TimeoutError) and info.value.partial_text == "slow"
    assert rec.one("error")[1]["reason"] == "timeout"


def test_async_errors_match_sync(server: FakeLLMServer, rec: Recorder) -> None:
    async def run() -> BaseException:
        async with make(server, callbacks=[rec]) as llm:
            try:
                async for _ in llm.astream("hi", extra_body={"scenario": {"text": "p q r", "drop_at": 0}}):
                    pass
            except ChatOpenAIConnectionError as exc:
                return exc
        raise AssertionError("no error")

    err = asyncio.run(run())
    assert isinstance(err, ChatOpenAIConnectionError) and err.partial_text == "p"
    assert rec.one("error")[1]["reason"] == "error"


def test_consumer_breaking_out_ends_the_run_abandoned(server: FakeLLMServer, rec: Recorder) -> None:
    with make(server, callbacks=[rec]) as llm:
        stream = llm.stream("hi", extra_body={"scenario": {"words": ["a", "b", "c", "d"], "gap": 0.01}})
        for chunk in stream:
            if chunk.content == "b":
                break
        stream.close()
    response, kw = rec.one("end")
    assert kw["reason"] == "abandoned"
    assert response.generations[0][0].message.content == "ab"


def test_prompt_model_parser_sequence_streams(server: FakeLLMServer) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You write about {topic}."), ("human", "go")])
    with make(server) as chat:
        chain = prompt | chat | StrOutputParser()
        pieces = list(chain.stream({"topic": "AI"}))
    assert "".join(pieces) == "Hello brave world"
    assert len([p for p in pieces if p]) == 3  # streamed word by word, not in one piece
    assert server.received[-1]["messages"][0] == {"role": "system", "content": "You write about AI."}


def test_repeated_asyncio_run_reuses_nothing_across_loops_and_leaks_no_socket(server: FakeLLMServer) -> None:
    import gc

    llm = make(server)

    async def once() -> str:
        return str((await llm.ainvoke("hi")).content)

    assert [asyncio.run(once()) for _ in range(3)] == ["Hello brave world"] * 3
    gc.collect()  # an unclosed transport would surface here as an unraisable ResourceWarning (an error)
    llm.close()


def test_briefs_buffered_async_iterator_handler_with_agenerate(server: FakeLLMServer) -> None:
    from streamscope.engine import AsyncIteratorCallbackHandler

    async def stream_with_buffering(query: str, buffer_size: int = 2) -> list[str]:
        callback = AsyncIteratorCallbackHandler()
        model = make(server, callbacks=[callback], streaming=True)
        task = asyncio.create_task(model.agenerate([query]))
        out, buffer = [], []
        async for token in callback.aiter():
            buffer.append(token)
            if len(buffer) >= buffer_size:
                out.append("".join(buffer))
                buffer = []
        out.append("".join(buffer))
        result = await task
        assert result.generations[0][0].message.content == "Hello brave world"
        await model.aclose()
        return out

    assert "".join(asyncio.run(stream_with_buffering("q"))) == "Hello brave world"


def test_concurrent_astreams_and_astream_log(server: FakeLLMServer) -> None:
    async def main() -> tuple[list[str], list[Any]]:
        async with make(server) as chat:

            async def process_stream() -> str:
                return "".join([c.content async for c in chat.astream("Generate a response")])

            texts = await asyncio.gather(process_stream(), process_stream())
            patches = [p async for p in chat.astream_log([HumanMessage("Write a story")])]
            return list(texts), patches

    texts, patches = asyncio.run(main())
    assert texts == ["Hello brave world"] * 2
    paths = [op["path"] for patch in patches for op in patch.ops]
    assert "/streamed_output/-" in paths and "/final_output" in paths
