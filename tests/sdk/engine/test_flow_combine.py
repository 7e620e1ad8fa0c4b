"""How flow stages combine chunks: strings, message chunks, any ``+``-addable value."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from streamscope.engine.flow import chunk_size_of, combine_chunks
from streamscope.engine.messages import AIMessageChunk


def test_strings_join_and_empty_is_none() -> None:
    assert combine_chunks(["a", "b", "c"]) == "abc"
    assert combine_chunks([b"a", b"b"]) == b"ab"
    assert combine_chunks(["only"]) == "only"
    assert combine_chunks([]) is None


def test_message_chunks_merge_content_tool_calls_and_usage() -> None:
    parts = [
        AIMessageChunk("Hel", id="run-1"),
        AIMessageChunk("lo", tool_call_chunks=[{"name": "f", "args": '{"a"', "id": "c1", "index": 0}]),
        AIMessageChunk(
            "",
            tool_call_chunks=[{"name": None, "args": ": 1}", "id": None, "index": 0}],
            usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        ),
    ]
    merged = combine_chunks(parts)
    assert isinstance(merged, AIMessageChunk)
    assert merged.content == "Hello"
    assert merged.tool_calls[0]["args"] == {"a": 1}
    assert merged.usage_metadata["total_tokens"] == 5
    assert merged == parts[0] + parts[1] + parts[2]


@dataclass(frozen=True)
class Counter:
    n: int

    def __add__(self, other: Counter) -> Counter:
        return Counter(self.n + other.n)


def test_any_addable_chunk_folds_with_plus() -> None:
    assert combine_chunks([Counter(1), Counter(2), Counter(4)]) == Counter(7)
    assert combine_chunks([[1], [2, 3]]) == [1, 2, 3]


def test_unaddable_chunks_raise_type_error() -> None:
    with pytest.raises(TypeError):
        combine_chunks([object(), object()])


def test_chunk_size_of() -> None:
    assert chunk_size_of("abcd") == 4
    assert chunk_size_of(AIMessageChunk("abc")) == 3
    assert chunk_size_of(AIMessageChunk([{"type": "text", "text": "ab"}, "c"])) == 3
    assert chunk_size_of(Counter(5)) == 1
