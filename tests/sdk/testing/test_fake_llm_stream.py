"""The fake LLM server seen through the real ``openai`` client over loopback: chunks exactly as OpenAI sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import openai
import pytest

from streamscope.testing.fake_llm import FakeLLMServer

MSG = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(
        {
            "text-model": {
                "text": "Hello brave new world",
                "usage": {"prompt_tokens": 7, "completion_tokens": 4},
            },
            "tool-model": {
                "tool_calls": [
                    {"name": "add", "arguments": {"a": 1, "b": 22}, "id": "call_add"},
                    {"name": "lookup", "arguments": {"query": "streamscope internals"}},
                ],
                "seed": 3,
            },
        }
    ) as srv:
        yield srv


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as c:
        yield c


def test_text_stream_has_role_delta_content_deltas_finish_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="text-model", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    first = chunks[0].choices[0]
    assert first.delta.role == "assistant" and first.delta.content == "" and first.finish_reason is None
    contents = [c.choices[0].delta.content for c in chunks[1:5]]
    assert contents == ["Hello", " brave", " new", " world"]
    assert all(c.choices[0].delta.role is None for c in chunks[1:5])
    assert chunks[5].choices[0].finish_reason == "stop" and chunks[5].choices[0].delta.content is None
    assert chunks[6].choices == []
    assert chunks[6].usage is not None
    assert (
        chunks[6].usage.prompt_tokens,
        chunks[6].usage.completion_tokens,
        chunks[6].usage.total_tokens,
    ) == (7, 4, 11)
    assert all(c.usage is None for c in chunks[:6])
    assert len(chunks) == 7
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == "text-model" for c in chunks)


def test_no_usage_chunk_without_include_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="text-model", messages=MSG, stream=True))
    assert [c.choices[0].finish_reason for c in chunks] == [None] * 5 + ["stop"]
    assert all(c.usage is None for c in chunks)


def test_async_text_stream(server: FakeLLMServer) -> None:
    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0) as c:
            stream = await c.chat.completions.create(model="text-model", messages=MSG, stream=True)
            return [chunk.choices[0].delta.content or "" async for chunk in stream]

    assert asyncio.run(run()) == ["", "Hello", " brave", " new", " world", ""]


def test_tool_call_stream_fragments_by_index(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="tool-model", messages=MSG, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    heads = [d for d in deltas if d.id is not None]
    assert (heads[0].index, heads[0].id, heads[0].type, heads[0].function and heads[0].function.name) == (
        0,
        "call_add",
        "function",
        "add",
    )
    assert heads[1].index == 1 and heads[1].id is not None and heads[1].id.startswith("call_")
    assert heads[1].function is not None and heads[1].function.name == "lookup"
    fragments = [d for d in deltas if d.id is None]
    assert all(d.function is not None and d.function.name is None for d in fragments)
    assert len([d for d in fragments if d.index == 1]) > 1  # arguments really arrive in pieces
    args: dict[int, str] = {}
    for d in deltas:
        assert d.function is not None
        args[d.index] = args.get(d.index, "") + (d.function.arguments or "")
    assert json.loads(args[0]) == {"a": 1, "b": 22}
    assert json.loads(args[1]) == {"query": "streamscope internals"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert all(c.choices[0].delta.content in (None, "") for c in chunks)


def test_non_streaming_text_and_tool_calls(client: openai.OpenAI) -> None:
    text = client.chat.completions.create(model="text-model", messages=MSG)
    assert text.object == "chat.completion"
    assert text.choices[0].message.content == "Hello brave new world"
    assert text.choices[0].finish_reason == "stop"
    assert text.usage is not None and text.usage.total_tokens == 11
    tools = client.chat.completions.create(model="tool-model", messages=MSG)
    message = tools.choices[0].message
    assert message.content is None and tools.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]  # type: ignore[union-attr]
    assert calls[0] == ("call_add", "add", {"a": 1, "b": 22})
    assert calls[1][1:] == ("lookup", {"query": "streamscope internals"})


def test_per_request_scenario_via_extra_body(client: openai.OpenAI, server: FakeLLMServer) -> None:
    stream = client.chat.completions.create(
        model="anything-goes", messages=MSG, stream=True, extra_body={"scenario": {"words": ["a", "bc", "d"]}}
    )
    assert [c.choices[0].delta.content for c in stream] == ["", "a", "bc", "d", None]
    assert server.received[-1]["scenario"] == {"words": ["a", "bc", "d"]}


def test_models_list_includes_scenarios_and_defaults(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"text-model", "tool-model", "gpt-4o-mini"} <= ids
    assert client.models.retrieve("text-model").id == "text-model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_seed_reproduces_text_ids_and_timing(client: openai.OpenAI) -> None:
    scenario = {"seed": 42, "length": 8, "jitter": 0.002, "gap": 0.002}

    def run() -> list[tuple[str, str | None]]:
        stream = client.chat.completions.create(
            model="m", messages=MSG, stream=True, extra_body={"scenario": scenario}
        )
        return [(c.id, c.choices[0].delta.content) for c in stream]

    first, second = run(), run()
    assert first == second
    assert len([c for _, c in first if c]) == 8
    other = client.chat.completions.create(
        model="m", messages=MSG, stream=True, extra_body={"scenario": dict(scenario, seed=43)}
    )
    assert [(c.id, c.choices[0].delta.content) for c in other] != first


def test_a_list_of_scenarios_answers_in_turn(client: openai.OpenAI) -> None:
    script = [{"tool_calls": [{"name": "add", "arguments": {"a": 1}}]}, {"text": "done"}]

    def finish() -> str | None:
        response = client.chat.completions.create(model="m", messages=MSG, extra_body={"scenario": script})
        return response.choices[0].finish_reason

    assert [finish(), finish(), finish()] == ["tool_calls", "stop", "tool_calls"]


def test_bad_script_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        FakeLLMServer({"m": []})
