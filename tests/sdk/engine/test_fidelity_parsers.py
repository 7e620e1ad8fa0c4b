"""Output parsers pinned to langchain-core 1.8.3 (issue 20, item 3 and the parser APIs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from streamscope.engine import (
    AIMessage,
    AIMessageChunk,
    CommaSeparatedListOutputParser,
    FakeListChatModel,
    JsonOutputKeyToolsParser,
    JsonOutputParser,
    JsonOutputToolsParser,
    MarkdownListOutputParser,
    NumberedListOutputParser,
    OutputParserException,
    PydanticToolsParser,
    SimpleJsonOutputParser,
    XMLOutputParser,
    parse_tool_call,
    tool_call_chunk,
)

ANSWER = 'Here is the answer:\n```json\n{"name": "x", "items": [1, 2]}\n```\nDone.'


def test_streamed_json_after_prose_and_a_fence_emits_the_growing_object() -> None:
    chunks = [ANSWER[i : i + 3] for i in range(0, len(ANSWER), 3)]
    assert list(JsonOutputParser().transform(iter(chunks))) == [
        {},
        {"name": "x"},
        {"name": "x", "items": [1]},
        {"name": "x", "items": [1, 2]},
    ]


def test_json_after_prose_parses_whole() -> None:
    assert JsonOutputParser().invoke(ANSWER) == {"name": "x", "items": [1, 2]}


def test_a_number_cut_at_its_point_streams_its_integer_part() -> None:
    assert list(JsonOutputParser().transform(iter(['{"a": 1.', "5}"]))) == [{"a": 1}, {"a": 1.5}]


def test_garbage_raises_with_langchains_message() -> None:
    with pytest.raises(OutputParserException, match="Invalid json output: nope"):
        JsonOutputParser().invoke("nope")


@dataclass
class Add:
    a: int
    b: int


def tool_chunks() -> list[AIMessageChunk]:
    args = '{"a": 1, "b": 22}'
    out = [AIMessageChunk("", tool_call_chunks=[tool_call_chunk(name="Add", args="", id="c1", index=0)])]
    out += [
        AIMessageChunk("", tool_call_chunks=[tool_call_chunk(args=args[i : i + 4], index=0)])
        for i in range(0, len(args), 4)
    ]
    out.append(
        AIMessageChunk("", tool_call_chunks=[tool_call_chunk(name="mul", args='{"x": 3}', id="c2", index=1)])
    )
    return out


def test_tools_parser_streams_the_calls_parsed_so_far() -> None:
    assert list(JsonOutputToolsParser().transform(iter(tool_chunks()))) == [
        [{"args": {}, "type": "Add"}],
        [{"args": {"a": 1}, "type": "Add"}],
        [{"args": {"a": 1, "b": 22}, "type": "Add"}],
        [{"args": {"a": 1, "b": 22}, "type": "Add"}, {"args": {"x": 3}, "type": "mul"}],
    ]
    assert list(JsonOutputToolsParser(return_id=True, first_tool_only=True).transform(iter(tool_chunks())))[
        -1
    ] == {"args": {"a": 1, "b": 22}, "id": "c1", "type": "Add"}


def test_key_tools_parser_keeps_one_tools_arguments() -> None:
    assert list(JsonOutputKeyToolsParser(key_name="mul").transform(iter(tool_chunks()))) == [[], [{"x": 3}]]
    assert list(
        JsonOutputKeyToolsParser(key_name="Add", first_tool_only=True).transform(iter(tool_chunks()))
    ) == [{}, {"a": 1}, {"a": 1, "b": 22}]


def test_pydantic_style_tools_parser_skips_calls_that_do_not_validate_yet() -> None:
    assert list(PydanticToolsParser(tools=[Add]).transform(iter(tool_chunks()[:-1]))) == [[], [Add(1, 22)]]
    message = AIMessage(
        "", tool_calls=[{"name": "Add", "args": {"a": 1, "b": 2}, "id": "q", "type": "tool_call"}]
    )
    assert PydanticToolsParser(tools=[Add]).invoke(message) == [Add(1, 2)]
    assert JsonOutputToolsParser().invoke(message) == [{"args": {"a": 1, "b": 2}, "type": "Add"}]


def test_parse_tool_call_of_raw_openai_calls() -> None:
    raw = {"function": {"name": "f", "arguments": '{"a": 1'}, "id": "x"}
    assert parse_tool_call(raw, partial=True) == {
        "name": "f",
        "args": {"a": 1},
        "id": "x",
        "type": "tool_call",
    }
    with pytest.raises(OutputParserException, match="are not valid JSON"):
        parse_tool_call(raw)
    assert parse_tool_call({"function": {"name": "f", "arguments": ""}, "id": "x"})["args"] == {}


def test_simple_json_parser_is_the_json_parser() -> None:
    assert SimpleJsonOutputParser is JsonOutputParser


def pieces(text: str, n: int = 3) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


@pytest.mark.parametrize(
    ("parser", "text", "items"),
    [
        (CommaSeparatedListOutputParser(), 'foo, bar, "baz, qux", end', ["foo", "bar", "baz, qux", "end"]),
        (NumberedListOutputParser(), "1. foo\n2. bar baz\n3. last", ["foo", "bar baz", "last"]),
        (MarkdownListOutputParser(), "- foo\n- bar\n* baz", ["foo", "bar", "baz"]),
    ],
)
def test_list_parsers_stream_each_finished_item(parser: Any, text: str, items: list[str]) -> None:
    assert parser.invoke(text) == items
    assert list(parser.transform(iter(pieces(text)))) == [[item] for item in items]
    assert list((FakeListChatModel(responses=[text]) | parser).stream("x")) == [[item] for item in items]


XML = (
    "Sure:\n```xml\n<movies><movie><title>Alien</title><year>1979</year></movie>"
    "<movie><title>Heat</title></movie></movies>\n```"
)


def test_xml_parser_parses_after_prose_and_a_fence() -> None:
    assert XMLOutputParser(parser="xml").invoke(XML) == {
        "movies": [{"movie": [{"title": "Alien"}, {"year": "1979"}]}, {"movie": [{"title": "Heat"}]}]
    }
    with pytest.raises(OutputParserException, match="Failed to parse XML format"):
        XMLOutputParser(parser="xml").invoke("<a><b></a>")


def test_xml_parser_streams_each_leaf_as_its_path() -> None:
    out = list((FakeListChatModel(responses=[XML]) | XMLOutputParser(parser="xml")).stream("x"))
    assert out == [
        {"movies": [{"movie": [{"title": "Alien"}]}]},
        {"movies": [{"movie": [{"year": "1979"}]}]},
        {"movies": [{"movie": [{"title": "Heat"}]}]},
    ]
    folded = out[0] + out[1] + out[2]
    assert folded == {
        "movies": [
            {"movie": [{"title": "Alien"}]},
            {"movie": [{"year": "1979"}]},
            {"movie": [{"title": "Heat"}]},
        ]
    }


def test_xml_parser_defaults_to_defusedxml_as_langchain() -> None:
    try:
        import defusedxml  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="defusedxml is not installed"):
            XMLOutputParser().invoke("<a>x</a>")
    else:
        assert XMLOutputParser().invoke("<a>x</a>") == {"a": "x"}
