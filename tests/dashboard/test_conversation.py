"""Prompts, outputs and tool traffic become chat messages, from every dialect the collector accepts."""

from __future__ import annotations

import json

from streamscope.dashboard.conversation import messages, pretty


def test_genai_messages_with_system_tool_call_and_finish_reason() -> None:
    attrs = {
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be terse."}]),
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "finish_reason": "tool_calls",
                    "parts": [
                        {"type": "reasoning", "content": "think"},
                        {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "x"}},
                    ],
                }
            ]
        ),
    }
    system, user, answer = messages(attrs)
    assert (system.role, system.text) == ("system", "Be terse.")
    assert (user.role, user.direction, user.text) == ("user", "input", "hi")
    assert (
        answer.direction == "output" and answer.finish_reason == "tool_calls" and answer.reasoning == "think"
    )
    (call,) = answer.tool_calls
    assert (call.name, call.call_id, json.loads(call.arguments)) == ("search", "c1", {"q": "x"})
    assert call.arguments == '{\n  "q": "x"\n}'


def test_partial_output_of_a_stream_that_did_not_complete() -> None:
    (msg,) = messages({"streamscope.stream.partial_output": "Hel"})
    assert msg.partial and msg.text == "Hel" and msg.role == "assistant"


def test_tool_span_gives_the_call_and_its_result() -> None:
    call, result = messages(
        {
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "c9",
            "gen_ai.tool.call.arguments": '{"city":"Oslo"}',
            "gen_ai.tool.call.result": "sunny",
        }
    )
    assert call.tool_calls[0].name == "get_weather" and '"city": "Oslo"' in call.tool_calls[0].arguments
    assert result.tool_result == "sunny" and result.call_id == "c9"


def test_openai_style_messages_and_tool_responses() -> None:
    raw = json.dumps(
        [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": '{"x": 1}'}}],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "42"},
        ]
    )
    user, assistant, tool = messages({"gen_ai.input.messages": raw})
    assert user.text == "ab"
    assert assistant.tool_calls[0].name == "f" and '"x": 1' in assistant.tool_calls[0].arguments
    assert tool.tool_result == "42" and tool.call_id == "t1"


def test_flat_openllmetry_and_openinference_attributes() -> None:
    oll = messages(
        {
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "second",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "first",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "done",
            "gen_ai.completion.0.tool_calls.0.name": "f",
            "gen_ai.completion.0.tool_calls.0.arguments": "{}",
        }
    )
    assert [(m.role, m.text) for m in oll] == [("system", "first"), ("user", "second"), ("assistant", "done")]
    assert oll[2].tool_calls[0].name == "f"
    oi = messages(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "q",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "a",
        }
    )
    assert [(m.direction, m.text) for m in oi] == [("input", "q"), ("output", "a")]


def test_nothing_recorded_means_no_messages_and_bad_json_stays_text() -> None:
    assert messages({"gen_ai.request.model": "m"}) == []
    assert messages(None) == []
    (m,) = messages({"gen_ai.input.messages": "not json <b>"})
    assert m.text == "not json <b>"
    assert pretty("[1, 2]") == "[\n  1,\n  2\n]" and pretty("plain") == "plain"
