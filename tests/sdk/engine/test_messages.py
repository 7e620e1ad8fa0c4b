"""Messages: how chunks combine, and what counts as a model input."""

from __future__ import annotations

import pytest

from streamscope.engine import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    get_buffer_string,
)
from streamscope.engine.messages import merge_ai_chunks


def test_content_concatenates_and_usage_sums() -> None:
    a = AIMessageChunk("Hel", usage_metadata={"input_tokens": 5, "output_tokens": 1, "total_tokens": 6})
    b = AIMessageChunk("lo", usage_metadata={"input_tokens": 0, "output_tokens": 2, "total_tokens": 2})
    merged = a + b
    assert merged.content == "Hello"
    assert merged.usage_metadata == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    assert a.content == "Hel"  # operands are not mutated


def test_tool_call_chunks_merge_by_index() -> None:
    chunks = [
        AIMessageChunk("", tool_call_chunks=[{"name": "add", "args": "", "id": "c1", "index": 0}]),
        AIMessageChunk("", tool_call_chunks=[{"name": "mul", "args": '{"x"', "id": "c2", "index": 1}]),
        AIMessageChunk("", tool_call_chunks=[{"name": None, "args": '{"a": 1,', "id": None, "index": 0}]),
        AIMessageChunk("", tool_call_chunks=[{"name": None, "args": ' "b": 2}', "id": None, "index": 0}]),
        AIMessageChunk("", tool_call_chunks=[{"name": None, "args": ": 3}", "id": None, "index": 1}]),
    ]
    merged = merge_ai_chunks(chunks)
    assert merged.tool_call_chunks == [
        {"name": "add", "args": '{"a": 1, "b": 2}', "id": "c1", "index": 0},
        {"name": "mul", "args": '{"x": 3}', "id": "c2", "index": 1},
    ]
    assert merged.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "c1", "type": "tool_call"},
        {"name": "mul", "args": {"x": 3}, "id": "c2", "type": "tool_call"},
    ]
    # pairwise + gives the same result as the one-pass merge
    pairwise = chunks[0]
    for c in chunks[1:]:
        pairwise = pairwise + c
    assert pairwise == merged


def test_partial_tool_arguments_parse_leniently() -> None:
    chunk = AIMessageChunk("", tool_call_chunks=[{"name": "f", "args": '{"q": "wea', "id": "1", "index": 0}])
    assert chunk.tool_calls[0]["args"] == {"q": "wea"}


def test_provider_id_preferred_over_run_id() -> None:
    merged = AIMessageChunk("a", id="lc_run--x") + AIMessageChunk("b", id="chatcmpl-1")
    assert merged.id == "chatcmpl-1"


def test_metadata_merges_and_strings_concatenate() -> None:
    merged = AIMessageChunk("", response_metadata={"finish_reason": None}) + AIMessageChunk(
        "", response_metadata={"finish_reason": "stop", "model_name": "m"}
    )
    assert merged.response_metadata == {"finish_reason": "stop", "model_name": "m"}


def test_chunk_plus_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = AIMessageChunk("a") + "b"


def test_list_content_merges_blocks_by_index() -> None:
    a = AIMessageChunk([{"type": "text", "text": "he", "index": 0}])
    b = AIMessageChunk([{"type": "text", "text": "y", "index": 0}])
    assert (a + b).content == [{"type": "text", "text": "hey", "index": 0}]
    assert (a + b).text == "hey"


def test_to_message_keeps_tool_calls_and_usage() -> None:
    chunk = AIMessageChunk(
        "x",
        tool_call_chunks=[{"name": "f", "args": "{}", "id": "1", "index": 0}],
        usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    )
    message = chunk.to_message()
    assert isinstance(message, AIMessage)
    assert message.tool_calls == [{"name": "f", "args": {}, "id": "1", "type": "tool_call"}]
    assert message.usage_metadata == {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}


def test_a_string_is_one_human_message() -> None:
    assert convert_to_messages("hi") == [HumanMessage("hi")]
    assert convert_to_messages([("system", "s"), ("user", "u"), {"role": "assistant", "content": "a"}]) == [
        SystemMessage("s"),
        HumanMessage("u"),
        AIMessage("a"),
    ]
    with pytest.raises(ValueError, match="Unknown message role"):
        convert_to_messages([("wizard", "x")])
    with pytest.raises(TypeError):
        convert_to_messages(42)


def test_buffer_string_and_tool_message() -> None:
    assert get_buffer_string([HumanMessage("hello"), AIMessage("hi")]) == "Human: hello\nAI: hi"
    tool = ToolMessage("3", tool_call_id="c1")
    assert tool.tool_call_id == "c1" and tool.type == "tool"
