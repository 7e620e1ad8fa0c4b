"""The tolerant partial-JSON parser behind JsonOutputParser's streaming (langchain-core 1.8.3's results)."""

from __future__ import annotations

import json

import pytest

from streamscope.engine import parse_partial_json
from streamscope.engine.partial_json import parse_json_markdown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('{"a": [1, 2, {"b": "hel', {"a": [1, 2, {"b": "hel"}]}),
        ('{"a": tr', {}),
        ('{"a": true, "b": nu', {"a": True}),
        ('{"a": -', {}),
        ('{"a": 1.', {"a": 1}),  # the dangling "." is cut, not the whole number
        ('{"a": 1} and some prose', {"a": 1}),
        ('{"a": 1} x', {"a": 1}),
        ('{"a": "line\nbreak', {"a": "line\nbreak"}),
        ('{"a": 12', {"a": 12}),
        ('{"key', {}),
        ('{"key": ', {}),
        ('{"k": "a\\', {"k": "a"}),
        ('{"k": "\\u00e', {}),
        ('{"k": "\\u00e9"}', {"k": "é"}),
        ("[1, 2,", [1, 2]),
        ('"abc', "abc"),
        ('{"a": {"b": [', {"a": {"b": []}}),
    ],
)
def test_prefixes_parse(text: str, expected: object) -> None:
    assert parse_partial_json(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "tr"])
def test_nothing_yet_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_partial_json(text)


@pytest.mark.parametrize("text", ['{"a" 1}', "{1: 2}", "[1 2]", "@", '{"a": "\\q"}'])
def test_invalid_json_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_partial_json(text)


def test_every_prefix_of_a_document_parses_to_a_growing_object() -> None:
    doc = {"name": "streamscope", "tags": ["a", "b"], "nested": {"x": 1.5, "ok": False, "none": None}}
    text = json.dumps(doc)
    seen = []
    for end in range(1, len(text) + 1):
        try:
            seen.append(parse_partial_json(text[:end]))
        except ValueError:
            continue
    assert seen[-1] == doc


def test_a_closer_that_closes_nothing_gives_none() -> None:
    assert parse_partial_json('{"a": 1}}}') is None
    assert parse_partial_json('{"a": 1]') is None


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"a": 1}\n```',
        'Here it is:\n```json\n{"a": 1}\n```\nDone.',
        '```\n{"a": 1}\n```',
        '  {"a": 1}  ',
    ],
)
def test_markdown_json_is_found_after_prose(text: str) -> None:
    assert parse_json_markdown(text) == {"a": 1}
