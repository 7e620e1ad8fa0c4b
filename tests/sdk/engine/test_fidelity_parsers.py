"""Output parsers pinned to langchain-core 1.8.3 (issue 20, item 3 and the parser APIs)."""

from __future__ import annotations

import pytest

from streamscope.engine import JsonOutputParser, OutputParserException

ANSWER = 'Here is the answer:\n```json\n{"name": "x", "items": [1, 2]}\n```\nDone.'


def test_streamed_json_after_prose_and_a_fence_emits_the_growing_object() -> None:
    chunks = [ANSWER[i:i + 3] for i in range(0, len(ANSWER), 3)]
    assert list(JsonOutputParser().transform(iter(chunks))) == [
        {}, {"name": "x"}, {"name": "x", "items": [1]}, {"name": "x", "items": [1, 2]},
    ]


def test_json_after_prose_parses_whole() -> None:
    assert JsonOutputParser().invoke(ANSWER) == {"name": "x", "items": [1, 2]}


def test_a_number_cut_at_its_point_streams_its_integer_part() -> None:
    assert list(JsonOutputParser().transform(iter(['{"a": 1.', "5}"]))) == [{"a": 1}, {"a": 1.5}]


def test_garbage_raises_with_langchains_message() -> None:
    with pytest.raises(OutputParserException, match="Invalid json output: nope"):
        JsonOutputParser().invoke("nope")
