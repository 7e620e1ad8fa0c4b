"""Chat-model and chunk-fold behaviour pinned to langchain-core 1.8.3 (issue 20, items 1, 2, 4 and 7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tests.sdk.engine.conftest import Recorder

from streamscope.engine import (
    AIMessage,
    AIMessageChunk,
    BaseChatModel,
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    FakeListChatModel,
    RunnableLambda,
)


class AsyncOnly(BaseChatModel):
    """Implements only ``_astream`` (and a ``_generate`` that must not be reached when streaming)."""

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        raise NotImplementedError("no _generate")

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for text in ("a", "b"):
            yield ChatGenerationChunk(AIMessageChunk(text))


class MyChat(BaseChatModel):
    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult([ChatGeneration(AIMessage("hey"))])

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for text in ("a", "b"):
            yield ChatGenerationChunk(AIMessageChunk(text))


# -- item 1: a model with only _astream streams -------------------------------------------------------------
def test_a_model_with_only_astream_streams_asynchronously() -> None:
    async def run() -> list[AIMessageChunk]:
        return [c async for c in AsyncOnly().astream("hi")]

    chunks = asyncio.run(run())
    assert [(c.content, c.chunk_position) for c in chunks] == [("a", None), ("b", None), ("", "last")]
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("lc_run--")


def test_a_model_with_only_astream_falls_back_to_generate_on_the_sync_path() -> None:
    with pytest.raises(NotImplementedError, match="no _generate"):
        list(AsyncOnly().stream("hi"))


# -- item 2: usage details are summed; malformed usage raises -----------------------------------------------
def test_usage_details_are_summed_when_chunks_fold() -> None:
    left = AIMessageChunk(
        "",
        usage_metadata={
            "input_tokens": 5,
            "output_tokens": 0,
            "total_tokens": 5,
            "input_token_details": {"cache_read": 3},
        },
    )
    right = AIMessageChunk(
        "",
        usage_metadata={
            "input_tokens": 0,
            "output_tokens": 10,
            "total_tokens": 10,
            "input_token_details": {"cache_read": 1},
            "output_token_details": {"reasoning": 4},
        },
    )
    assert (left + right).usage_metadata == {
        "input_tokens": 5,
        "output_tokens": 10,
        "total_tokens": 15,
        "input_token_details": {"cache_read": 4},
        "output_token_details": {"reasoning": 4},
    }


def test_usage_with_an_unknown_value_type_raises() -> None:
    left = AIMessageChunk("", usage_metadata={"input_tokens": 1, "output_tokens": 0, "total_tokens": 1})
    bad = AIMessageChunk(
        "", usage_metadata={"input_tokens": 1, "output_tokens": 0, "total_tokens": 1, "x": 1.5}
    )
    with pytest.raises(ValueError, match="Unknown value types"):
        _ = left + bad


# -- item 4: list content joins text after a block ----------------------------------------------------------
def test_text_after_a_thinking_block_joins_into_one_string() -> None:
    parts = [
        AIMessageChunk([{"type": "thinking", "thinking": "hm", "index": 0}]),
        AIMessageChunk([{"type": "thinking", "thinking": "m", "index": 0}]),
        AIMessageChunk("Hel"),
        AIMessageChunk("lo"),
        AIMessageChunk("!"),
    ]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    assert merged.content == [{"type": "thinking", "thinking": "hmm", "index": 0}, "Hello!"]


@pytest.mark.parametrize(
    ("contents", "expected"),
    [
        ([[{"type": "text", "text": "x"}], "a", "b"], [{"type": "text", "text": "x"}, "ab"]),
        ([["q"], "a", "b"], ["qab"]),
        ([[], "a"], []),  # LangChain drops text that follows an empty list
        (
            ["Hel", [{"type": "text", "text": "x", "index": 1}], [{"type": "text", "text": "y", "index": 1}]],
            ["Hel", {"type": "text", "text": "xy", "index": 1}],
        ),
    ],
)
def test_mixed_content_folds_as_langchain_merge_content(contents: list[Any], expected: Any) -> None:
    merged = AIMessageChunk(contents[0])
    for content in contents[1:]:
        merged = merged + AIMessageChunk(content)
    assert merged.content == expected


# -- item 7: ids, provider, end payload, last chunk ---------------------------------------------------------
def test_invoke_without_streaming_stamps_the_run_id_on_the_message(rec: Recorder) -> None:
    message = MyChat().invoke("hi", {"callbacks": [rec]})
    ((_, start),) = rec.of("chat_model_start")
    assert message.id == f"lc_run--{start['run_id']}-0"


def test_a_custom_model_reports_a_provider_derived_from_its_class_name(rec: Recorder) -> None:
    class ChatAcme(MyChat):
        pass

    class BedrockChat(MyChat):
        pass

    for model, provider in ((MyChat(), "my"), (ChatAcme(), "acme"), (BedrockChat(), "bedrock")):
        model.invoke("hi", {"callbacks": [rec]})
        assert rec.of("chat_model_start")[-1][1]["metadata"]["ls_provider"] == provider


def test_stream_ends_with_an_empty_last_chunk_reported_as_a_token(rec: Recorder) -> None:
    chunks = list(MyChat().stream("hi", {"callbacks": [rec]}))
    assert [(c.content, c.chunk_position) for c in chunks] == [("a", None), ("b", None), ("", "last")]
    assert [t for t, _ in rec.of("new_token")] == ["a", "b", ""]
    assert rec.of("new_token")[-1][1]["chunk"].message.chunk_position == "last"


def test_fake_list_model_marks_its_own_last_chunk() -> None:
    chunks = list(FakeListChatModel(responses=["ab"]).stream("hi"))
    assert [(c.content, c.chunk_position) for c in chunks] == [("a", None), ("b", "last")]


def test_chat_model_end_event_of_an_invoked_model_carries_a_message() -> None:
    model = MyChat()
    chain = RunnableLambda(lambda x: model.invoke(x))

    async def run() -> list[dict[str, Any]]:
        return [e async for e in chain.astream_events("hi", version="v2")]

    events = [e for e in asyncio.run(run()) if e["event"].startswith("on_chat_model")]
    assert [e["event"] for e in events] == [
        "on_chat_model_start",
        *["on_chat_model_stream"] * 3,
        "on_chat_model_end",
    ]
    output = events[-1]["data"]["output"]
    assert type(output) is AIMessage and output.content == "ab"


def test_openai_usage_keeps_cache_read_and_reasoning_details() -> None:
    from openai.types import CompletionUsage

    from streamscope.engine.openai.convert import usage_metadata

    usage = CompletionUsage.model_validate(
        {
            "prompt_tokens": 10,
            "completion_tokens": 7,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": 4},
        }
    )
    assert usage_metadata(usage) == {
        "input_tokens": 10,
        "output_tokens": 7,
        "total_tokens": 17,
        "input_token_details": {"cache_read": 3},
        "output_token_details": {"reasoning": 4},
    }
    plain = CompletionUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
    assert usage_metadata(plain) == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
